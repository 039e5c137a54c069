#!/usr/bin/env python3
# hello.py: print a line each time any process on this machine calls clone().
#
# Lesson 1 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson1_hello/hello.py
# or guided, with a workload that forks for you:  python3 -m runner lesson1
from pathlib import Path

from bcc import BPF

from lessons.common import kernel_has_kprobes

PROGRAM = Path(__file__).with_name("hello.c")


def load(kprobe=None):
    """Compile hello.c and attach hello() to clone(). Returns (b, [(mechanism, target)])."""
    if kprobe is None:
        kprobe = kernel_has_kprobes()
    b = BPF(src_file=str(PROGRAM))
    if kprobe:
        # A kprobe on the kernel function that implements the clone() syscall.
        # Its name depends on the architecture (__x64_sys_clone on x86_64):
        # get_syscall_fnname() finds it.
        event = b.get_syscall_fnname("clone").decode()
        b.attach_kprobe(event=event, fn_name="hello")
        return b, [("kprobe", event)]
    # Without kprobes, the kernel's stable tracepoint at the entry of the
    # clone() syscall runs hello() at the same moment.
    b.attach_tracepoint(tp="syscalls:sys_enter_clone", fn_name="hello")
    return b, [("tracepoint", "syscalls:sys_enter_clone")]


def record(fields):
    """One trace_pipe line, as split by b.trace_fields(), as a dict."""
    task, pid, cpu, flags, ts, msg = fields
    return {"time": ts, "comm": task.decode(errors="replace"), "pid": pid,
            "message": msg.decode(errors="replace")}


def main():
    b, probes = load()
    print("Tracing clone() with %s %s... Hit Ctrl-C to end." % probes[0])
    print("%-18s %-16s %-6s %s" % ("TIME(s)", "COMM", "PID", "MESSAGE"))
    while True:
        try:
            # Blocks until the kernel writes a line to trace_pipe.
            fields = b.trace_fields()
        except KeyboardInterrupt:
            break  # BPF() detaches everything when the program ends
        e = record(fields)
        print("%-18.9f %-16s %-6d %s" % (e["time"], e["comm"], e["pid"], e["message"]))


if __name__ == "__main__":
    main()
