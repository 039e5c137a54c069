"""What a learner asks a lesson to trace: one process (--pid) or a program's function (--probe).

A lesson's load() receives them as keyword arguments: pid=, and binary= with
function=. A lesson declares which it takes (`options` in lessons.toml); asked
for another, the runner says so before anything runs. A target that is not there (no such process, file or function) is the
learner's to fix: load() raises ProcessLookupError, FileNotFoundError or
LookupError with one sentence before it attaches anything, and the runner
reports that sentence as a usage error (exit 2) instead of a failed lesson.

A --pid that names something a probe cannot follow is said before anything is compiled: a zombie
(it has exited) or a thread (a probe for a thread id counts its whole process, under the process's pid).
When attaching failed for a pid, unprobeable() says why from what /proc tells of that process: it has
exited since, it is a kernel thread, or the kernel refused the ptrace access a per-process probe needs.
"""

import errno
import os
from pathlib import Path

from .errors import LessonFailed, UsageError
from .language import N_, _

PROC = Path("/proc")
PF_KTHREAD = 0x00200000  # in /proc/PID/stat's flags: a kernel thread
CAP_SYS_PTRACE = 19
RUNNING_FIX = N_("Give the pid of a running process (ps -e lists them; pgrep NAME finds one).")

OPTION_OF = {"pid": "pid", "binary": "probe", "function": "probe"}  # load()'s keyword -> the lesson's option


def parse_probe(text):
    """BINARY:FUNCTION (as BCC's tools write it, e.g. /usr/bin/bash:readline) -> (binary, function)."""
    binary, sep, function = text.rpartition(":")
    if not sep or not binary or not function:
        raise UsageError(_("--probe {text} is not BINARY:FUNCTION.").format(text=repr(text)),
                         fix=_("Name a program and one of its functions, e.g. --probe /usr/bin/python3:Py_GetVersion"))
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
    """A UsageError before anything runs if the lesson does not take --pid or --probe, or if --pid names a zombie
    or a thread."""
    refused = sorted({"--" + OPTION_OF[k] for k in values if k in OPTION_OF and OPTION_OF[k] not in lesson.options})
    if refused:
        if len(refused) == 1:
            message = _("{lesson} does not take {option}.").format(lesson=lesson.id, option=refused[0])
        else:  # --pid and --probe, the only two
            message = _("{lesson} does not take {option} or {other}.").format(lesson=lesson.id, option=refused[0],
                                                                             other=refused[1])
        raise UsageError(message, fix=_("Leave the option out, or run a lesson that traces a process or a program "
                                        "(python3 -m runner list)."))
    if values.get("pid") is not None:
        check_pid(values["pid"])


def stat(pid):
    """(state letter, parent pid, flags) from /proc/PID/stat, or None where there is no such process (any more)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # after the comm, which may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[6])


def state(pid):
    found = stat(pid)
    return found[0] if found else None


def status(pid):
    """/proc/PID/status as {field: value}: readable for any process, even one whose memory the kernel keeps closed."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def _named(pid, info=None):
    info = info if info is not None else status(pid)
    return f"{pid} ({info['Name']})" if info.get("Name") else str(pid)


def _exited(pid, found, info):
    if found is None:
        return UsageError(_("Process {pid} has exited since the run began: there is no process left to probe.")
                          .format(pid=pid), fix=_(RUNNING_FIX))
    return UsageError(_("Process {process} has exited: it is a zombie, kept only until its parent (pid {parent}) "
                        "collects its exit status, and it runs no code a probe could see.")
                      .format(process=_named(pid, info), parent=found[1]), fix=_(RUNNING_FIX))


