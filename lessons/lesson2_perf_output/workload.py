"""What lesson 2 traces: a few forks, then a burst of clone() calls fast enough to overflow a small perf buffer.

fork() `count` times, `interval` s apart; then `burst` clone() calls as fast as possible;
then, once the reader has had time to drain, one more clone() on each CPU. Why the last
ones: the kernel reports events it dropped from a full perf ring inside that ring, with
the next event written to it. Without a later event on that CPU, user space would never
hear of the loss.
"""
import ctypes
import os
import time
from gettext import gettext as _

# clone()'s syscall number (os has no clone()).
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}
CLONE_THREAD = 0x00010000


def refused_clones(count):
    """Call clone() `count` times with flags the kernel refuses (CLONE_THREAD without CLONE_SIGHAND: EINVAL).

    Each call enters the syscall, so probes on clone()'s entry fire, but no process is made:
    about a microsecond each, fast enough to fill a small perf buffer before its reader wakes up.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    number = SYS_CLONE[os.uname().machine]
    for _ in range(count):
        if libc.syscall(number, CLONE_THREAD, 0, 0, 0, 0) == 0:
            os._exit(0)  # never happens: the kernel refuses these flags; a child would leave at once


def forks(count, interval):
    for i in range(count):
        if i:
            time.sleep(interval)
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)


def run(count=5, interval=0.2, burst=200):
    forks(count, interval)
    time.sleep(interval)
    refused_clones(burst)
    time.sleep(interval)
    cpus = sorted(os.sched_getaffinity(0))
    for cpu in cpus:
        os.sched_setaffinity(0, {cpu})
        refused_clones(1)
    os.sched_setaffinity(0, cpus)
    return {"ops": count + burst + len(cpus), "burst": burst, "cpus": len(cpus),
            "what": _("clone() calls ({count} forks, a burst of {burst} refused ones, then 1 on each of {cpus} "
                      "CPUs)").format(count=count, burst=burst, cpus=len(cpus))}
