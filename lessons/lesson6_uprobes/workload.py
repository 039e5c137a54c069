"""What lesson 6 counts: strlen() calls on known strings, a few calls of a named function, and program starts.

The strings start with the lesson's mark (uprobes.c's MARK, read from that file here) and
their lengths fall in four log2 buckets (8-15, 16-31, 32-63, 64-127); the last is longer
than the 64 bytes the probe copies, so the lesson shows it cut. The mark is never written
out whole in this file: Python's parser calls strlen() on pieces of the source it compiles,
and the lesson's probe would count those calls too.

programs=N starts a program N times, one process each, for a probe on its `main`
(`--probe /bin/bash:main`): each process that runs the program calls main once.
"""
import ctypes
import re
import subprocess
import sys
from gettext import gettext as _
from pathlib import Path

MARK = re.search(r'#define MARK "([^"]*)"', Path(__file__).with_name("uprobes.c").read_text()).group(1)
STRINGS = tuple(MARK + " " + text for text in (
    "hi",
    "uprobes count calls",
    "the probe reads this string from user memory",
    "a string longer than the probe's buffer of 64 bytes, so the kernel side copies only its start",
))


def run(count=100, function_calls=3, wait=0, programs=0, program="/bin/bash"):
    """Call libc's strlen() `count` times on STRINGS in turn, then Py_GetVersion() `function_calls` times,
    then start `program` `programs` times, one after the other.

    The calls go through ctypes, so each is exactly one call of the C function. Each start is a
    new process that runs `program` with no arguments and an empty stdin (bash, python3 and perl
    then read an empty script and exit): one call of its main. wait=1: read one line from stdin
    first, so that a test can attach to this pid before the calls start.
    """
    if wait:
        sys.stdin.readline()
    libc_strlen = ctypes.CDLL(None).strlen  # dlsym(): the implementation strlen's IFUNC resolver picked
    libc_strlen.restype = ctypes.c_size_t
    strings = [s.encode() for s in STRINGS]
    for i in range(count):
        libc_strlen(strings[i % len(strings)])
    for _unused in range(function_calls):
        ctypes.pythonapi.Py_GetVersion()
    pids = []
    for _unused in range(programs):
        child = subprocess.Popen([program], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        child.wait()
        pids.append(child.pid)
    per_string = {s: count // len(strings) + (i < count % len(strings)) for i, s in enumerate(STRINGS)}
    if programs:
        what = _("calls: {count} of strlen() on marked strings, {function_calls} of Py_GetVersion(), and {programs} "
                 "program starts of {program} ({programs} calls of its main)").format(
                     count=count, function_calls=function_calls, programs=programs, program=program)
    else:
        what = _("calls: {count} of strlen() on marked strings, {function_calls} of Py_GetVersion()").format(
            count=count, function_calls=function_calls)
    return {"ops": count + function_calls + programs,
            "what": what,
            "strlen_calls": count, "strings": per_string, "function": "Py_GetVersion", "function_calls": function_calls,
            # for the runner's summary: Python 3.9 to 3.12 call Py_GetVersion() once at start-up, to build
            # sys.version, in this same process (the runner attached before it started it)
            "also": [{"count": 1, "why": _("Python's own Py_GetVersion() call at start-up, to build sys.version")}]
            if sys.version_info < (3, 13) else [],
            # the started programs: their pids, which the runner counts as the workload's too
            **({"program": program, "programs": programs, "pids": pids} if programs else {})}
