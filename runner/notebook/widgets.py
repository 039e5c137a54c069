"""The notebook's view of a controller: Start/Stop, the duration slider, live HTML tables with bars, a histogram.

Only controls() builds one, so ipywidgets is imported only when a notebook shows its controls.
The view reads the controller (its records, counts and last summary) and calls its start/stop.
"""

import html
import re
import time

from ..language import _

REFRESH = 0.25  # seconds between two redraws while events arrive
# Laid out for a projector (1280x720, JupyterLab's file browser open): a cell never wraps (a value longer than
# CELL_CHARS ends in an ellipsis, whole in its tooltip), the tables stand side by side only where they fit, and
# the summary breaks lines between words only.
CELL_CHARS = 24
TABLE = "font-family:monospace;font-size:12px;line-height:18px;border-collapse:collapse;margin:0"
CELL = (f"padding:1px 8px;text-align:left;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;"
        f"max-width:{CELL_CHARS}ch")
BAR = "display:block;height:12px;background:#4c72b0"
BAR_WIDTH = 160
SUMMARY = ("font-family:monospace;font-size:12px;white-space:pre-wrap;word-break:normal;overflow-wrap:normal;"
           "margin:4px 0")


class View:
    def __init__(self, controller):
        import ipywidgets as w
        c = self.c = controller
        self._drawn = 0.0
        # TRANSLATORS: the label of the notebook's button that starts a run
        start = w.Button(description=_("Start"), icon="play", button_style="success",
                         tooltip=_("Start the workload and trace for the chosen duration"))
        # TRANSLATORS: the label of the notebook's button that ends a run
        stop = w.Button(description=_("Stop"), icon="stop", tooltip=_("End the run now (the probes stay attached)"))
        # TRANSLATORS: the label of the slider that sets how many seconds a run traces
        self.slider = w.FloatSlider(value=c.duration, min=1, max=60, step=1, description=_("Duration (s)"),
                                    continuous_update=False, readout_format=".0f")
        workload = w.Checkbox(value=bool(c.lesson.workload), description=_("Start the lesson's workload"),
                              disabled=not c.lesson.workload, indent=False)
        # TRANSLATORS: Start is the notebook's Start button
        self.status_html = w.HTML(value=_status(c.attached and _("Ready: press Start.")
                                                or _("Not attached yet: Start attaches first.")))
        self.events, self.counts = w.HTML(), w.HTML()
        self.summary, self.histogram, self.flamegraph = w.HTML(value=""), w.HTML(value=""), w.HTML(value="")
        for widget, name in ((self.status_html, "status"), (self.events, "events"), (self.counts, "counts"),
                             (self.summary, "summary"), (self.histogram, "histogram"), (self.flamegraph, "flamegraph")):
            widget.add_class(f"bcc-lessons-{name}")
        start.on_click(lambda _: c.start_clicked(workload.value))
        stop.on_click(lambda _: c.stop())
        title = html.escape(_("Counts (summed over the map reads)") if c.table else _("Events per process"))
        recent = "<b>{}</b>".format(html.escape(_("Last map read") if c.table else _("Recent events")))
        side = w.Layout(margin="0 32px 8px 0")
        self.box = w.VBox([w.HBox([start, stop, self.slider, workload], layout=w.Layout(flex_flow="row wrap")),
                           self.status_html,
                           w.HBox([w.VBox([w.HTML(recent), self.events], layout=side),
                                   w.VBox([w.HTML(f"<b>{title}</b>"), self.counts], layout=side),
                                   self.histogram], layout=w.Layout(flex_flow="row wrap", align_items="flex-start")),
                           self.flamegraph, self.summary])
        self.box.add_class("bcc-lessons-controls")
        self.refresh(force=True)

    @property
    def duration(self):
        return self.slider.value

    def status(self, text):
        self.status_html.value = _status(text)

    def refresh(self, force=False):
        now = time.monotonic()
        if not force and now - self._drawn < REFRESH:
            return
        self._drawn = now
        c = self.c
        self.events.value = html_table(c.lesson, c.lesson.columns, c.recent_records(), "bcc-lessons-events-table")
        self.counts.value = html_table(c.lesson, c.count_columns(), c.count_rows(), "bcc-lessons-counts-table",
                                       bars=True)
        live = c.live_histograms()
        if live:  # histograms summed from a map lesson's rows: redrawn at each read, while the run goes on
            self.histogram.value = histograms_html(live)
        if force:
            last = c.last or {}
            if not live:
                self.histogram.value = histograms_html([last.get("histogram"), *(last.get("histograms") or [])])
            self.summary.value = summary_html("\n".join(c.summary_lines())) if c.last else ""
            self.flamegraph.value = flamegraph_html(last.get("flamegraph"))


