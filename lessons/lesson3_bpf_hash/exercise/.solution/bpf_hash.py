#!/usr/bin/env python3
# bpf_hash.py: every second, the 5 command names whose processes slept most in clock_nanosleep().
#
# Lesson 3 of bcc-lessons. Run it alone with:  sudo python3 bpf_hash.py
# or guided, with a workload that sleeps a known number of times:  python -m runner lesson3
from pathlib import Path
from time import sleep, strftime

from bcc import BPF

PROGRAM = Path(__file__).with_name("bpf_hash.c")
INTERVAL = 1  # seconds between two reads of the maps
TOP = 5       # rows shown per read


def load():
    """Compile bpf_hash.c; its TRACEPOINT_PROBEs attach themselves. Returns (b, [(mechanism, target)])."""
    b = BPF(src_file=str(PROGRAM))
    return b, [("tracepoint", "syscalls:sys_enter_clock_nanosleep"),
               ("tracepoint", "syscalls:sys_exit_clock_nanosleep")]


def read_and_clear(table):
    """{comm: value} for every entry of `table`, which is left empty.

    items_lookup_and_delete_batch() reads and deletes in one system call, so a
    count the kernel adds while we read is not wiped out by a later clear().
    """
    return {k.comm.decode(errors="replace"): int(v) for k, v in table.items_lookup_and_delete_batch()}


def snapshot(b):
    """The TOP command names since the last call, most sleeps first; the maps start again from zero."""
    calls = read_and_clear(b["calls"])
    slept = read_and_clear(b["slept_ns"])
    rows = [{"comm": comm, "count": count, "slept_ms": round(slept.get(comm, 0) / 1e6, 3)}
            for comm, count in calls.items()]
    # A hash map has no order: sort in Python, then keep the first TOP rows.
    return sorted(rows, key=lambda r: (-r["count"], r["comm"]))[:TOP]


def main():
    b, probes = load()
    print("Tracing clock_nanosleep() with %s %s... Hit Ctrl-C to end." % probes[0])
    while True:
        try:
            sleep(INTERVAL)  # meanwhile the kernel counts, with no help from us
        except KeyboardInterrupt:
            break
        print("\n%s" % strftime("%H:%M:%S"))
        print("%-16s %8s %12s" % ("COMM", "COUNT", "SLEPT(ms)"))
        for r in snapshot(b):
            print("%-16s %8d %12.3f" % (r["comm"], r["count"], r["slept_ms"]))


if __name__ == "__main__":
    main()
