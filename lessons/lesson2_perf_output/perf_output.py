#!/usr/bin/env python3
# perf_output.py: send a struct from the kernel to Python for each clone() call.
#
# Lesson 2 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson2_perf_output/perf_output.py
# or guided, with a workload that forks for you:  python3 -m runner lesson2
from pathlib import Path

from bcc import BPF

from lessons.common import kernel_has_kprobes

PROGRAM = Path(__file__).with_name("perf_output.c")
PAGES = 8  # size of each CPU's ring, in memory pages (a power of two)


def load(kprobe=None):
    """Compile perf_output.c and attach hello() to clone(). Returns (b, [(mechanism, target)])."""
    if kprobe is None:
        kprobe = kernel_has_kprobes()
    b = BPF(src_file=str(PROGRAM))
    if kprobe:
        event = b.get_syscall_fnname("clone").decode()  # __x64_sys_clone on x86_64
        b.attach_kprobe(event=event, fn_name="hello")
        return b, [("kprobe", event)]
    # Without kprobes: the tracepoint at the entry of clone() fires at the same moment.
    b.attach_tracepoint(tp="syscalls:sys_enter_clone", fn_name="hello")
    return b, [("tracepoint", "syscalls:sys_enter_clone")]


start = 0  # kernel time of the first event: times are printed relative to it


def record(event):
    """One struct data_t, as decoded by b["events"].event(data), as a dict."""
    global start
    if start == 0:
        start = event.ts
    return {"time": (event.ts - start) / 1e9, "ts": event.ts, "cpu": event.cpu,
            "comm": event.comm.decode(errors="replace"), "pid": event.pid,
            "message": "Hello, perf_output!"}


def main():
    b, probes = load()
    print("Tracing clone() with %s %s... Hit Ctrl-C to end." % probes[0])
    print("%-18s %-16s %-7s %-4s %s" % ("TIME(s)", "COMM", "PID", "CPU", "MESSAGE"))

    def print_event(cpu, data, size):
        # Called once per event. b["events"].event() turns the raw bytes into
        # a ctypes object with the fields of struct data_t.
        e = record(b["events"].event(data))
        print("%-18.9f %-16s %-7d %-4d %s" % (e["time"], e["comm"], e["pid"], e["cpu"], e["message"]))

    def print_lost(count):
        # Called when a CPU's ring was full and the kernel dropped events.
        print("Lost %d events: the buffer filled faster than we read it." % count)

    # One ring of PAGES pages per CPU; print_event runs for each event read.
    b["events"].open_perf_buffer(print_event, page_cnt=PAGES, lost_cb=print_lost)
    while True:
        try:
            # Waits until a ring has data, then calls print_event for each event.
            b.perf_buffer_poll()
        except KeyboardInterrupt:
            break  # BPF() detaches everything when the program ends


if __name__ == "__main__":
    main()
