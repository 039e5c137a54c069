#!/usr/bin/env python3
# kprobes.py: bytes sent over TCP, per process, from probes on tcp_sendmsg().
#
# Lesson 4 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson4_kprobes/kprobes.py
# or guided, with a workload that sends known sizes:  python3 -m runner lesson4
from pathlib import Path

from bcc import BPF

from lessons.common import kernel_has_kprobes

PROGRAM = Path(__file__).with_name("kprobes.c")

# The probe functions in kprobes.c, and the names they get with -DNO_KPROBES=1.
KPROBE_FUNCTIONS = {"kprobe__tcp_sendmsg": "noattach_kprobe__tcp_sendmsg",
                    "kretprobe__tcp_sendmsg": "noattach_kretprobe__tcp_sendmsg"}
TRACEPOINTS = ["syscalls:sys_enter_sendto", "sock:sock_send_length"]
# <uapi/linux/ptrace.h> from headers newer than BCC's clang makes it warn about
# a duplicated __seg_gs in the x86 headers; harmless for BPF, so silenced.
CFLAGS = ["-Wno-duplicate-decl-specifier"]


def load(kprobe=None):
    """Compile kprobes.c and attach it. Returns (b, [(mechanism, target)])."""
    if kprobe is None:
        kprobe = kernel_has_kprobes()
    if kprobe:
        # BPF() finds kprobe__tcp_sendmsg and kretprobe__tcp_sendmsg by their
        # names and attaches them itself: no attach_kprobe() here.
        b = BPF(src_file=str(PROGRAM), cflags=CFLAGS)
        return b, [("kprobe", "tcp_sendmsg"), ("kretprobe", "tcp_sendmsg")]
    # No kprobes in this kernel: compile the same file with NO_KPROBES, so the
    # kprobe functions lose their prefix and the tracepoint probes appear.
    b = BPF(src_file=str(PROGRAM), cflags=CFLAGS + ["-DNO_KPROBES=1"])
    for name in KPROBE_FUNCTIONS.values():
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
    b, probes = load()
    if probes[0][0] == "tracepoint":
        print("kprobe__tcp_sendmsg and kretprobe__tcp_sendmsg passed the verifier, but attaching "
              "them needs CONFIG_KPROBES: counting at %s instead." % " and ".join(TRACEPOINTS))
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
