"""Terminal output: BCC-style columns, or JSON lines; rich only on a tty.

rich is imported lazily, only to highlight code or markdown on a terminal, so
it costs nothing on the start-up path of `--json`, `--quiet` or piped runs.
"""

import json
import sys

# Known record keys: header, width and format, as BCC's tools print them.
COLUMNS = {
    "time": ("TIME(s)", 18, "%.9f"),
    "comm": ("COMM", 16, "%s"),
    "pid": ("PID", 7, "%d"),
    "ppid": ("PPID", 7, "%d"),
    "tid": ("TID", 7, "%d"),
    "cpu": ("CPU", 4, "%d"),
    "count": ("COUNT", 8, "%d"),
    "slept_ms": ("SLEPT(ms)", 10, "%.3f"),
    "function": ("FUNCTION", 16, "%s"),
    "message": ("MESSAGE", 0, "%s"),
}


def column(key):
    return COLUMNS.get(key, (key.upper(), 12, "%s"))


def cell(key, value):
    header, width, fmt = column(key)
    try:
        text = fmt % value
    except TypeError:
        text = str(value)
    return text.ljust(width)


def row(cells):
    return " ".join(cells).rstrip()


def log2_rows(buckets):
    """A log2 histogram's buckets ({k: count}, as bpf_log2l() numbers them) as rows {low, high, count}.

    Bucket 0 holds the value 0 and bucket k >= 1 the values 2**(k-1) to 2**k - 1. Rows run from
    bucket 1 (or 0, when it counted something) to the highest non-empty bucket, empty ones included.
    """
    counted = {k: n for k, n in buckets.items() if n}
    if not counted:
        return []
    first = 0 if counted.get(0) else 1
    return [{"low": 0 if k == 0 else 1 << (k - 1), "high": 0 if k == 0 else (1 << k) - 1,
             "count": counted.get(k, 0)} for k in range(first, max(counted) + 1)]


def log2_lines(label, rows, width=40):
    """BCC's print_log2_hist() layout: one line a bucket, with a bar scaled to the largest count."""
    most = max((r["count"] for r in rows), default=0) or 1
    lines = [f"{label:>24} : count     distribution"]
    for r in rows:
        bar = "*" * round(width * r["count"] / most)
        lines.append(f"{r['low']:>10} -> {r['high']:<10} : {r['count']:<9} |{bar:<{width}}|")
    return lines


class Output:
    """Where a run's narration, events and summary go."""

    def __init__(self, json_mode=False, quiet=False, stream=None):
        self.json = json_mode
        self.quiet = quiet or json_mode
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._console = None

    # -- narration (text mode only) --------------------------------------------------
    def console(self):
        if self._console is None:
            from rich.console import Console
            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def say(self, text=""):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def ready(self, text):
        """The "Tracing ... Hit Ctrl-C to end." line: on stderr in JSON mode, so scripts know probes are attached."""
        if self.json:
            print(text, file=sys.stderr, flush=True)
        else:
            self.say(text)

    def note(self, text):
        """A sentence the learner should not miss (fallbacks, warnings)."""
        if self.quiet:
            return
        if self.tty:
            self.console().print(f"[yellow]{text}[/yellow]")
        else:
            self.say(text)

    def code(self, path):
        if self.quiet:
            return
        text = path.read_text()
        if self.tty:
            from rich.syntax import Syntax
            self.console().rule(str(path.name), style="dim")
            language = {".py": "python"}.get(path.suffix, "c")
            self.console().print(Syntax(text, language, theme="ansi_dark", line_numbers=True, word_wrap=True))
            self.console().rule(style="dim")
        else:
            self.say(f"---- {path.name} ----")
            self.say(text.rstrip())
            self.say("-" * (len(path.name) + 10))

    def markdown(self, text):
        if self.tty:
            from rich.markdown import Markdown
            self.console().print(Markdown(text))
        else:
            print(text, file=self.stream)

    # -- events ---------------------------------------------------------------------
    def header(self, columns):
        if not self.json:
            print(row((column(k)[0].ljust(column(k)[1]) for k in columns)), file=self.stream, flush=True)

    def interval(self, number, columns, empty=False):
        """A map lesson's interval: a time stamp and the column header (text mode only)."""
        if not self.json:
            import time
            print(f"\n{time.strftime('%H:%M:%S')}  interval {number}", file=self.stream)
            self.header(columns)
            if empty:
                print("(nothing counted)", file=self.stream, flush=True)

    def event(self, record, columns):
        if self.json:
            self.stream.write(json.dumps(record) + "\n")
        else:
            self.stream.write(row((cell(k, record.get(k, "")) for k in columns)) + "\n")

    def flush(self):
        self.stream.flush()

    def summary(self, summary):
        if self.json:
            print(json.dumps({"summary": summary}), file=self.stream, flush=True)
            return
        table = "rows" in summary  # a map lesson: rows aggregate events in the kernel
        lost = "loss is not reported by trace_pipe" if summary["lost"] is None else f"{summary['lost']} lost"
        if table:
            lines = [f"{summary['events']} events counted in the kernel, shown as {summary['rows']} rows over "
                     f"{summary['intervals']} intervals in {summary['duration']:.1f} s (a map that is full refuses "
                     "new keys without saying so)."]
        else:
            lines = [f"{summary['events']} events in {summary['duration']:.1f} s, {lost}."]
        work = summary.get("workload")
        if work and table:
            lines.append(f"The workload (pid {work['pid']}, {work['comm']}) made {work['ops']} {work['what']}; "
                         f"the map counted {summary['workload_events']} for its pid.")
        elif work:
            lines.append(f"The workload (pid {work['pid']}, {work['comm']}) made {work['ops']} {work['what']}; "
                         f"{summary['workload_events']} of the events above are its.")
        hist = summary.get("histogram")
        if hist and hist["buckets"]:
            lines[:0] = log2_lines(hist["label"], hist["buckets"]) + [""]
        if summary["lost"]:
            lines.append(f"{summary['lost']} events were lost: the buffer filled faster than user space read it.")
        lines.append("Probes: " + ", ".join(f"{p['mechanism']} {p['target']}" for p in summary["probes"])
                     + (" (fallback)" if summary["fallbacks"] else "") + f"; kernel {summary['kernel']}.")
        lines.append("Detached: nothing of this lesson is left in the kernel.")
        # --quiet leaves out narration and code, never the summary ("just the events and the summary")
        print("\n" + "\n".join(lines), file=self.stream, flush=True)


def error(err, stream=None):
    """One sentence, the fix, and any details (compiler or verifier output) on stderr."""
    stream = stream or sys.stderr
    print(f"error: {err}", file=stream)
    if getattr(err, "details", None):
        print(err.details.rstrip(), file=stream)
    if getattr(err, "fix", None):
        print(f"fix: {err.fix}", file=stream)
    stream.flush()
