#!/usr/bin/env python3
# ring_buffer.py: send one struct per openat() call through a BPF ring buffer,
# and count in the kernel the events that found the buffer full.
#
# Lesson 7 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson7_ring_buffer/ring_buffer.py
# or guided, with a workload that opens files for you:  python3 -m runner lesson7
import sys
from pathlib import Path

from bcc import BPF

from lessons.common import kernel_has_ring_buffer

PROGRAM = Path(__file__).with_name("ring_buffer.c")
PAGES = 64  # the ring's size in memory pages (a power of two): 256 KiB, shared by all CPUs


def load(pages=PAGES, perf_buffer=False):
    """Compile ring_buffer.c and attach it to openat(). Returns (b, [(mechanism, target)]).

    perf_buffer=True, or a kernel without ring buffers (before 5.8): the same events
    through a perf buffer instead, as in lesson 2, to compare the two.
    """
    probe = ("TRACEPOINT_PROBE", "syscalls:sys_enter_openat")
    if not perf_buffer and kernel_has_ring_buffer():
        # TRACEPOINT_PROBE attaches itself when BPF() loads the program.
        b = BPF(src_file=str(PROGRAM), cflags=["-DRING_PAGES=%d" % pages])
        return b, [probe, ("ring buffer", "events (%d page%s, shared by all CPUs)" % (pages, "s"[pages == 1:]))]
    b = BPF(src_file=str(PROGRAM), cflags=["-DPERF_BUFFER"])
    why = "asked for with --perf-buffer" if perf_buffer else "this kernel has no ring buffer: Linux 5.8 brought it"
    return b, [probe, ("perf buffer", "events (one ring per CPU; %s)" % why)]


start = 0  # kernel time of the first event: times are printed relative to it


def record(event):
    """One struct event_t, as decoded by b["events"].event(data), as a dict."""
    global start
    if start == 0:
        start = event.ts
    return {"time": (event.ts - start) / 1e9, "ts": event.ts, "cpu": event.cpu, "pid": event.pid,
            "comm": event.comm.decode(errors="replace"), "filename": event.filename.decode(errors="replace")}


def dropped(b):
    """{pid: events} that found the buffer full, as the program counted them."""
    return {pid.value: count.value for pid, count in b["dropped"].items()}


def main():
    perf_buffer = "--perf-buffer" in sys.argv[1:]
    b, probes = load(perf_buffer=perf_buffer)
    print("Tracing openat() with %s %s, sending events through a %s %s... Hit Ctrl-C to end." % (probes[0] + probes[1]))
    print("%-18s %-16s %-7s %-4s %s" % ("TIME(s)", "COMM", "PID", "CPU", "FILENAME"))

    def print_event(ctx, data, size):
        # Called once per event, in the order the events were reserved.
        e = record(b["events"].event(data))
        print("%-18.9f %-16s %-7d %-4d %s" % (e["time"], e["comm"], e["pid"], e["cpu"], e["filename"]))

    if probes[1][0] == "perf buffer":  # lesson 2's way: one ring per CPU
        b["events"].open_perf_buffer(lambda cpu, data, size: print_event(None, data, size), page_cnt=8)
        poll = b.perf_buffer_poll
    else:
        b["events"].open_ring_buffer(print_event)
        poll = b.ring_buffer_poll  # waits until the ring has data, then calls print_event for each event
    while True:
        try:
            poll()
        except KeyboardInterrupt:
            break
    lost = sum(dropped(b).values())
    print("\n%d events found the buffer full and were dropped." % lost)


if __name__ == "__main__":
    main()
