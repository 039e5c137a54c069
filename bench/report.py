"""The results as a terminal table, checkable ratio lines, bench/results.md and bench/results.png."""

import os
import platform
import time

from .stats import (apart, fmt, fmt_spread, markdown_table, median, paired_ratio, ratio, ratio_line, spread, summary,
                    text_table, zero_loss_ceiling)

SLUG = {"no probe": "baseline", "empty program": "empty_program", "bpf_trace_printk": "bpf_trace_printk",
        "perf_submit": "perf_submit", "ringbuf_output": "ringbuf_output",
        "ringbuf_reserve/submit": "ringbuf_reserve_submit", "histogram increment": "histogram_increment",
        "hash increment": "hash_increment",
        "percpu increment": "percpu_increment", "empty program on a uprobe": "uprobe_empty_program",
        "stack id (user stack)": "stack_id_user"}


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


TO = {"first": "first event", "attached": "attached"}


def startup_rows(results):
    """results: {lesson: {"runner": [s], "plain": [s], "to": "first" or "attached"}}"""
    rows, lines = [], []
    for lesson, runs in results.items():
        r, p = summary(runs["runner"]), summary(runs["plain"])
        q = paired_ratio(runs["runner"], runs["plain"])
        rows.append([lesson, TO[runs.get("to", "first")], fmt_spread(r, 3, " s"), fmt_spread(p, 3, " s"), fmt(q, 2),
                     f"{r['n']}+{p['n']}"])
        lines.append(ratio_line("startup_ratio", lesson, q))
    return ["lesson", "until", "runner (median ± half range)", "plain script", "runner/plain (median of pairs)", "runs"], \
        rows, lines


def throughput_rows(results):
    """results: {(size, way): [run dicts]}"""
    rows, lines = [], []
    for (size, way), runs in results.items():
        delivered = summary([r["delivered_per_s"] for r in runs])
        lost = median([r["lost_per_s"] for r in runs])
        offered = median([r["offered_per_s"] for r in runs])
        share = median([r["lost"] / r["calls"] * 100 for r in runs])
        exact = sum(r["exact"] for r in runs)
        rows.append([size, way, fmt(offered), fmt_spread(delivered), fmt(lost), fmt(share, 1, " %"),
                     f"{exact}/{len(runs)}"])
    for size in ("default", "small"):
        classic = median([r["delivered_per_s"] for r in results.get((size, "classic"), [])])
        for way in ("runner", "ringbuf"):
            mine = median([r["delivered_per_s"] for r in results.get((size, way), [])])
            name = f"{way}/classic" if size == "default" else f"{way}/classic@small"
            lines.append(ratio_line("throughput_ratio", name, ratio(mine, classic)))
        # the ring buffer read by the runner's pipeline against the same read by a plain callback (lesson 7)
        mine = median([r["delivered_per_s"] for r in results.get((size, "runner_ringbuf"), [])])
        plain = median([r["delivered_per_s"] for r in results.get((size, "ringbuf"), [])])
        lines.append(ratio_line("throughput_ratio", "runner_ringbuf/ringbuf" + ("" if size == "default" else "@small"),
                                ratio(mine, plain)))
    runs = [r for rs in results.values() for r in rs]
    lines.append(f"loss_exact {sum(r['exact'] for r in runs)}/{len(runs)}")
    return ["buffer", "way", "calls/s offered", "delivered/s", "lost/s", "lost", "delivered+lost=calls"], rows, lines


def cost_rows(results):
    """results: {mechanism: [ns per call per repetition]}; added = median of (run - baseline run of the same round)."""
    base = results["no probe"]
    rows, lines, added, diffs = [], [], {}, {}
    for name, values in results.items():
        diffs[name] = [v - b for v, b in zip(values, base)]
        added[name] = median(diffs[name]) if name != "no probe" else 0.0
        rows.append([name, fmt_spread(summary(values), 0, " ns"),
                     "-" if name == "no probe" else f"{fmt(added[name])} ± {fmt(spread(diffs[name]) / 2)}"])
        if name != "no probe":
            lines.append(ratio_line("cost_ns", SLUG[name], added[name], digits=0))
    return ["mechanism", "ns per getppid() call", "added by tracing (ns)"], rows, lines, added, noise_words(diffs)


def noise_words(diffs):
    """Which neighbours in cost order differ by more than their noise (their rounds' ranges do not overlap)."""
    names = sorted((n for n in diffs if n != "no probe"), key=lambda n: median(diffs[n]))
    apart_pairs, close = [], []
    for a, b in zip(names, names[1:]):
        (apart_pairs if apart(diffs[a], diffs[b]) else close).append(f"{a} and {b}")
    text = ("In order of cost, each mechanism against the next: " +
            (f"apart by more than the noise (no round of one overlaps the other's range): {'; '.join(apart_pairs)}."
             if apart_pairs else "none is apart from the next by more than the noise.") +
            (f" Within the noise of each other: {'; '.join(close)}." if close else ""))
    return text


PIPELINE_LABEL = {"classic": "classic (open_perf_buffer callback)", "runner": "runner (sources.PerfBuffer)",
                  "ringbuf": "ringbuf (open_ring_buffer callback)", "runner_ringbuf": "runner (sources.RingBuffer)",
                  "percpu_count": "per-CPU count, read once a second"}


