"""Terminal output: BCC-style columns, or JSON lines; rich only on a tty.

rich is imported lazily, only to highlight code or markdown on a terminal, so
it costs nothing on the start-up path of `--json`, `--quiet` or piped runs.
"""

import json
import sys
import unicodedata

from .language import _, ngettext


def width(text):
    """The columns `text` takes on a terminal: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text, columns):
    """`text` padded with spaces to `columns` terminal columns, as f"{text:<columns}" does for ASCII."""
    return text + " " * max(0, columns - width(text))


def cell(lesson, key, value):
    header, width, fmt = lesson.column(key)
    if value is None:
        return "-".ljust(width)  # a row without that key: a histogram of all processes has no pid
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


def log2_lines(label, rows, width=40, linear=False):
    """BCC's print_log2_hist() layout, one line a bucket, or with linear=True print_linear_hist()'s, one line a
    value; each with a bar scaled to the largest count."""
    most = max((r["count"] for r in rows), default=0) or 1
    lines = [f"{label:>13}     : count     distribution" if linear else f"{label:>24} : count     distribution"]
    for r in rows:
        bar = "*" * round(width * r["count"] / most)
        bucket = f"{r['low']:>10}       " if linear else f"{r['low']:>10} -> {r['high']:<10}"
        lines.append(f"{bucket} : {r['count']:<9} |{bar:<{width}}|")
    return lines


def linear_rows(buckets):
    """A linear histogram's buckets ({value: count}) as rows {low, high, count}, from the lowest counted value
    to the highest, the empty ones between included (as print_linear_hist() prints them)."""
    counted = {k: n for k, n in buckets.items() if n}
    if not counted:
        return []
    return [{"low": k, "high": k, "count": counted.get(k, 0)} for k in range(min(counted), max(counted) + 1)]


def histogram_lines(hist):
    """One histogram of a summary ({"label", "buckets", and for sections "section", "linear"}) as BCC draws it."""
    head = [hist["section"]] if hist.get("section") else []
    return head + log2_lines(hist["label"], hist["buckets"], linear=bool(hist.get("linear")))


class Histograms:
    """Histograms summed from a map lesson's rows: a row with "slot" (a log2 bucket, as bpf_log2l() numbers it) or
    "value" (a linear one) adds its "count" there, in the histogram of its "section" (print_log2_hist()'s
    section_header: one histogram per pid, per command...) and "unit" (the label; default: the lesson's)."""

    def __init__(self, label):
        self.label, self.counts = label, {}

    @staticmethod
    def takes(record):
        return "slot" in record or "value" in record

    def add(self, record):
        linear = "value" in record
        key = (record.get("section") or "", record.get("unit") or self.label, linear)
        bucket = int(record["value"] if linear else record["slot"])
        counts = self.counts.setdefault(key, {})
        counts[bucket] = counts.get(bucket, 0) + int(record.get("count", 1))

    def summary(self):
        """[{label, section, linear, buckets}], safe to call from another thread while add() goes on (a notebook
        draws the histograms while its run adds to them: list() and dict() copy in one step under the GIL)."""
        return [{"label": unit, "section": section, "linear": linear,
                 "buckets": (linear_rows if linear else log2_rows)(dict(counts))}
                for (section, unit, linear), counts in list(self.counts.items())]


BURST = 0.01  # seconds between two events alike that make them one burst on the terminal


class Output:
    """The terminal's sink of a run (session.Sink's methods): narration, BCC-style columns or JSON lines, the summary."""

    def __init__(self, lesson=None, json_mode=False, quiet=False, stream=None):
        self.lesson = lesson
        self.json = json_mode
        self.quiet = quiet or json_mode
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._console = None
        self._last, self._repeats = None, 0  # the last event line's cells but its time, and how many were like it
        self._when = None                    # the last event's time

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
        self.interrupt_repeats()
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
    def header(self):
        if not self.json:
            columns = [self.lesson.column(k) for k in self.lesson.columns]
            print(row(header.ljust(width) for header, width, _ in columns), file=self.stream, flush=True)

    def interval(self, number, empty=False):
        """A map lesson's interval: a time stamp and the column header (text mode only)."""
        if not self.json:
            import time
            self.interrupt_repeats()
            print(f"\n{time.strftime('%H:%M:%S')}  " + _("interval {number}").format(number=number), file=self.stream)
            self.header()
            if empty:
                print(_("(nothing counted)"), file=self.stream, flush=True)

    def event(self, record):
        if self.json:
            self.stream.write(json.dumps(record) + "\n")
            return
        # A burst, events that differ only in their time and come within BURST seconds of each other, is one line
        # and a count (--json keeps every one)
        cells = [cell(self.lesson, k, record.get(k, "")) for k in self.lesson.columns]
        same = tuple(c for k, c in zip(self.lesson.columns, cells) if k != "time")
        when = record.get("time")
        close = isinstance(when, (int, float)) and self._when is not None and 0 <= when - self._when < BURST
        self._when = when if isinstance(when, (int, float)) else None
        if same == self._last and close:
            self._repeats += 1
            return
        self._end_repeats()
        self._last = same
        self.stream.write(row(cells) + "\n")

    def _end_repeats(self):
        if self._repeats:
            self.stream.write(f"{'':<18} " + ngettext(
                "... and {n} more like the line above within {ms:.0f} ms of each other (--json shows each)",
                "... and {n} more like the line above within {ms:.0f} ms of each other (--json shows each)",
                self._repeats).format(n=self._repeats, ms=BURST * 1000) + "\n")
        self._repeats = 0

    def interrupt_repeats(self):
        """Something else is printed: the count of the lines it stands for first, then nothing is like it."""
        self._end_repeats()
        self._last = None

    def lost(self, count):
        """Where the kernel dropped events, in line with them (text mode; --json has the total in its summary)."""
        if not self.json:
            self.interrupt_repeats()
            self.stream.write(ngettext("Lost {n} event: the buffer filled faster than they were read.",
                                       "Lost {n} events: the buffer filled faster than they were read.",
                                       count).format(n=count) + "\n")

    def flush(self):
        self.stream.flush()

    def stop_requested(self):
        return False

    def summary(self, summary):
        if self.json:
            print(json.dumps({"summary": summary}), file=self.stream, flush=True)
            return
        # --quiet leaves out narration and code, never the summary ("just the events and the summary")
        self.interrupt_repeats()
        print("\n" + "\n".join(summary_lines(summary)), file=self.stream, flush=True)


def counted(n, singular, plural):
    """"1 row", "3 rows" in the runner's language (ngettext with {n})."""
    return ngettext(singular, plural, n).format(n=n)


def caused(work):
    """The events the workload's report says it caused: its ops and its "also" ([{"count", "why"}])."""
    return work["ops"] + sum(a["count"] for a in work.get("also") or [] if a.get("count"))


def accounted(work, seen):
    """What makes the workload's events add up: its ops, the events it causes besides them (its report's "also":
    [{"count", "why"}], such as its own start), and what is left over either way."""
    if work.get("sampled"):
        return ""  # samples of its time, not one event per operation: nothing to add up
    also = [a for a in work.get("also") or [] if a.get("count")]
    total = caused(work)
    text = ""
    if also:
        text = _(": its {ops}, and ").format(ops=work["ops"]) + _("; and ").join(
            _("{count} more: {why}").format(count=a["count"], why=a["why"]) for a in also)
    if seen < total:
        text += _(" ({missing} of the {total} it caused did not arrive)").format(missing=total - seen, total=total)
    elif seen > total:
        text += (_(" ({extra} more than it made: other code in its process or children)") if work.get("pids") else
                 _(" ({extra} more than it made: other code in its process)")).format(extra=seen - total)
    return text


def summary_lines(summary, attached=False):
    """What a run saw, in sentences: the terminal prints them after the last event, a notebook under its tables."""
    s = summary
    table = "rows" in s  # a map lesson: rows aggregate events in the kernel
    lost = _("loss is not reported by trace_pipe") if s["lost"] is None else _("{lost} lost").format(lost=s["lost"])
    if s.get("lost_unreported"):
        lost = _("{lost} lost as the kernel reported, at least {least} in fact").format(
            lost=s["lost"], least=s["lost"] + s["lost_unreported"])
    if table:
        lines = [_("{events} events counted in the kernel, shown as {rows} over {intervals} in {seconds:.1f} s.").format(
            events=s["events"], rows=counted(s["rows"], _("{n} row"), _("{n} rows")),
            intervals=counted(s["intervals"], _("{n} interval"), _("{n} intervals")), seconds=s["duration"])]
        full = s.get("full_maps")
        if full:
            lines.append(_("The map {maps} was full at a read: a full map refuses new keys without a word to user "
                           "space, so counts of keys it had no room for are missing.").format(maps=", ".join(full)))
    else:
        lines = [_("{events} events in {seconds:.1f} s, {lost}.").format(events=s["events"], seconds=s["duration"],
                                                                         lost=lost)]
    work = s.get("workload")
    if work:
        pids = ", ".join(map(str, work.get("pids") or []))
        if table:
            seen = (_("the map counted {n} for its children (pids {pids})") if work.get("children_only") else
                    _("the map counted {n} for its pid")).format(n=s["workload_events"], pids=pids)
        else:
            seen = (_("{n} of the events above are its children's") if work.get("children_only") else
                    _("{n} of the events above are its and its children's") if work.get("pids") else
                    _("{n} of the events above are its")).format(n=s["workload_events"])
        lines.append(_("The workload (pid {pid}, {comm}) made {ops} {what}; {seen}{accounted}.").format(
            pid=work["pid"], comm=work["comm"], ops=work["ops"], what=work["what"], seen=seen,
            accounted=accounted(work, s["workload_events"])))
        dropped = s.get("lost_by_pid")
        if dropped is not None and s["lost"]:
            from .workload import pids as workload_pids  # stdlib only: nothing more to import
            mine_pids = set(workload_pids(work))
            mine = sum(n for pid, n in dropped.items() if int(pid) in mine_pids)
            lines.append(_("The program counted {mine} of the workload's events as dropped (no room in the buffer) "
                           "and {others} of other processes'.").format(mine=mine, others=sum(dropped.values()) - mine))
    elif s.get("workload_pid"):
        lines.append(_("The workload (pid {pid}) had not finished when the run ended; {n} events were its. Raise the "
                       "duration to see all of it.").format(pid=s["workload_pid"], n=s["workload_events"]))
    graph = s.get("flamegraph")
    if graph:
        top = ", ".join(f"{name if len(name) <= 40 else name[:39] + chr(0x2026)} {100 * n / graph['samples']:.1f}%"
                        for name, n in list(graph["leaves"].items())[:5])
        samples = counted(graph["samples"], _("{n} sample"), _("{n} samples"))
        stacks = counted(graph["stacks"], _("{n} stack"), _("{n} stacks"))
        lines.append((_("Profile: {samples} in {stacks}; where they were (the stack's last frame): {top}.") if top else
                      _("Profile: {samples} in {stacks}.")).format(samples=samples, stacks=stacks, top=top))
        lines.append(_("Flame graph: {svg} (open it in a browser); folded stacks: {folded}.").format(
            svg=graph["svg"], folded=graph["folded"]))
    drawn = [h for h in [s.get("histogram"), *(s.get("histograms") or [])] if h and h["buckets"]]
    for hist in reversed(drawn):
        lines[:0] = histogram_lines(hist) + [""]
    if s["lost"]:
        lines.append(_("{n} events were lost: the buffer filled faster than user space read it.").format(n=s["lost"]))
    if s.get("lost_unreported"):
        lines.append(_("The kernel reported {lost} lost, yet {missing} of the workload's events did not arrive: it "
                       "reports a loss only with the next event written to that CPU's buffer, so its figure is a lower "
                       "bound (the workload's own count is exact).").format(
                           lost=s["lost"], missing=s["lost"] + s["lost_unreported"]))
    if s.get("stopped"):
        lines.append(_("Stopped before the end of the duration."))
    probes = ", ".join(f"{p['mechanism']} {p['target']}" for p in s["probes"])
    lines.append((_("Probes: {probes} (fallback); kernel {kernel}.") if s["fallbacks"] else
                  _("Probes: {probes}; kernel {kernel}.")).format(probes=probes, kernel=s["kernel"]))
    lines.append(_("Still attached: run the Detach cell, or shut the kernel down, to detach.") if attached
                 else _("Detached: nothing of this lesson is left in the kernel."))
    return lines


def error(err, stream=None):
    """One sentence, the fix, and any details (compiler or verifier output) on stderr."""
    stream = stream or sys.stderr
    print(_("error: {sentence}").format(sentence=err), file=stream)
    if getattr(err, "details", None):
        print(err.details.rstrip(), file=stream)
    if getattr(err, "fix", None):
        print(_("fix: {fix}").format(fix=err.fix), file=stream)
    stream.flush()
