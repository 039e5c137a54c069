"""What lesson 3 counts: sleeps, made by this process and by children with names of their own.

Sleep counts[0] times; one child per further count sleeps that many times. Each sleep
is one clock_nanosleep() syscall: libc's clock_nanosleep() is called directly, since
Python's time.sleep() uses it only from Python 3.11 on (select() before). Child i renames itself bcc-workload-i,
so each process is its own key in a map counting per (pid, comm).
unique=1: the names are bcc-<pid> and bcc-<pid>-i instead, shared with no other run
(for counts per comm).
"""
import ctypes
import os
from gettext import gettext as _
from pathlib import Path

COMM = "bcc-workload"
CLOCK_MONOTONIC = 1
libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def sleep(seconds):
    """One clock_nanosleep() system call."""
    wait = Timespec(int(seconds), int(seconds % 1 * 1e9))
    libc.clock_nanosleep(CLOCK_MONOTONIC, 0, ctypes.byref(wait), None)


def run(counts=(30, 20, 10), interval=0.02, unique=0):
    counts = counts if isinstance(counts, (list, tuple)) else [counts]
    name = f"bcc-{os.getpid()}" if int(unique) else COMM
    if name != COMM:
        Path("/proc/self/comm").write_text(name)
    children = []
    for i, n in enumerate(counts[1:], 1):
        comm = f"{name}-{i}"
        child = os.fork()
        if child == 0:
            Path("/proc/self/comm").write_text(comm)
            for _unused in range(n):
                sleep(interval)
            os._exit(0)
        children.append({"pid": child, "comm": comm, "ops": n})
    for _unused in range(counts[0]):
        sleep(interval)
    for child in children:
        os.waitpid(child["pid"], 0)
    return {"ops": counts[0], "what": _("sleeps (clock_nanosleep() calls)"), "children": children, "comm": name}
