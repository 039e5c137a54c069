"""How does the installed bcc define a macro? BPF_HASH, BPF_PERF_OUTPUT, ... as the learner's own bcc has them.

BCC keeps its helpers.h (src/cc/export/helpers.h: BPF_TABLE, BPF_HASH, BPF_HISTOGRAM, ...) inside libbcc as one
string, which it hands to clang as a virtual header: no file of it is installed. This reads that string from the
bytes of the libbcc that BCC's Python module loaded, so a learner on another bcc version sees that version's
definitions. Nothing is compiled or loaded into the kernel, no root is needed, and no tool (strings, grep) is run.

A macro is shown with its family, the helpers only it uses (BPF_HASH with BPF_HASHX and BPF_HASH1 to BPF_HASH4),
as the lines stand in helpers.h, comments included; then the shared macros the family expands to (BPF_TABLE), one
level down, and the command that shows the next level.
"""

import os
import re

from .errors import EnvironmentNotReady, UsageError
from .fields import Fields
from .language import _, ngettext

MARKER = b"#define BPF_TABLE("  # in helpers.h since bcc's first release, and in no other text libbcc holds
COMMAND = "python3 -m runner macros"
_DEFINE = re.compile(r"\s*#\s*define\s+([A-Za-z_]\w*)(\([^)]*\))?")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_COMMENTS_AND_STRINGS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def helpers_text(data):
    """helpers.h as libbcc's bytes hold it (one NUL-terminated string), or None if they hold no such text."""
    at = data.find(MARKER)
    if at < 0:
        return None
    start, end = data.rfind(b"\0", 0, at) + 1, data.find(b"\0", at)
    return data[start:end if end >= 0 else len(data)].decode("utf-8", errors="replace")


def code_only(text):
    """C text without its comments and string literals (their words are not references)."""
    return _COMMENTS_AND_STRINGS.sub(lambda m: "\n" * m.group().count("\n") if m.group()[0] == "/" else '""', text)


class Definition(Fields):
    name: str
    first: int        # its first and last line in helpers.h, counted from 0
    last: int
    refs: frozenset   # the other macros of helpers.h its body names


