#!/usr/bin/env python3
# usdt.py: count a Python program's function calls per name, with the USDT
# probes compiled into the Python interpreter.
#
# Lesson 9 of bcc-lessons. Run it alone on a running Python program with:
#   sudo .venv/bin/python lessons/lesson9_usdt/usdt.py PID
# or guided, with a workload that calls known functions:  python3 -m runner lesson9
import re
import sys
import time
from gettext import gettext as _
from pathlib import Path

from bcc import BPF, USDT

from lessons.common import read_and_clear

PROGRAM = Path(__file__).with_name("usdt.c")
# <uapi/linux/ptrace.h> from headers newer than BCC's clang makes it warn about
# a duplicated __seg_gs in the x86 headers; harmless for BPF, so silenced.
CFLAGS = ["-Wno-duplicate-decl-specifier"]


def probes(pid):
    """{probe name: USDT probe} of the process's binaries (its python, libpython), as readelf -n lists them."""
    return {p.name.decode(): p for p in USDT(pid=pid).enumerate_probes()}


def load(pid):
    """Compile usdt.c with Python's probes enabled in process `pid`. Returns (b, [(mechanism, target), ...]).

    A USDT probe with a semaphore (Python's have one) fires only in a process whose semaphore
    counter was raised, so BCC needs the pid: USDT(path=...) alone refuses to enable it.
    """
    found = probes(pid)
    if "audit" not in found:
        raise LookupError(_("Process {pid} has no Python audit probe: it is not Python 3.8 or later, or its "
                            "interpreter was built without --with-dtrace.").format(pid=pid),
                          _("Give the pid of a Python program (pgrep -a python3 lists them); tplist -p PID "
                            "(tplist-bpfcc on Debian and Ubuntu) lists the probes a process has."))
    u = USDT(pid=pid)
    u.enable_probe(probe="audit", fn_name="on_audit")
    # BCC names the file through the process's root (/proc/PID/root/...), which
    # also works for a process in a container: shown here without that prefix.
    binary = re.sub(r"^/proc/\d+/root", "", found["audit"].bin_path.decode())
    where = "%s pid %d" % (binary, pid)
    attached = [("USDT", "python:audit in " + where)]
    cflags = list(CFLAGS)
    if "function__entry" in found:
        cflags.append("-DENABLE_FUNCTION_ENTRY")
        u.enable_probe(probe="function__entry", fn_name="on_function_entry")
        silent = " (Python 3.11 has it but never fires it: CPython issue 98894)" if "3.11" in binary else ""
        attached.append(("USDT", "python:function__entry in %s%s" % (where, silent)))
    else:
        attached[0] = ("USDT (audit only)", attached[0][1])  # Python 3.12 removed function__entry
    b = BPF(src_file=str(PROGRAM), cflags=cflags, usdt_contexts=[u])
    # Keep the USDT object as long as the probes should fire: when Python frees
    # it, BCC lowers the semaphores again, and the interpreter skips its probes.
    b.usdt = u
    return b, attached


PROBES = {1: "audit", 2: "function__entry"}  # usdt.c's AUDIT and FUNCTION_ENTRY


def snapshot(b):
    """The calls counted since the last snapshot, one row per process, probe and name; the map starts again."""
    rows = [{"pid": call.pid, "probe": PROBES.get(call.probe, "?"), "name": call.name.decode(errors="replace"),
             "count": count} for call, count in read_and_clear(b["calls"])]
    return sorted(rows, key=lambda r: (r["pid"], r["probe"], -r["count"], r["name"]))


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: usdt.py PID   (the pid of a running Python program)")
    pid = int(sys.argv[1])
    for name in sorted(probes(pid)):
        print("probe python:%s" % name)
    b, attached = load(pid)
    for mechanism, target in attached:
        print("%s %s" % (mechanism, target))
    print("Counting calls per name... Hit Ctrl-C to end.")
    running = True
    while running:
        try:
            time.sleep(1)
        except KeyboardInterrupt:
            running = False
        for r in snapshot(b):
            print("%-7d %-16s %-32s %8d" % (r["pid"], r["probe"], r["name"], r["count"]))


if __name__ == "__main__":
    main()
