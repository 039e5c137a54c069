#!/usr/bin/env python3
# bpf_hash.py: every second, which processes slept in clock_nanosleep(), how often, how long.
#
# Lesson 3 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson3_bpf_hash/bpf_hash.py
# or guided, with a workload that sleeps a known number of times:  python3 -m runner lesson3
from pathlib import Path
from time import sleep, strftime

from bcc import BPF

from lessons.common import read_and_clear

PROGRAM = Path(__file__).with_name("bpf_hash.c")
INTERVAL = 1  # seconds between two reads of the maps


def load():
    """Compile bpf_hash.c; its TRACEPOINT_PROBEs attach themselves. Returns (b, [(mechanism, target)])."""
    b = BPF(src_file=str(PROGRAM))
    return b, [("tracepoint", "syscalls:sys_enter_clock_nanosleep"),
               ("tracepoint", "syscalls:sys_exit_clock_nanosleep")]


def per_process(table):
    """{(pid, comm): value} for every entry of `table`, which is left empty.

    read_and_clear() (lessons/common.py) calls items_lookup_and_delete_batch(), which reads
    and deletes in one system call, so a count the kernel adds while we read is not wiped
    out by a later clear().
    """
    return {(k.pid, k.comm.decode(errors="replace")): v for k, v in read_and_clear(table)}


def snapshot(b):
    """The maps' rows since the last call, most sleeps first; the maps start again from zero."""
    calls = per_process(b["calls"])
    slept = per_process(b["slept_ns"])
    rows = [{"comm": comm, "pid": pid, "count": count, "slept_ms": round(slept.get((pid, comm), 0) / 1e6, 3)}
            for (pid, comm), count in calls.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["pid"]))


def main():
    b, probes = load()
    print("Tracing clock_nanosleep() with %s %s... Hit Ctrl-C to end." % probes[0])
    while True:
        try:
            sleep(INTERVAL)  # meanwhile the kernel counts, with no help from us
        except KeyboardInterrupt:
            break
        print("\n%s" % strftime("%H:%M:%S"))
        print("%-16s %-7s %8s %12s" % ("COMM", "PID", "COUNT", "SLEPT(ms)"))
        for r in snapshot(b):
            print("%-16s %-7d %8d %12.3f" % (r["comm"], r["pid"], r["count"], r["slept_ms"]))


if __name__ == "__main__":
    main()
