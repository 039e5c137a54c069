"""What lesson 7 traces: openat() calls by two processes at once, on different CPUs, each timing its own calls.

Two children, named bcc-opener and bcc-noisy (their comm), start together and each open a
file of their own `count` times (os.open: exactly one openat() each, and nothing else opens
a file in them). They time their calls: while the lesson is attached, every call also runs
the BPF program and sends its event, so the time per call shows what sending costs.
"""
import ctypes
import os
import shutil
import tempfile
import time
from gettext import gettext as _

NAMES = ("bcc-opener", "bcc-noisy")
PR_SET_NAME = 15
FLAGS = os.O_RDONLY  # os.open() adds O_CLOEXEC itself: openat() gets FLAGS | O_CLOEXEC


def opener(name, path, count, go, out):
    """In a child: take the name, wait for the start, open `path` `count` times; write the ns it took to `out`."""
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    os.read(go, 1)
    started = time.perf_counter_ns()
    for _ in range(count):
        os.close(os.open(path, FLAGS))
    os.write(out, str(time.perf_counter_ns() - started).encode())
    os._exit(0)


def run(count=1000):
    folder = tempfile.mkdtemp(prefix="bcc-lesson7-")
    try:
        paths = [os.path.join(folder, name) for name in NAMES]
        for path in paths:
            open(path, "w").close()
        go_read, go_write = os.pipe()
        children = []
        for name, path in zip(NAMES, paths):
            out_read, out_write = os.pipe()
            pid = os.fork()
            if pid == 0:
                opener(name, path, count, go_read, out_write)
            os.close(out_write)
            children.append((name, pid, path, out_read))
        os.write(go_write, b"gg")  # both start at once
        took = {}
        for name, pid, path, out_read in children:
            os.waitpid(pid, 0)
            took[name] = int(os.read(out_read, 64) or 0)
            os.close(out_read)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ns = sum(took.values()) / (count * len(NAMES)) if count else 0
    return {"ops": count * len(NAMES), "count": count,
            "what": _("openat() calls ({count} by each of {first} and {second}, at the same time; "
                      "{ns:,.0f} ns per call, as they timed it)").format(count=count, first=NAMES[0], second=NAMES[1],
                                                                         ns=ns),
            "pids": [pid for _, pid, _, _ in children], "children_only": True,  # this process only started them
            "children": {name: {"pid": pid, "path": path, "calls": count} for name, pid, path, _ in children},
            "ns_per_call": round(ns, 1), "flags": FLAGS | os.O_CLOEXEC}