def check_pid(pid):
    """A UsageError for a --pid that names a zombie or a thread; a pid no process has is left to the lesson's load()
    (its own sentence)."""
    found, info = stat(pid), status(pid)
    if found is None:
        return
    if found[0] in "ZX":
        raise _exited(pid, found, info)
    tgid = info.get("Tgid")
    if tgid and tgid != str(pid):
        raise UsageError(_("{pid} is a thread of process {process}, not a process: --pid takes a process id, and a "
                           "probe for one thread counts its whole process anyway, under the process's pid.")
                         .format(pid=pid, process=_named(tgid)),
                         fix=_("Give --pid {tgid} (the Tgid line of /proc/{pid}/status names the process of a "
                               "thread).").format(tgid=tgid, pid=pid))


def ptrace_refusal(pid):
    """The OSError the kernel gives this process for opening /proc/PID/maps, or None. It makes the same ptrace access
    check as perf_event_open() for a probe of one process: where one is refused, so is the other."""
    try:
        os.close(os.open(PROC / str(pid) / "maps", os.O_RDONLY))
    except OSError as err:
        return err
    return None


def _has_capability(info, number):
    try:
        return bool(int(info.get("CapEff", "0"), 16) >> number & 1)
    except ValueError:
        return False


def unprobeable(pid):
    """Why attaching a probe for process `pid` failed, as a RunnerError, or None if /proc shows no reason.

    Asked only once an attach failed: a process that has exited since, a kernel thread (it runs no program code), or a
    process the kernel refused the runner ptrace access to (EACCES), with what the refusal comes from.
    """
    found, info = stat(pid), status(pid)
    if found is None or found[0] in "ZX":
        return _exited(pid, found, info)
    if found[2] & PF_KTHREAD:
        return UsageError(_("Process {process} is a kernel thread: it runs no program code, so a probe in a program "
                            "(a uprobe) never fires in it.").format(process=_named(pid, info)), fix=_(RUNNING_FIX))
    refusal = ptrace_refusal(pid)
    if not isinstance(refusal, PermissionError):
        return None
    code = errno.errorcode.get(refusal.errno, "EACCES")
    own = status("self")
    if _has_capability(own, CAP_SYS_PTRACE):
        message = _("Process {process} cannot be probed: the kernel refused the runner ptrace access to it ({code}, "
                    "the check perf_event_open() makes for a probe of one process; /proc/{pid}/maps is closed to it "
                    "too), although the runner holds CAP_SYS_PTRACE, so a security module (such as Landlock, Yama, "
                    "SELinux or AppArmor) protects that process from it.")
        fix = _("Probe a process the runner may inspect (sudo cat /proc/PID/maps works for it), e.g. one you started; "
                "without --pid the lesson traces every process.")
    else:
        message = _("Process {process} cannot be probed: the kernel refused the runner ptrace access to it ({code}, "
                    "the check perf_event_open() makes for a probe of one process; /proc/{pid}/maps is closed to it "
                    "too), because the runner lacks CAP_SYS_PTRACE, which the kernel asks for to probe a process of "
                    "another user (it runs as uid {uid}) or one with capabilities the runner lacks.")
        fix = _("Run the runner as root with its capabilities (sudo), or probe one of your own processes.")
    return LessonFailed(message.format(process=_named(pid, info), code=code, pid=pid,
                                       uid=info.get("Uid", "?").split()[0]), fix=fix)


def explain(cause):
    """A UsageError for a load that failed because a target is missing, or None if it failed otherwise."""
    if isinstance(cause, ProcessLookupError):
        return UsageError(str(cause), fix=_(RUNNING_FIX))
    if isinstance(cause, FileNotFoundError):
        return UsageError(str(cause), fix=_("Give the program's full path, e.g. --probe $(command -v bash):readline"))
    if type(cause) is LookupError and len(cause.args) == 2:  # the glue's own (sentence, fix)
        return UsageError(str(cause.args[0]), fix=str(cause.args[1]))
    if type(cause) is LookupError:
        return UsageError(str(cause), fix=_("Choose a function the file exports: nm -D --defined-only BINARY "
                                            "lists them (a stripped program keeps only those)."))
    return None