def flamegraph_html(graph):
    """A profiling lesson's flame graph, the SVG file its run wrote, shown inline (scrolls where it is wider)."""
    if not graph:
        return ""
    try:
        with open(graph["svg"]) as f:
            svg = f.read()
    except OSError as err:
        said = _("The flame graph {svg} cannot be read ({reason}).").format(svg=graph["svg"], reason=err.strerror)
        return f"<div>{html.escape(said)}</div>"
    return f"<div class='bcc-lessons-flamegraph-svg' style='overflow-x:auto;max-width:100%'>{svg}</div>"


def summary_html(text):
    """Text in lines that break between words only: a word with a hyphen (a kernel release, bcc-workload) is kept
    whole too, where a browser would break after the hyphen."""
    words = re.split(r"(\S+)", text)
    words[1::2] = [f"<span style='white-space:nowrap'>{html.escape(w)}</span>" if "-" in w else html.escape(w)
                   for w in words[1::2]]
    return f"<pre class='bcc-lessons-summary-text' style='{SUMMARY}'>{''.join(words)}</pre>"


def _status(text):
    return f"<div class='bcc-lessons-status-text'>{html.escape(text)}</div>"


def _format(lesson, key, value):
    if value is None:
        return "-"  # a row without that key, as the terminal shows it: a histogram of all processes has no pid
    try:
        return lesson.column(key)[2] % value
    except TypeError:
        return str(value)


def _cell(tag, text):
    """One table cell: never wrapped; a long value is cut with an ellipsis and shown whole as its tooltip."""
    title = f" title='{html.escape(text, quote=True)}'" if len(text) > CELL_CHARS else ""
    return f"<{tag} style='{CELL}'{title}>{html.escape(text)}</{tag}>"


def _bar(count, top, width=BAR_WIDTH):
    length = max(1, round(width * count / (top or 1))) if count else 0
    return f"<td style='padding:1px 8px;width:{width}px'><span style='{BAR};width:{length}px'></span></td>"


def html_table(lesson, columns, rows, css, bars=False):
    """The rows as a table; with bars, each row ends in a bar of its count (scaled to the largest), so a bar
    stands next to what it counts."""
    head = "".join(_cell("th", lesson.column(k)[0]) for k in columns) + ("<th></th>" if bars and rows else "")
    top = max((r.get("count", 0) for r in rows), default=0)
    body = "".join("<tr>" + "".join(_cell("td", _format(lesson, k, r.get(k, ""))) for k in columns)
                   + (_bar(r.get("count", 0), top) if bars else "") + "</tr>" for r in rows)
    if not rows:
        # TRANSLATORS: what a table of events shows before the first event arrived
        empty = html.escape(_("nothing yet"))
        body = f"<tr><td colspan='{len(columns)}' style='{CELL}'><i>{empty}</i></td></tr>"
    return f"<table class='{css}' style='{TABLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bars_html(bars, css):
    """One horizontal bar per (label, count), scaled to the largest count: a table, so a label never runs into
    its bar."""
    if not bars:
        return ""
    top = max(count for _, count in bars)
    rows = "".join(f"<tr>{_cell('td', str(label))}{_bar(count, top)}{_cell('td', str(count))}</tr>"
                   for label, count in bars)
    return f"<table class='{css}' style='{TABLE};margin-top:6px'><tbody>{rows}</tbody></table>"


SECTIONS = 6  # histograms drawn side by side at most (the most counted first); the summary has every one


def histogram_html(histogram):
    """A lesson's histogram (summary["histogram"], or one of its "histograms"): one bar per bucket, labelled
    "low -> high" (log2) or its value (linear), from the first bucket that counted something."""
    if not histogram or not histogram.get("buckets"):
        return ""
    buckets = histogram["buckets"]
    first = next((i for i, b in enumerate(buckets) if b["count"]), len(buckets))
    bars = [(str(b["low"]) if histogram.get("linear") else f"{b['low']} -> {b['high']}", b["count"])
            for b in buckets[first:]]
    title = html.escape(histogram["label"])
    if histogram.get("section"):
        title = f"{html.escape(histogram['section'])}<br>{title}"
    return f"<div style='margin:0 24px 8px 0'><b>{title}</b>" + bars_html(bars, css="bcc-lessons-histogram-bars") \
        + "</div>"


def histograms_html(histograms):
    """Several histograms side by side (print_log2_hist()'s sections), the most counted first."""
    drawn = [h for h in histograms if h and h.get("buckets")]
    drawn.sort(key=lambda h: -sum(b["count"] for b in h["buckets"]))
    more = len(drawn) - SECTIONS
    body = "".join(histogram_html(h) for h in drawn[:SECTIONS])
    if more > 0:
        # TRANSLATORS: {more} histograms that are not drawn here, beside the ones drawn
        said = _("and {more} more: the summary below draws every one").format(more=more)
        body += f"<div><i>{html.escape(said)}</i></div>"
    return f"<div style='display:flex;flex-flow:row wrap;align-items:flex-start'>{body}</div>" if body else ""