def pipeline_rows(cpu, ramps, rate):
    """cpu: {way: [paced run dicts at `rate`]}; ramps: {way: [ramp dicts]}."""
    rows, lines, best = [], [], {}
    for way in cpu:
        per_event = summary([r["cpu_per_event_ns"] for r in cpu[way]])
        exact = sum(r["exact"] for r in cpu[way])
        lost = sum(r["lost"] for r in cpu[way])
        ceilings = [r["ceiling"] for r in ramps.get(way, [])]
        best[way] = median(ceilings)
        bounds = sorted({r["bound"] for r in ramps.get(way, [])})
        rows.append([PIPELINE_LABEL.get(way, way), fmt_spread(per_event, 0, " ns"), str(lost),
                     fmt_spread(summary(ceilings)) if ceilings else "-", "/".join(bounds) or "-",
                     f"{exact}/{len(cpu[way])}"])
    med = {way: median([r["cpu_per_event_ns"] for r in runs]) for way, runs in cpu.items()}
    for mine, theirs in (("runner", "classic"), ("runner_ringbuf", "ringbuf"), ("ringbuf", "classic"),
                         ("percpu_count", "classic")):
        if mine in med and theirs in med:
            lines.append(ratio_line("cpu_per_event_ratio", f"{mine}/{theirs}", ratio(med[mine], med[theirs])))
        if mine in best and theirs in best:
            lines.append(ratio_line("zero_loss_ceiling_ratio", f"{mine}/{theirs}", ratio(best[mine], best[theirs])))
    for way in cpu:
        lines.append(ratio_line("cpu_per_event_ns", way, med[way], digits=0))
        if way in best:
            lines.append(ratio_line("zero_loss_ceiling", way, best[way], digits=0))
    headers = ["consumer", f"CPU per event at {rate:,} events/s", "lost at that rate", "zero-loss ceiling (events/s)",
               "ramp stopped by", "delivered+lost=calls"]
    return headers, rows, lines


def plot(path, startup, throughput, added, pipeline=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("startup", "pipeline", "throughput", "cost") if {"startup": startup, "throughput": throughput,
                                                                              "cost": added, "pipeline": pipeline}[p]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.6), squeeze=False)
    axes = list(axes[0])
    if startup:
        ax = axes.pop(0)
        names = list(startup)
        for i, (kind, color) in enumerate((("runner", "tab:blue"), ("plain", "tab:gray"))):
            meds = [median(startup[n][kind]) or 0 for n in names]
            lo = [m - min(v for v in startup[n][kind] if v is not None) for m, n in zip(meds, names)]
            hi = [max(v for v in startup[n][kind] if v is not None) - m for m, n in zip(meds, names)]
            ax.bar([x + i * 0.38 for x in range(len(names))], meds, 0.38, yerr=[lo, hi], capsize=3,
                   label="python3 -m runner" if kind == "runner" else "plain script", color=color)
        ax.set_xticks([x + 0.19 for x in range(len(names))], [n.replace("lesson", "") for n in names])
        ax.set_xlabel("lesson")
        ax.set_ylabel("seconds to the first event")
        ax.set_title("Start-up (median, min-max)")
        ax.legend()
    if pipeline:
        ax = axes.pop(0)
        cpu, ramps = pipeline
        ways = list(cpu)
        per_event = [median([r["cpu_per_event_ns"] for r in cpu[w]]) or 0 for w in ways]
        bars = ax.bar(range(len(ways)), per_event, color=["tab:gray", "tab:blue", "tab:olive", "tab:cyan",
                                                           "tab:purple"][:len(ways)])
        ax.set_yscale("log")
        for bar, way in zip(bars, ways):
            ceiling = median([r["ceiling"] for r in ramps.get(way, [])])
            if ceiling:
                ax.annotate(f"{ceiling / 1e3:,.0f}k/s", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(ways)), [w.replace("_", "\n") for w in ways], fontsize=8)
        ax.set_ylabel("consumer CPU ns per event (log)")
        ax.set_title("Consumers: CPU per event,\nzero-loss ceiling above each bar", fontsize=10)
    if throughput:
        ax = axes.pop(0)
        keys = list(throughput)
        labels = [f"{way}\n{size}" for size, way in keys]
        delivered = [median([r["delivered_per_s"] for r in throughput[k]]) / 1e3 for k in keys]
        lost = [median([r["lost_per_s"] for r in throughput[k]]) / 1e3 for k in keys]
        ax.bar(range(len(keys)), delivered, color="tab:green", label="delivered")
        ax.bar(range(len(keys)), lost, bottom=delivered, color="tab:red", alpha=0.6, label="lost")
        ax.set_xticks(range(len(keys)), labels, fontsize=8)
        ax.set_ylabel("thousand events per second")
        ax.set_title("Flood of getppid(): delivered and lost")
        ax.legend()
    if added:
        ax = axes.pop(0)
        names = [n for n in added if n != "no probe"]
        ax.barh(names[::-1], [added[n] for n in names][::-1], color="tab:purple")
        ax.set_xlabel("ns added per traced call (median)")
        ax.set_title("What tracing costs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(info, sections, lines, total):
    out = ["# Benchmark results", "",
           f"Machine: Linux {info['kernel']}, {info['cpu']}, {info['cores']} cores, Python {info['python']}; "
           f"{info['date']}, load average at the start {info['load']} (the machine was shared: read medians and "
           "spreads, not single runs).", "", f"Produced by `sudo .venv/bin/python -m bench` in {total:.0f} s.", ""]
    for title, text, headers, rows in sections:
        out += [f"## {title}", "", text, "", markdown_table(headers, rows), ""]
    out += ["## Ratio lines", "", "```", *lines, "```", "", "![benchmark plot](results.png)", ""]
    return "\n".join(out)


def terminal(title, headers, rows):
    return f"\n{title}\n{text_table(headers, rows)}"
