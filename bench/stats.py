"""Pure helpers of the benchmark: medians and spreads, the checkable ratio lines, the markdown table.

No BPF, no root: tests/unit/test_bench.py covers them.
"""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """How far the runs lie apart: max - min (with 3 to 7 runs, the honest measure of noise)."""
    values = [v for v in values if v is not None]
    return max(values) - min(values) if values else None


def summary(values):
    """{"median", "spread", "min", "max", "n"} of a list of measurements (None entries are failed runs)."""
    kept = [v for v in values if v is not None]
    return {"median": median(kept), "spread": spread(kept), "min": min(kept) if kept else None,
            "max": max(kept) if kept else None, "n": len(kept)}


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def paired_ratio(numerators, denominators):
    """The median of numerator_i / denominator_i over the runs both ways completed: each pair ran back to back, so a
    slow moment of a shared machine slows both of one pair, where a ratio of the two medians would compare runs
    made at different moments."""
    return median([ratio(n, d) for n, d in zip(numerators, denominators) if n is not None and d is not None])


def ratio_line(kind, name, value, digits=2):
    """One line a script can check: `startup_ratio lesson1 1.04`, `cost_ns perf_submit 850`."""
    if value is None:
        text = "nan"
    elif digits == 0:
        text = str(int(round(value)))
    else:
        text = f"{value:.{digits}f}"
    return f"{kind} {name} {text}"


def fmt(value, digits=0, unit=""):
    if value is None:
        return "-"
    if digits == 0:
        text = f"{int(round(value)):,}"
    else:
        text = f"{value:,.{digits}f}"
    return text + unit


def fmt_spread(s, digits=0, unit=""):
    """`1,234 ± 56` style: the median and half the range of the runs."""
    if s["median"] is None:
        return "failed"
    return f"{fmt(s['median'], digits, unit)} ± {fmt(s['spread'] / 2, digits)}"


def markdown_table(headers, rows, align=None):
    """A GitHub markdown table; align is a string of 'l'/'r' per column (default: first left, others right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(c) for c in row] for row in rows]
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def text_table(headers, rows):
    """The same table for the terminal: columns padded to their widest cell."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the pipeline measures: CPU per event at a fixed rate, and the zero-loss ceiling of a ramp ---------------------

def cpu_per_event(cpu_seconds, events):
    """Nanoseconds of the consumer's CPU time per event it read (None when it read none)."""
    if not events:
        return None
    return cpu_seconds * 1e9 / events


def _lossy_asked(steps):
    return [s["asked_per_s"] for s in steps if s["lost"]]


def zero_loss_ceiling(steps):
    """The highest rate a consumer read with nothing lost: the offered rate of the fastest clean run (lost == 0)
    asked for less than the slowest lossy one. A clean run asked for more than a lossy one does not count: one
    lucky second is not a rate the consumer keeps up with. None when every run lost events."""
    lossy = _lossy_asked(steps)
    first_loss = min(lossy) if lossy else float("inf")
    clean = [s["offered_per_s"] for s in steps if not s["lost"] and s["asked_per_s"] < first_loss]
    return max(clean) if clean else None


def ramp_bracket(steps):
    """(the highest clean asked rate below the first lossy one, the lowest lossy asked rate): where to look next.
    Either is None when the ramp has no such run (nothing lost yet, or nothing clean)."""
    lossy = _lossy_asked(steps)
    high = min(lossy) if lossy else None
    clean = [s["asked_per_s"] for s in steps if not s["lost"] and (high is None or s["asked_per_s"] < high)]
    return (max(clean) if clean else None), high


def ceiling_bound(steps):
    """What stopped the ramp: "consumer" when a run lost events, "producer" when none did (the traced program could
    call no faster, so the consumer's real ceiling is higher still)."""
    return "consumer" if _lossy_asked(steps) else "producer"


def apart(a, b):
    """Whether two sets of runs differ by more than their noise: their ranges (min to max) do not overlap."""
    a, b = [v for v in a if v is not None], [v for v in b if v is not None]
    if not a or not b:
        return False
    return max(a) < min(b) or max(b) < min(a)
