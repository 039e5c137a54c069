"""What a learner asks a lesson to trace: one process (--pid) or a program's function (--probe).

A lesson's load() receives them as keyword arguments: pid=, and binary= with
function=. A lesson declares which it takes (`options` in lessons.toml); asked
for another, the runner says so before anything runs. A target that is not there (no such process, file or function) is the
learner's to fix: load() raises ProcessLookupError, FileNotFoundError or
LookupError with one sentence before it attaches anything, and the runner
reports that sentence as a usage error (exit 2) instead of a failed lesson.
"""

from .errors import UsageError

OPTION_OF = {"pid": "pid", "binary": "probe", "function": "probe"}  # load()'s keyword -> the lesson's option


def parse_probe(text):
    """BINARY:FUNCTION (as BCC's tools write it, e.g. /usr/bin/bash:readline) -> (binary, function)."""
    binary, sep, function = text.rpartition(":")
    if not sep or not binary or not function:
        raise UsageError(f"--probe {text!r} is not BINARY:FUNCTION.",
                         fix="Name a program and one of its functions, e.g. --probe /usr/bin/python3:Py_GetVersion")
    return binary, function


def params(args):
    """The keyword arguments for the lesson's load() from --pid and --probe (only those given)."""
    out = {}
    if getattr(args, "pid", None) is not None:
        out["pid"] = args.pid
    if getattr(args, "probe", None):
        out["binary"], out["function"] = parse_probe(args.probe)
    return out


def check_accepted(lesson, values):
    """A UsageError before anything runs if the lesson does not take --pid or --probe."""
    refused = sorted({"--" + OPTION_OF[k] for k in values if k in OPTION_OF and OPTION_OF[k] not in lesson.options})
    if refused:
        raise UsageError(f"{lesson.id} does not take {' or '.join(refused)}.",
                         fix="Leave the option out, or run a lesson that traces a process or a program "
                             "(python3 -m runner list).")


def explain(cause):
    """A UsageError for a load that failed because a target is missing, or None if it failed otherwise."""
    if isinstance(cause, ProcessLookupError):
        return UsageError(str(cause), fix="Give the pid of a running process (ps -e lists them; pgrep NAME finds one).")
    if isinstance(cause, FileNotFoundError):
        return UsageError(str(cause), fix="Give the program's full path, e.g. --probe $(command -v bash):readline")
    if type(cause) is LookupError:
        return UsageError(str(cause), fix="Choose a function the file exports: nm -D --defined-only BINARY "
                                          "lists them (a stripped program keeps only those).")
    return None
