"""python3 -m bench: runner start-up, the event pipeline's CPU per event and zero-loss ceiling, event throughput
and the cost of each tracing mechanism, side by side.

USAGE: sudo .venv/bin/python -m bench [--quick] [--no-plot] [--only PART]

Prints four tables, then one checkable line per ratio (`startup_ratio lesson1 0.97`, `cpu_per_event_ratio
runner/classic 0.52`, `zero_loss_ceiling_ratio runner/classic 1.40`, `cost_ns perf_submit 850`), and writes
bench/results.md and bench/results.png. Not part of the test suite: it takes about eight minutes and needs root.

examples:
    sudo .venv/bin/python -m bench                  # everything, about 8 minutes on 2 cores
    sudo .venv/bin/python -m bench --quick          # fewer and shorter runs: a smoke run, not for the README
    sudo .venv/bin/python -m bench --only pipeline  # one part: startup, pipeline, throughput or cost
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from . import report

HERE = Path(__file__).resolve().parent

STARTUP_TEXT = ("Wall time from spawning the process to its first event line on stdout: `python3 -m runner lessonN "
                "--events 1 --json` against the lesson's glue run alone (`python lessons/.../x.py`), for every lesson. "
                "The runner starts the lesson's workload itself (held before its run() while BCC compiles, let go once "
                "the probes are attached); for the plain script the benchmark starts the same workload, with the same "
                "arguments, when the script prints its `... Hit Ctrl-C to end.` line, as a learner would in a second "
                "terminal (for a lesson that attaches to one pid, the workload is started held first, its pid given "
                "to the script, and the time counts from then). A script that prints its events only when it ends "
                "(lesson 10's profile) is timed, both ways, until that line (*until: attached*). One run each way "
                "first, not counted (it writes the bytecode caches, as a learner's first run does); then runner and "
                "plain alternate, each first in turn, with the same interpreter, unbuffered. *runner/plain* is the "
                "median over the pairs of runs (one each way, back to back) of the runner's time over the plain "
                "script's, so a slow moment of the machine weighs on both sides of a pair.")
THROUGHPUT_TEXT = ("A child calls getppid() in a tight loop for {seconds} s; a program on syscalls:sys_enter_getppid sends "
                   "a 32-byte struct per call of that child. *classic*: `open_perf_buffer` with a callback calling "
                   "`b[\"events\"].event(data)` (the BCC tutorial); *runner*: runner/sources.py's `PerfBuffer` source, "
                   "polled as the runner does; *ringbuf*: `BPF_RINGBUF_OUTPUT` read by an `open_ring_buffer` "
                   "callback (a plain script, as lesson 7's alone); *runner_ringbuf*: the same ring read by "
                   "runner/sources.py's `RingBuffer` source (lesson 7 in the runner); ring drops counted in the kernel "
                   "by a per-CPU counter. Buffers: *default* = 8 pages per CPU (ring buffer: the same memory in one ring), "
                   "*small* = 1 page per CPU. Every run checks delivered + lost == the calls the child reports.")
COST_TEXT = ("The child times {calls:,} getppid() calls with each program attached in turn ({reps} rounds, mechanisms "
             "rotating), every call firing. *added* is the median over rounds of (run - the same round's run without "
             "a probe), ± half the range of those differences. *empty program* is the probe and the pid check alone; "
             "*on a uprobe*, the same program on libc's getppid(), which os.getppid() calls (lessons 6 and 9: a USDT "
             "probe is a uprobe at the probe's address, so it costs the same). The others run on the syscall's "
             "tracepoint: one mechanism of each lesson, from bpf_trace_printk (1) to a stack id of the user stack "
             "(10). Rings are large enough that no output fails, and are read between runs only.")


PARTS = ("startup", "pipeline", "throughput", "cost")
PIPELINE_RATE = 50_000  # events a second offered while the consumers' CPU is measured: well below every ceiling
PIPELINE_TEXT = ("The same getppid() child, now paced: it offers {rate:,} calls a second in bursts of a millisecond's "
                 "worth, for {seconds} s a run ({reps} runs per consumer, consumers taking turns). *CPU per event* is "
                 "the CPU time of the consumer's process (`time.process_time()`: user and system, the wakeups "
                 "included) from the start of a run until its last event was read, divided by the events read; the "
                 "traced calls themselves run in the child. *zero-loss ceiling*: a ramp of offered rates, from 25,000 "
                 "a second up by 1.3 times each {step} s step until a step loses events (or the child cannot call any "
                 "faster: *producer*), then 2 steps bisecting between the last clean rate and the first lossy one; the "
                 "ceiling is the highest offered rate read with nothing lost, the median of {ramps} ramps. Default "
                 "buffers (8 pages per CPU; the ring buffer the same memory in one ring).\n\n"
                 "**Where the ceiling is, and what moves it.** Every consumer here that takes events one by one in "
                 "Python tops out at a few hundred thousand a second, while the kernel can put well over a million a "
                 "second into a ring buffer (the throughput table below). The limit is the Python callback per "
                 "event: BCC calls a Python function for each event (ctypes), which casts the bytes to a struct and "
                 "builds a record, a few microseconds each. The kernel's side is cheap. Three things move it: fewer "
                 "wakeups per event (the runner waits {gather} ms after a wakeup before it reads, so one read takes "
                 "all that gathered, where BCC's perf buffer wakes the reader for every event), a smaller or rarer "
                 "event, and above all no event per call: aggregating in the kernel. The measured alternative beside "
                 "them, *per-CPU count, read once a second* (what lessons 3 and 8 do), costs the consumer next to "
                 "nothing per call and loses nothing at any rate the child can offer.")


def parse(argv):
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("examples:")[1].join(["examples:", ""]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer runs of everything (a smoke run)")
    p.add_argument("--only", choices=PARTS, action="append", help="run only this part")
    p.add_argument("--no-plot", action="store_true", help="do not write results.png (no matplotlib needed)")
    p.add_argument("--out", type=Path, default=HERE, help="where results.md and results.png go (default bench/)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("error: the benchmark loads BPF programs and needs root.\nfix: sudo .venv/bin/python -m bench",
              file=sys.stderr)
        return 3
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # started in the background (cmd &): the shell ignores Ctrl-C for it, and its children inherit that, so a
        # plain script would not end on the benchmark's SIGINT, only 13 s later on its kill. A handler is reset
        # at exec(), so the scripts start with Ctrl-C as a learner's do.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parts = set(args.only or PARTS)
    runs, reps, seconds, calls, cost_reps = (2, 2, 0.5, 50_000, 3) if args.quick else (11, 3, 1.0, 100_000, 7)
    cpu_reps, cpu_seconds, step, ramps = (2, 0.3, 0.2, 1) if args.quick else (5, 1.0, 0.5, 3)
    began = time.perf_counter()
    info = report.machine()
    sections, lines, tables = [], [], []
    startup = throughput = added = pipeline = None

    if "startup" in parts:
        from . import startup as su
        lessons = su.lessons_to_measure()
        print(f"Start-up: {', '.join(l.id for l in lessons)}, {runs} runs each way...", flush=True)
        startup = su.measure(lessons, runs)
        headers, rows, ls = report.startup_rows(startup)
        imports = su.import_times()
        top = sorted(imports["top"].items(), key=lambda kv: -kv[1])[:6]
        import_text = (f"Imports of one `python3 -m runner lesson1` run (`-X importtime`): {imports['total_us'] / 1000:.0f} ms "
                       "in all; largest: " + ", ".join(f"{m} {us / 1000:.1f} ms" for m, us in top) + ". Heavy packages "
                       f"imported: {', '.join(imports['heavy']) or 'none'} (rich, matplotlib, jupyter stay off this path).")
        ls += [f"import_ms runner_total {imports['total_us'] / 1000:.0f}",
               f"import_ms bcc {imports['top'].get('bcc', 0) / 1000:.0f}",
               f"heavy_imports {','.join(imports['heavy']) or 'none'}"]
        if su.FAILURES:
            import_text += "\nRuns without an event: " + "; ".join(f"{l} {w}: {why}" for l, w, why in su.FAILURES)
        sections.append(("Start-up", STARTUP_TEXT + "\n\n" + import_text, headers, rows))
        tables.append(report.terminal("Start-up to the first event", headers, rows) + "\n" + import_text)
        lines += ls

    if parts & {"pipeline", "throughput", "cost"}:
        from . import mechanisms as m
        print("Compiling bench/flood.c...", flush=True)
        b = m.load()
        child = m.Child()
        try:
            m.set_target(b, child.pid)
            rings = m.Rings(b, child.pid)
            if "pipeline" in parts:
                print(f"Pipeline: {len(m.PIPELINE_WAYS)} consumers x {cpu_reps} runs at {PIPELINE_RATE:,}/s, then "
                      f"{ramps} zero-loss ramps each...", flush=True)
                cpu = {way: [] for way in m.PIPELINE_WAYS}
                for rep in range(cpu_reps):
                    for way in cpu:
                        cpu[way].append(m.paced(b, child, rings, way, PIPELINE_RATE, cpu_seconds))
                ramp = {way: [] for way in m.PIPELINE_WAYS}
                for rep in range(ramps):
                    for way in ramp:
                        ramp[way].append(m.ramp(b, child, rings, way, step))
                pipeline = (cpu, ramp)
                headers, rows, ls = report.pipeline_rows(cpu, ramp, PIPELINE_RATE)
                from runner.sources import GATHER
                sections.append(("The event pipeline: CPU per event, and the zero-loss ceiling",
                                 PIPELINE_TEXT.format(rate=PIPELINE_RATE, seconds=cpu_seconds, reps=cpu_reps, step=step,
                                                      ramps=ramps, gather=GATHER * 1000), headers, rows))
                tables.append(report.terminal("The event pipeline", headers, rows))
                lines += ls
            if "throughput" in parts:
                print(f"Throughput: {len(m.WAYS)} ways x 2 buffer sizes, {reps} floods of {seconds} s each...", flush=True)
                throughput = {(size, way): [] for size in ("default", "small") for way in m.WAYS}
                for rep in range(reps):
                    for (size, way) in throughput:
                        throughput[(size, way)].append(m.throughput(b, child, rings, way, size, seconds))
                headers, rows, ls = report.throughput_rows(throughput)
                sections.append(("Event throughput", THROUGHPUT_TEXT.format(seconds=seconds), headers, rows))
                tables.append(report.terminal("Event throughput (medians)", headers, rows))
                lines += ls
            if "cost" in parts:
                print(f"Cost: {len(m.MECHANISMS)} mechanisms x {cost_reps} rounds of {calls:,} calls...", flush=True)
                sink = m.Sink(b)
                try:
                    costs = m.costs(b, child, sink, calls, cost_reps)
                finally:
                    sink.close()
                headers, rows, ls, added, words = report.cost_rows(costs)
                sections.append(("What tracing costs per call", COST_TEXT.format(calls=calls, reps=cost_reps) +
                                 "\n\n" + words, headers, rows))
                tables.append(report.terminal("What tracing costs per getppid() call", headers, rows) + "\n" + words)
                lines += ls
        finally:
            child.close()
            b.cleanup()

    total = time.perf_counter() - began
    lines.append(f"total_seconds {total:.0f}")
    for table in tables:
        print(table)
    print()
    print("\n".join(lines))
    if not args.quick or args.out != HERE:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(report.markdown(info, sections, lines, total))
        written = [args.out / "results.md"]
        if not args.no_plot:
            report.plot(args.out / "results.png", startup, throughput, added, pipeline)
            written.append(args.out / "results.png")
        print("\nWrote " + " and ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
