#!/usr/bin/env python3
# tracepoints.py: program executions and TCP resets, from two kernel tracepoints.
#
# Lesson 5 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson5_tracepoints/tracepoints.py
# or guided, with a workload that connects to a closed port and runs /bin/true:
#   python3 -m runner lesson5
import socket
import tempfile
from pathlib import Path

from bcc import BPF

# The format-file parser is shared with `python3 -m runner format`: it lives in
# lessons/formats.py, beside the lesson folders.
from lessons import formats

PROGRAM = Path(__file__).with_name("tracepoints.c")
EXEC, RESET = 1, 2
FAMILIES = {2: socket.AF_INET, 10: socket.AF_INET6}


def load():
    """Compile tracepoints.c and attach both probes. Returns (b, [(mechanism, target)])."""
    exec_probe = ("TRACEPOINT_PROBE", "sched:sched_process_exec")
    try:
        # BCC's own way for tcp_send_reset too, where it compiles (kernels
        # before 6.10). BPF() attaches every TRACEPOINT_PROBE by its name.
        b = BPF(src_file=str(PROGRAM), cflags=["-DRESET_TRACEPOINT_PROBE=1"])
        return b, [exec_probe, ("TRACEPOINT_PROBE", "tcp:tcp_send_reset")]
    except Exception:  # "Failed to compile BPF module": clang said why, above
        pass
    # This kernel's record of tcp:tcp_send_reset, as a C struct with
    # fixed-width types (print it: python3 -m runner format tcp:tcp_send_reset --c).
    fmt = formats.read("tcp:tcp_send_reset")
    with tempfile.TemporaryDirectory() as include:
        Path(include, "tcp_send_reset_args.h").write_text(formats.c_struct(fmt))
        # -I: where #include "tcp_send_reset_args.h" finds the generated file.
        b = BPF(src_file=str(PROGRAM), cflags=["-I" + include])
    b.attach_tracepoint(tp="tcp:tcp_send_reset", fn_name="on_tcp_send_reset")
    return b, [exec_probe, ("tracepoint", "tcp:tcp_send_reset")]


def address(family, raw):
    return socket.inet_ntop(FAMILIES[family], bytes(raw)[:4 if family == 2 else 16])


def record(event):
    """One event_t from the perf buffer, as a dict."""
    e = {"comm": event.comm.decode(errors="replace"), "pid": event.pid}
    if event.kind == EXEC:
        e.update(event="exec", filename=event.filename.decode(errors="replace"))
        e["detail"] = e["filename"]
        return e
    e.update(event="reset", family="ipv4" if event.family == 2 else "ipv6",
             saddr=address(event.family, event.saddr), sport=event.sport,
             daddr=address(event.family, event.daddr), dport=event.dport)
    e["detail"] = "%s port %d -> %s port %d" % (e["saddr"], e["sport"], e["daddr"], e["dport"])
    return e


def main():
    # The tracepoints this kernel offers, like `perf list 'tcp:*'`.
    print("TCP tracepoints here:", ", ".join(sorted(BPF.get_tracepoints(b"tcp:.*"))))
    b, probes = load()
    print("Tracing %s... Hit Ctrl-C to end." % ", ".join("%s (%s)" % (t, m) for m, t in probes))
    print("%-16s %-7s %-6s %s" % ("COMM", "PID", "EVENT", "DETAIL"))

    def print_event(cpu, data, size):
        e = record(b["events"].event(data))
        print("%-16s %-7d %-6s %s" % (e["comm"], e["pid"], e["event"], e["detail"]))

    b["events"].open_perf_buffer(print_event)
    while True:
        try:
            b.perf_buffer_poll()
        except KeyboardInterrupt:
            break


if __name__ == "__main__":
    main()
