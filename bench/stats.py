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
