#!/usr/bin/env python3
# profile.py: sample every CPU at a fixed frequency, count the samples per
# user-space stack, and write them as folded stacks for a flame graph.
#
# Lesson 10 of bcc-lessons. Run it alone with:
#   sudo .venv/bin/python lessons/lesson10_profile/profile.py [PID]
# (Ctrl-C ends it and writes profile.folded), or guided, with a workload that
# spends its time in two known functions:  python3 -m runner lesson10
import errno
import sys
import time
from pathlib import Path

from bcc import BPF, PerfSWConfig, PerfType

from lessons.common import read_and_clear

PROGRAM = Path(__file__).with_name("profile.c")
CFLAGS = ["-Wno-duplicate-decl-specifier"]  # a harmless warning of newer kernel headers, as in lesson 6


def load(pid=None, frequency=99):
    """Compile profile.c and sample every CPU `frequency` times a second. Returns (b, [(mechanism, target), ...]).

    pid: keep only that process's samples (the kernel still samples every CPU, and drops the others).
    """
    b = BPF(src_file=str(PROGRAM), cflags=CFLAGS + ([] if pid is None else ["-DPID=%d" % pid]))
    # One perf event per CPU on its CPU clock, sample_freq times a second; 99
    # rather than 100, so the samples do not beat in step with work that runs
    # every 10 ms.
    b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                        fn_name="on_sample", sample_freq=frequency)
    who = "every process" if pid is None else "pid %d" % pid
    return b, [("perf event", "cpu-clock at %d Hz on every CPU, %s" % (frequency, who))]


def frames(b, stack_id, pid):
    """The stack's function names, outermost first (main before what it called), as BCC names them."""
    if stack_id < 0:
        # -EFAULT: no user stack (a kernel thread); -ENOMEM: the stack map was full.
        return ["[lost: stack map full]" if stack_id == -errno.ENOMEM else "[no user stack]"]
    # b.sym() reads the process's memory map to find the file of each address,
    # then that file's symbol table: while the process is still running.
    names = [b.sym(address, pid).decode(errors="replace") for address in b["stacks"].walk(stack_id)]
    return names[::-1]


def snapshot(b):
    """The samples counted since the last snapshot, one row per process and stack; the counts start again.

    "stack" is the folded form flame graph tools read: comm;outermost;...;innermost.
    """
    counts = {}
    for sample, count in read_and_clear(b["samples"]):
        comm = sample.comm.decode(errors="replace")
        stack = ";".join([comm] + frames(b, sample.user_stack, sample.pid))
        # Two samples in hot() at different instructions are two stack ids
        # (the addresses differ), but one stack of names: add them up.
        counts[sample.pid, comm, stack] = counts.get((sample.pid, comm, stack), 0) + count
    rows = [{"pid": pid, "comm": comm, "count": n, "stack": stack} for (pid, comm, stack), n in counts.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["stack"]))


def main():
    pid = int(sys.argv[1]) if len(sys.argv) > 1 else None
    b, probes = load(pid)
    for mechanism, target in probes:
        print("%s %s" % (mechanism, target))
    print("Sampling... Hit Ctrl-C to end.")
    folded = {}
    try:
        while True:
            time.sleep(1)
            for r in snapshot(b):  # names resolved each second, while the processes still run
                folded[r["stack"]] = folded.get(r["stack"], 0) + r["count"]
    except KeyboardInterrupt:
        for r in snapshot(b):
            folded[r["stack"]] = folded.get(r["stack"], 0) + r["count"]
    with open("profile.folded", "w") as out:
        for stack, count in sorted(folded.items()):
            out.write("%s %d\n" % (stack, count))
    print("\nwrote profile.folded: %d stacks, %d samples. Draw it with flamegraph.pl profile.folded > "
          "profile.svg, or python3 -m runner flamegraph profile.folded" % (len(folded), sum(folded.values())))


if __name__ == "__main__":
    main()