class Helpers:
    """The macros of one helpers.h text: where each is defined, which others each names, and which name it."""

    def __init__(self, text, path, version):
        self.path, self.version = path, version
        self.lines = text.splitlines()
        found = []
        i = 0
        while i < len(self.lines):
            match = _DEFINE.match(self.lines[i])
            first = i
            while self.lines[i].rstrip().endswith("\\") and i + 1 < len(self.lines):
                i += 1
            if match:
                body = code_only("\n".join(self.lines[first:i + 1])[match.end():])
                params = set(_IDENTIFIER.findall(match.group(2) or ""))
                found.append((match.group(1), first, i, set(_IDENTIFIER.findall(body)) - params))
            i += 1
        names = {name for name, *_ in found}
        self.defs = {}
        self.referrers = {name: set() for name in names}
        for name, first, last, words in found:
            refs = frozenset(words & names - {name})
            self.defs.setdefault(name, []).append(Definition(name, first, last, refs))
            for ref in refs:
                self.referrers[ref].add(name)

    @property
    def label(self):
        # TRANSLATORS: the bcc installed here, when its version is unknown ("this bcc defines BPF_HASH ...")
        return f"bcc {self.version}" if self.version else _("this bcc")

    def refs(self, names):
        return {ref for name in names for d in self.defs[name] for ref in d.refs}

    def position(self, name):
        return self.defs[name][0].first

    def family(self, name):
        """The macro and the helpers only it uses (whatever names them is in the family)."""
        members, grew = {name}, True
        while grew:
            grew = False
            for ref in sorted(self.refs(members) - members):
                if self.referrers[ref] <= members:
                    members.add(ref)
                    grew = True
        return members

    def block(self, names):
        """helpers.h's lines defining `names`: as one stretch, comments included, when nothing else is between
        them; otherwise each definition on its own. Comment lines right above are kept with what they describe."""
        defs = sorted((d for name in names for d in self.defs[name]), key=lambda d: d.first)
        inside = {line for d in defs for line in range(d.first, d.last + 1)}
        first, last = defs[0].first, defs[-1].last
        if all(i in inside or self._blank_or_comment(i) for i in range(first, last + 1)):
            spans = [(first, last)]
        else:
            spans = [(d.first, d.last) for d in defs]
        out = []
        for first, last in spans:
            while first > 0 and self.lines[first - 1].lstrip().startswith("//"):
                first -= 1
            out += ([""] if out else []) + self.lines[first:last + 1]
        return out

    def _blank_or_comment(self, i):
        line = self.lines[i].strip()
        return not line or line.startswith("//")

    def resolve(self, typed):
        """The macro a learner means by what they typed: BPF_HASH, or hash in any case."""
        for name in (typed, typed.upper(), "BPF_" + typed.upper()):
            if name in self.defs:
                return name
        import difflib
        close = difflib.get_close_matches(typed.upper(), self.top_level(), n=3, cutoff=0.7)
        close = close or difflib.get_close_matches("BPF_" + typed.upper(), self.top_level(), n=3, cutoff=0.7)
        if close:
            fix = _("Did you mean {names}? {command} lists the BPF_* macros it defines.").format(
                names=join(close, "or"), command=COMMAND)
        else:
            fix = _("{command} lists the BPF_* macros it defines.").format(command=COMMAND)
        raise UsageError(_("{bcc}'s helpers.h defines no macro named {name}.").format(bcc=self.label, name=repr(typed)),
                         fix=fix)

    def top_level(self):
        """The BPF_* macros a program writes: those that are no other macro's own helper (as BPF_HASH1 is BPF_HASH's)."""
        helpers = {helper for name in self.defs for helper in self.family(name) - {name}}
        return sorted(name for name in self.defs if name.startswith("BPF_") and name not in helpers)

    def describe(self, names):
        """The lines that show `names`: each one's family, then the shared macros they expand to, one level down."""
        out, shown, expands = [], set(), {}
        for name in names:
            if name in shown:
                continue
            members = self.family(name) - shown
            out += [""] + self.block(members)
            shown |= members
            for base in self.refs(members) - members:
                expands.setdefault(base, []).append(name)
        bases = sorted((b for b in expands if b not in shown), key=self.position)
        if bases:
            users = list(dict.fromkeys(user for base in bases for user in expands[base]))
            out += ["", ngettext("{users} expands to {bases}:", "{users} expand to {bases}:", len(users))
                    .format(users=join(users), bases=join(bases)), ""]
            out += self.block(bases)
            shown |= set(bases)
        further = sorted(self.refs(bases) - shown, key=self.position)
        if further:
            out += ["", _("One level further: {command} {names}").format(command=COMMAND, names=" ".join(further))]
        return out


def join(names, last="and"):
    """A, B and C (or, with last="or": A, B or C)."""
    if len(names) == 1:
        return names[0]
    # TRANSLATORS: {names} is macro names joined by ", ", {last} the last one: "BPF_HASH, BPF_ARRAY and BPF_TABLE"
    pattern = _("{names} or {last}") if last == "or" else _("{names} and {last}")
    return pattern.format(names=", ".join(names[:-1]), last=names[-1])


def used_in(program_text, helpers):
    """The BPF_* macros of helpers.h a C program uses, in the order it first uses them."""
    words = re.findall(r"\bBPF_\w+", code_only(program_text))
    return [name for name in dict.fromkeys(words) if name in helpers.defs]


# -- which libbcc -------------------------------------------------------------------------

def mapped_file(lib, maps="/proc/self/maps"):
    """The file a ctypes library was loaded from: the mapping that holds one of its functions' code, or, failing
    that, the one named like the library (ctypes only knows the name it was asked for, e.g. libbcc.so.0)."""
    import ctypes
    try:
        address = ctypes.cast(lib.bpf_module_create_c_from_string, ctypes.c_void_p).value
    except AttributeError:
        address = None
    named = None
    try:
        with open(maps) as lines:
            for line in lines:
                fields = line.split(maxsplit=5)
                if len(fields) < 6 or not fields[5].startswith("/"):
                    continue
                path = fields[5].rstrip("\n")
                low, high = (int(x, 16) for x in fields[0].split("-"))
                if address is not None and low <= address < high:
                    return path
                if named is None and os.path.basename(path).startswith(os.path.basename(lib._name)):
                    named = path
    except OSError:
        pass
    return named or (lib._name if os.path.isabs(lib._name) else None)


