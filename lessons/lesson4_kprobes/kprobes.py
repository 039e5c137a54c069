#!/usr/bin/env python3
# kprobes.py: bytes sent over TCP, per process, from probes on tcp_sendmsg().
#
# Lesson 4 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson4_kprobes/kprobes.py
# or guided, with a workload that sends known sizes:  python3 -m runner lesson4
# Add --explicit to either to attach with attach_kprobe()/attach_kretprobe() calls instead.
import sys
from pathlib import Path

from bcc import BPF

from lessons.common import kernel_has_kprobes

PROGRAM = Path(__file__).with_name("kprobes.c")

# The probe functions in kprobes.c, and the names they get with -DNO_KPROBES=1,
# and with -DEXPLICIT=1 (the names attach_kprobe() and attach_kretprobe() are given).
KPROBE_FUNCTIONS = {"kprobe__tcp_sendmsg": "noattach_kprobe__tcp_sendmsg",
                    "kretprobe__tcp_sendmsg": "noattach_kretprobe__tcp_sendmsg"}
EXPLICIT_FUNCTIONS = {"kprobe__tcp_sendmsg": "trace_sendmsg_entry",
                      "kretprobe__tcp_sendmsg": "trace_sendmsg_return"}
TRACEPOINTS = ["syscalls:sys_enter_sendto", "sock:sock_send_length"]
# <uapi/linux/ptrace.h> from headers newer than BCC's clang makes it warn about
# a duplicated __seg_gs in the x86 headers; harmless for BPF, so silenced.
CFLAGS = ["-Wno-duplicate-decl-specifier"]


def load(kprobe=None, explicit=False):
    """Compile kprobes.c and attach it. Returns (b, [(mechanism, target)]).

    explicit: name the functions without the kprobe__ prefix and attach them with
    attach_kprobe() and attach_kretprobe() (the same program, the other way).
    """
    if kprobe is None:
        kprobe = kernel_has_kprobes()
    if kprobe and not explicit:
        # BPF() finds kprobe__tcp_sendmsg and kretprobe__tcp_sendmsg by their
        # names and attaches them itself: no attach_kprobe() here.
        b = BPF(src_file=str(PROGRAM), cflags=CFLAGS)
        return b, [("kprobe", "tcp_sendmsg"), ("kretprobe", "tcp_sendmsg")]
    if kprobe:
        # -DEXPLICIT=1: the functions are trace_sendmsg_entry and trace_sendmsg_return,
        # which BPF() only compiles. Each call loads one (the verifier checks it) and
        # attaches it to the kernel function named by event.
        b = BPF(src_file=str(PROGRAM), cflags=CFLAGS + ["-DEXPLICIT=1"])
        b.attach_kprobe(event="tcp_sendmsg", fn_name="trace_sendmsg_entry")
        b.attach_kretprobe(event="tcp_sendmsg", fn_name="trace_sendmsg_return")
        return b, [("kprobe", "tcp_sendmsg"), ("kretprobe", "tcp_sendmsg")]
    # No kprobes in this kernel: compile the same file with NO_KPROBES, so the
    # kprobe functions lose their prefix and the tracepoint probes appear.
    cflags = CFLAGS + ["-DNO_KPROBES=1"] + (["-DEXPLICIT=1"] if explicit else [])
    b = BPF(src_file=str(PROGRAM), cflags=cflags)
    for name in (EXPLICIT_FUNCTIONS if explicit else KPROBE_FUNCTIONS).values():
        # Load each kprobe function into the kernel: the verifier checks it,
        # exactly as on a kernel with kprobes. Only attaching is impossible.
        b.load_func(name, BPF.KPROBE)
    # TRACEPOINT_PROBE functions were attached by BPF() itself, by name too.
    return b, [("tracepoint", tp) for tp in TRACEPOINTS]


def record(event):
    """One send_t from the perf buffer, as a dict."""
    return {"comm": event.comm.decode(errors="replace"), "pid": event.pid,
            "size": event.size, "sent": event.sent, "total": event.total}


def main():
    explicit = "--explicit" in sys.argv[1:]
    b, probes = load(explicit=explicit)
    if probes[0][0] == "tracepoint":
        names = EXPLICIT_FUNCTIONS.values() if explicit else KPROBE_FUNCTIONS.keys()
        print("%s passed the verifier, but attaching them needs CONFIG_KPROBES: counting at %s instead."
              % (" and ".join(names), " and ".join(TRACEPOINTS)))
    print("Tracing TCP sends... Hit Ctrl-C to end.")
    print("%-16s %-7s %8s %8s %10s" % ("COMM", "PID", "SIZE", "SENT", "TOTAL"))

    def print_event(cpu, data, size):
        e = record(b["events"].event(data))
        print("%-16s %-7d %8d %8d %10d" % (e["comm"], e["pid"], e["size"], e["sent"], e["total"]))

    b["events"].open_perf_buffer(print_event)
    while True:
        try:
            b.perf_buffer_poll()
        except KeyboardInterrupt:
            break


if __name__ == "__main__":
    main()
