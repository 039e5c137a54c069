#!/usr/bin/env python3
# latency.py: histograms of how long things take, counted in the kernel:
# sleeps (clock_nanosleep) per process, and block I/O requests on every disk.
#
# Lesson 8 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson8_latency/latency.py
# (it prints the histograms every second, and at Ctrl-C), or guided, with a
# workload whose sleeps have known lengths:  python3 -m runner lesson8
import sys
import time
from pathlib import Path

from bcc import BPF

from lessons.common import read_and_clear

PROGRAM = Path(__file__).with_name("latency.c")
INTERVAL = 1  # seconds between two prints of the histograms when run alone, as runqlat 1 does


def load(pid=None, linear=False):
    """Compile latency.c; its TRACEPOINT_PROBEs attach themselves. Returns (b, [(mechanism, target), ...]).

    pid: time only this process's sleeps (block I/O is timed for every disk either way).
    linear: the sleeps' histogram in whole milliseconds, one bucket each, instead of log2 microseconds.
    """
    cflags = []
    if pid is not None:
        cflags.append("-DPID=%d" % pid)
    if linear:
        cflags.append("-DLINEAR")
    b = BPF(src_file=str(PROGRAM), cflags=cflags)
    b.linear = linear  # for snapshot()'s rows
    who = "" if pid is None else " pid %d" % pid
    return b, [("TRACEPOINT_PROBE", "syscalls:sys_enter_clock_nanosleep" + who),
               ("TRACEPOINT_PROBE", "syscalls:sys_exit_clock_nanosleep" + who),
               ("TRACEPOINT_PROBE", "block:block_rq_issue"),
               ("TRACEPOINT_PROBE", "block:block_rq_complete")]


def bucket(slot, linear):
    """A bucket as print_log2_hist() or print_linear_hist() labels it."""
    if linear:
        return "%d ms" % slot
    if slot == 0:
        return "0 us"
    return "%d -> %d us" % (1 << (slot - 1), (1 << slot) - 1)


def snapshot(b):
    """The buckets counted since the last snapshot, one row each; the histograms start again from zero.

    Each row names its histogram ("section") and bucket ("slot", or "value" for a linear
    one), so the rows of all reads add up to the whole histogram (the runner draws it).
    """
    rows = []
    unit = "msecs" if b.linear else "usecs"
    sleeps = read_and_clear(b["sleeps"])
    names = {pid.value: name.comm.decode(errors="replace") for pid, name in b["names"].items()}
    b["names"].clear()
    for key, count in sleeps:
        comm = names.get(key.pid, "?")
        rows.append({"latency": "clock_nanosleep", "pid": key.pid, "comm": comm, "bucket": bucket(key.slot, b.linear),
                     ("value" if b.linear else "slot"): key.slot, "count": count,
                     "section": "pid = %d %s" % (key.pid, comm), "unit": unit})
    for key, count in read_and_clear(b["io"]):
        slot = int(getattr(key, "value", key))  # a batch read gives the u64 key as an int, items() as a c_ulonglong
        rows.append({"latency": "block I/O", "pid": None, "comm": "(all disks)", "bucket": bucket(slot, False),
                     "slot": slot, "count": count, "section": "block I/O, all disks", "unit": "usecs"})
    return sorted(rows, key=lambda r: (r["latency"] != "clock_nanosleep", r["pid"] or 0, r.get("slot", r.get("value"))))


def show(b, linear):
    """The histograms as BCC's tools print them (one per pid for the sleeps, one for the disks), then cleared."""
    if linear:
        b["sleeps"].print_linear_hist("msecs", section_header="pid")
    else:
        b["sleeps"].print_log2_hist("usecs", section_header="pid")
    b["io"].print_log2_hist("usecs (block I/O)")
    b["sleeps"].clear()
    b["io"].clear()


def main():
    linear = "--linear" in sys.argv[1:]
    b, probes = load(linear=linear)
    print("Tracing clock_nanosleep() per process and block I/O on every disk... Hit Ctrl-C to end.")
    while True:
        try:
            time.sleep(INTERVAL)  # the kernel counts meanwhile, with no help from us (this sleep counts too)
        except KeyboardInterrupt:
            break
        print("\n%s" % time.strftime("%H:%M:%S"))
        show(b, linear)
    print()
    show(b, linear)  # what was counted since the last print


if __name__ == "__main__":
    main()