def installed():
    """(version, path): the bcc this Python imports, and the libbcc file its Python module loaded."""
    from .doctor import SETUP, check_bcc
    try:
        finding = check_bcc()
    except OSError as err:  # the module is there, but its ctypes.CDLL("libbcc.so.0") failed
        raise EnvironmentNotReady(_("BCC's Python module is installed, but its library libbcc could not be loaded "
                                    "({error}).").format(error=err),
                                  fix=_("{setup} (or: sudo apt install libbpfcc; Fedora: sudo dnf install bcc)")
                                  .format(setup=SETUP)) from None
    if finding.status != "ok":
        raise EnvironmentNotReady(finding.detail[0].upper() + finding.detail[1:] + ".", fix=finding.fix)
    import bcc
    from bcc import libbcc
    path = mapped_file(libbcc.lib)
    if path is None:
        raise EnvironmentNotReady(_("Could not tell which file BCC's Python module loaded as {name}.")
                                  .format(name=libbcc.lib._name),
                                  fix=_("Name it: {command} --libbcc PATH (ldconfig -p | grep libbcc lists them).")
                                  .format(command=COMMAND))
    return getattr(bcc, "__version__", None), path


def version_in_name(path):
    """libbcc.so.0.26.0 -> 0.26.0 (the version its file name says), else None."""
    match = re.search(r"\.so\.(\d+\.\d+\.\d+)$", os.path.realpath(path))
    return match.group(1) if match else None


def load(libbcc=None):
    """Helpers from the installed bcc's libbcc, or from the file `libbcc` (the learner's: a bad one is a usage error)."""
    if libbcc is None:
        from .doctor import SETUP
        version, path, problem = *installed(), EnvironmentNotReady
        fix = _("Reinstall BCC from your OS's packages ({setup}), or read src/cc/export/helpers.h of bcc {version} "
                "at https://github.com/iovisor/bcc.").format(setup=SETUP, version=version)
    else:
        version, path, problem = version_in_name(libbcc), libbcc, UsageError
        fix = _("Give a libbcc file: ldconfig -p | grep libbcc lists this machine's.")
    try:
        with open(path, "rb") as library:
            data = library.read()
    except OSError as err:
        raise problem(_("Could not read {path} ({reason}).").format(path=path, reason=err.strerror), fix=fix) from None
    text = helpers_text(data)
    if text is None:
        raise problem(_("{path} holds no copy of BCC's helpers.h (no '{marker}' in it), so its macros cannot be "
                        "shown.").format(path=path, marker=MARKER.decode()), fix=fix)
    return Helpers(text, path, version)


# -- the commands ----------------------------------------------------------------------------

def show(names, libbcc=None):
    """python3 -m runner macros [NAME ...] [--libbcc PATH]"""
    helpers = load(libbcc)
    if not names:
        print(_("{bcc} defines these BPF_* macros in its helpers.h, read from {path}; {command} NAME shows one:")
              .format(bcc=helpers.label, path=helpers.path, command=COMMAND) + "\n")
        line = ""
        for name in helpers.top_level():
            if line and len(line) + 1 + len(name) > 100:
                print(line)
                line = ""
            line = f"{line} {name}".lstrip()
        print(line)
        return 0
    wanted = list(dict.fromkeys(helpers.resolve(name) for name in names))
    print(_("{bcc} defines {names} in its helpers.h, read from {path}:").format(bcc=helpers.label, names=join(wanted),
                                                                                path=helpers.path))
    print("\n".join(helpers.describe(wanted)))
    return 0


def show_lesson(lesson, libbcc=None):
    """python3 -m runner show LESSON --macros: the BPF_* macros the lesson's C program uses."""
    helpers = load(libbcc)
    used = used_in(lesson.program_path.read_text(), helpers)
    # TRANSLATORS: a lesson's C program, e.g. "lesson3's program.c"
    program = _("{lesson}'s {file}").format(lesson=lesson.id, file=lesson.program_path.name)
    if not used:
        print(_("{program} uses none of the BPF_* macros {bcc} defines in its helpers.h, read from {path}.")
              .format(program=program, bcc=helpers.label, path=helpers.path))
        return 0
    print(ngettext("{program} uses {names}. {bcc} defines it in its helpers.h, read from {path}:",
                   "{program} uses {names}. {bcc} defines them in its helpers.h, read from {path}:", len(used))
          .format(program=program, names=join(used), bcc=helpers.label, path=helpers.path))
    print("\n".join(helpers.describe(used)))
    return 0
