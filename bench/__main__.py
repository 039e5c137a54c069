"""python3 -m bench: runner start-up, event throughput and the cost of each tracing mechanism, side by side.

USAGE: sudo .venv/bin/python -m bench [--quick] [--no-plot]

Prints three tables, then one checkable line per ratio (`startup_ratio lesson1 1.04`,
`throughput_ratio runner/classic 1.02`, `cost_ns perf_submit 850`), and writes bench/results.md and
bench/results.png. Not part of the test suite: it takes about two minutes and needs root.

examples:
    sudo .venv/bin/python -m bench              # everything, about 2 minutes on 2 cores
    sudo .venv/bin/python -m bench --quick      # fewer runs, about 40 s: a smoke run, not for the README
    sudo .venv/bin/python -m bench --only cost  # one part: startup, throughput or cost
"""

import argparse
import os
import sys
import time
from pathlib import Path

from . import report

HERE = Path(__file__).resolve().parent

STARTUP_TEXT = ("Wall time from spawning the process to its first event line on stdout: `python3 -m runner lessonN "
                "--events 1 --json` against the lesson's glue run alone (`python lessons/.../x.py`). The runner starts "
                "the lesson's workload once its probes are attached; for the plain script the benchmark starts the same "
                "workload, with the same arguments, when the script prints its `Tracing ...` line, so both wait for the "
                "same events. Runs alternate between the two; both use the same interpreter, unbuffered.")
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
             "a probe). *empty program* is the probe and the pid check alone. Rings are large enough that no output "
             "fails, and are read between runs only.")


def parse(argv):
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("examples:")[1].join(["examples:", ""]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer runs of everything (a smoke run)")
    p.add_argument("--only", choices=("startup", "throughput", "cost"), action="append", help="run only this part")
    p.add_argument("--no-plot", action="store_true", help="do not write results.png (no matplotlib needed)")
    p.add_argument("--out", type=Path, default=HERE, help="where results.md and results.png go (default bench/)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("error: the benchmark loads BPF programs and needs root.\nfix: sudo .venv/bin/python -m bench",
              file=sys.stderr)
        return 3
    parts = set(args.only or ("startup", "throughput", "cost"))
    runs, reps, seconds, calls, cost_reps = (2, 2, 0.5, 50_000, 3) if args.quick else (5, 5, 1.0, 100_000, 7)
    began = time.perf_counter()
    info = report.machine()
    sections, lines, tables = [], [], []
    startup = throughput = added = None

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

    if parts & {"throughput", "cost"}:
        from . import mechanisms as m
        print("Compiling bench/flood.c...", flush=True)
        b = m.load()
        child = m.Child()
        try:
            m.set_target(b, child.pid)
            rings = m.Rings(b, child.pid)
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
                headers, rows, ls, added = report.cost_rows(costs)
                sections.append(("What tracing costs per call", COST_TEXT.format(calls=calls, reps=cost_reps),
                                 headers, rows))
                tables.append(report.terminal("What tracing costs per getppid() call", headers, rows))
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
            report.plot(args.out / "results.png", startup, throughput, added)
            written.append(args.out / "results.png")
        print("\nWrote " + " and ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
