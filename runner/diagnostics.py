"""What clang and the verifier said, as the learner should read it: one sentence, their file and line, the fix.

libbcc prints compiler diagnostics and the verifier's log on fd 2; captured_stderr() collects them
while a lesson loads, and explain_load_failure() turns BCC's exception plus that text into a
LessonFailed (or a UsageError when a --pid/--probe target is missing).
"""

import contextlib
import os
import re

from . import targets
from .errors import LessonFailed, RunnerError
from .language import _
from .lessons import ROOT


@contextlib.contextmanager
def captured_stderr():
    """Collect what libbcc (clang, the verifier) writes to fd 2; yields a list that gets the text.

    Into a file in memory (memfd): nothing on disk, and no import of tempfile (with shutil, 4 ms of start-up)."""
    saved, memory = os.dup(2), os.memfd_create("libbcc-stderr")
    out = []
    try:
        os.dup2(memory, 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.lseek(memory, 0, os.SEEK_SET)
            chunks = []
            while True:
                chunk = os.read(memory, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
            out.append(b"".join(chunks).decode(errors="replace"))
    finally:
        os.close(memory)


_GENERATED = re.compile(r"^\d+ (warnings?|errors?)( and \d+ errors?)? generated\.$", re.M)
_DIAGNOSTIC = re.compile(r"^\S.*?:\d+:\d+: (error|warning|note): ")
# Headers from another kernel version make clang warn about this attribute; it is harmless
# for BPF (see the README's troubleshooting), so the runner does not repeat it.
# Older BCC (0.18) with 5.10 headers redefines the byte-swap builtins' macros: harmless too.
_HARMLESS = ("'nocf_check' attribute ignored", "'__HAVE_BUILTIN_BSWAP")


def compiler_messages(text, loaded=False):
    """clang's output without include chains and without the known-harmless header warnings.

    loaded: the lesson loaded after all, so its errors were those of a first way it tried and recovered from
    (a TRACEPOINT_PROBE whose format names a type the headers lack): the lesson's fallback sentence says so instead.
    """
    kept, keep = [], False
    for line in text.splitlines():
        match = _DIAGNOSTIC.match(line)
        if line.startswith("In file included from") or _GENERATED.match(line):
            continue
        if match:
            if match.group(1) == "note":
                pass  # a note belongs to the diagnostic before it: keep it only if that one was kept
            else:
                keep = not any(h in line for h in _HARMLESS) and not (loaded and match.group(1) == "error")
        if keep:
            kept.append(line)
    return "\n".join(kept)


def shown_path(path):
    """A lesson's file as the learner names it: relative to the repository, or absolute outside it
    (an exercise checked from a folder of the learner's own)."""
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


_VIRTUAL = "/virtual/main.c"


def refused_line(log, path):
    """The line of `path` the verifier refused, from the last `; source @ main.c:N` line of its log.

    N counts lines of the text BCC compiled, which it rewrote (maps, helpers) and prefixed, so
    the source text itself is looked up in the file: exactly once, or through a line that is.
    """
    try:
        lines = [text.strip() for text in path.read_text().splitlines()]
    except OSError:
        return None
    marks = re.findall(r"^; (.*?) @ main\.c:(\d+)$", log, re.M)
    offsets = {int(n) - (lines.index(t.strip()) + 1) for t, n in marks if t.strip() and lines.count(t.strip()) == 1}
    if not marks:
        return None
    text, number = marks[-1]
    if text.strip() and lines.count(text.strip()) == 1:
        return lines.index(text.strip()) + 1
    return int(number) - offsets.pop() if len(offsets) == 1 else None


_GUTTER = re.compile(r"^(\s*)(\d+)( \| ?)(.*)$")  # newer clang prints the source line as "   78 | text"


def file_lines(messages, path):
    """clang's `/virtual/main.c:N:C:` diagnostics with N as a line of `path`.

    BCC inserts the struct of each TRACEPOINT_PROBE's record before the probe, so after the first one
    N counts lines of the text BCC compiled, not of the file. clang prints the line it means under the
    diagnostic (newer clang with N in a gutter): where that text is in the file exactly once, its line
    there is the one to show.
    """
    try:
        lines = [text.strip() for text in path.read_text().splitlines()]
    except OSError:
        return messages
    out = messages.splitlines()
    for i, text in enumerate(out[:-1]):
        match = re.match(rf"^{re.escape(_VIRTUAL)}:(\d+):", text)
        gutter = _GUTTER.match(out[i + 1])
        source = (gutter.group(4) if gutter else out[i + 1]).strip()
        if match and source and lines.count(source) == 1:
            number = lines.index(source) + 1
            out[i] = f"{_VIRTUAL}:{number}:" + text[match.end():]
            if gutter:
                indent, _, bar, rest = gutter.groups()
                out[i + 1] = f"{indent}{number}{bar}{rest}"
    return "\n".join(out)


def verifier_reason(log):
    """The verifier's own sentence: the last line before `processed N insns` that is not a trace or a state."""
    lines = log.splitlines()
    end = next((i for i, text in enumerate(lines) if text.startswith("processed ")), len(lines))
    for text in reversed(lines[:end]):
        if text.strip() and not re.match(r"^(\d+:|;|cur state:|old state:|from \d+ to \d+:)", text):
            return text.strip()
    return None


def last_compile(output):
    """What clang said on the glue's last compile: a lesson that tries one way first compiles twice."""
    ends = [m.end() for m in _GENERATED.finditer(output)]
    return output[ends[-2]:] if len(ends) > 1 else output


def explain_load_failure(err, output, program_path):
    """Turn BCC's exception and captured output into one sentence and a fix; program_path: the .c file loaded."""
    if isinstance(err, RunnerError):  # already one sentence (lessons.Lesson.import_glue's checks of what load() did)
        return type(err)(str(err), fix=err.fix, details=err.details)
    output = last_compile(output)
    usage = targets.explain(err)  # no such pid, binary or function: the learner's to fix
    if usage is not None:
        return usage
    message = str(err)
    program = shown_path(program_path)
    if "Failed to compile BPF module" in message:
        # BCC hands clang the file as /virtual/main.c, after inserting the structs of its TRACEPOINT_PROBEs
        return LessonFailed(_("The BPF program {program} did not compile.").format(program=program),
                            details=file_lines(compiler_messages(output), program_path).replace(
                                _VIRTUAL, str(program)),
                            fix=_("Fix the error at the file and line shown above in {program}, then run "
                                  "again.").format(program=program))
    if "Failed to load BPF program" in message:
        start = output.find("bpf: Failed to load program")  # the verifier's log, without clang's warnings
        log = "\n".join(output[max(start, 0):].strip().splitlines()[-25:])
        function = re.search(r"program b?'?([\w]+)", message)
        # TRANSLATORS: followed by "()" where the function's name is unknown, like the name it stands for
        name = function.group(1) if function else _("a probe function")
        line = refused_line(log, program_path)
        reason = verifier_reason(log)
        if line and reason:
            # TRANSLATORS: {name}() is a C function of the lesson's BPF program; {reason} is the verifier's own line
            sentence = _("The kernel's verifier rejected {name}() at {program}:{line}: it could not prove the program "
                         "safe (the verifier says: {reason}).")
        elif line:
            sentence = _("The kernel's verifier rejected {name}() at {program}:{line}: it could not prove the program "
                         "safe.")
        elif reason:
            sentence = _("The kernel's verifier rejected {name}() in {program}: it could not prove the program safe "
                         "(the verifier says: {reason}).")
        else:
            sentence = _("The kernel's verifier rejected {name}() in {program}: it could not prove the program safe.")
        return LessonFailed(sentence.format(name=name, program=program, line=line, reason=reason),
                            details=log, fix=_("Read the verifier's last lines above: they name the instruction it "
                                               "refused (typically a map value used without a NULL check, or a loop "
                                               "without a fixed bound)."))
    if "Failed to attach" in message or "could not determine address" in message or "not found" in message:
        return LessonFailed(_("Attaching the probe failed: {message}.").format(message=message),
                            details=compiler_messages(output),
                            fix=_("Check that the kernel function, tracepoint, binary or symbol exists on this machine "
                                  "(python3 -m runner doctor lists what this kernel offers)."))
    return LessonFailed(_("Loading the lesson failed: {message}.").format(message=message),
                        details=compiler_messages(output), fix=_("Run again with --debug to see where."))
