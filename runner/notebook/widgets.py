"""The notebook's view of a controller: Start/Stop, the duration slider, live HTML tables and bar charts.

Only controls() builds one, so ipywidgets is imported only when a notebook shows its controls.
The view reads the controller (its records, counts and last summary) and calls its start/stop.
"""

import html
import time

REFRESH = 0.25  # seconds between two redraws while events arrive
BAR = "display:inline-block;height:12px;background:#4c72b0"
TABLE = "font-family:monospace;font-size:12px;border-collapse:collapse"


class View:
    def __init__(self, controller):
        import ipywidgets as w
        c = self.c = controller
        self._drawn = 0.0
        start = w.Button(description="Start", icon="play", button_style="success",
                         tooltip="Start the workload and trace for the chosen duration")
        stop = w.Button(description="Stop", icon="stop", tooltip="End the run now (the probes stay attached)")
        self.slider = w.FloatSlider(value=c.duration, min=1, max=60, step=1, description="Duration (s)",
                                    continuous_update=False, readout_format=".0f")
        workload = w.Checkbox(value=bool(c.lesson.workload), description="Start the lesson's workload",
                              disabled=not c.lesson.workload, indent=False)
        self.status_html = w.HTML(value=_status(c.attached and "Ready: press Start."
                                                or "Not attached yet: Start attaches first."))
        self.events, self.counts, self.bars = w.HTML(), w.HTML(), w.HTML()
        self.summary, self.histogram = w.HTML(value=""), w.HTML(value="")
        for widget, name in ((self.status_html, "status"), (self.events, "events"), (self.counts, "counts"),
                             (self.bars, "bars"), (self.summary, "summary"), (self.histogram, "histogram")):
            widget.add_class(f"bcc-lessons-{name}")
        start.on_click(lambda _: c.start_clicked(workload.value))
        stop.on_click(lambda _: c.stop())
        title = "Counts (summed over the map reads)" if c.table else "Events per process"
        recent = "<b>Last map read</b>" if c.table else "<b>Recent events</b>"
        self.box = w.VBox([w.HBox([start, stop, self.slider, workload]), self.status_html,
                           w.HBox([w.VBox([w.HTML(recent), self.events]),
                                   w.VBox([w.HTML(f"<b>{title}</b>"), self.counts, self.bars])]),
                           self.histogram, self.summary])
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
        rows = c.count_rows()
        self.counts.value = html_table(c.lesson, c.count_columns(), rows, "bcc-lessons-counts-table")
        self.bars.value = bars_html([(c.bar_label(r), r.get("count", 0)) for r in rows[:c.BARS]])
        if force:
            last = c.last or {}
            self.histogram.value = histogram_html(last.get("histogram"))
            self.summary.value = ("<pre class='bcc-lessons-summary-text'>"
                                  + html.escape("\n".join(c.summary_lines())) + "</pre>") if c.last else ""


def _status(text):
    return f"<div class='bcc-lessons-status-text'>{html.escape(text)}</div>"


def _format(lesson, key, value):
    try:
        return lesson.column(key)[2] % value
    except TypeError:
        return str(value)


def html_table(lesson, columns, rows, css):
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{html.escape(lesson.column(k)[0])}</th>"
                   for k in columns)
    body = "".join("<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(_format(lesson, k, r.get(k, '')))}</td>"
                                    for k in columns) + "</tr>" for r in rows)
    if not rows:
        body = f"<tr><td colspan='{len(columns)}'><i>nothing yet</i></td></tr>"
    return f"<table class='{css}' style='{TABLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bars_html(bars, css="bcc-lessons-bars"):
    """One horizontal bar per (label, count), scaled to the largest count."""
    if not bars:
        return ""
    top = max(count for _, count in bars) or 1
    out = [f"<div class='{css}'>"]
    for label, count in bars:
        width = max(1, round(200 * count / top)) if count else 0
        out.append(f"<div style='display:flex;align-items:center;font-family:monospace;font-size:12px'>"
                   f"<span style='width:22em;overflow:hidden;white-space:nowrap'>{html.escape(str(label)[:40])}</span>"
                   f"<span style='{BAR};width:{width}px'></span>"
                   f"<span style='margin-left:6px'>{count}</span></div>")
    out.append("</div>")
    return "".join(out)


def histogram_html(histogram):
    """A lesson's log2 histogram (summary["histogram"]): one bar per bucket, labelled "low -> high"."""
    if not histogram or not histogram.get("buckets"):
        return ""
    bars = [(f"{b['low']} -> {b['high']}", b["count"]) for b in histogram["buckets"]]
    return (f"<b>{html.escape(histogram['label'])}</b>"
            + bars_html(bars, css="bcc-lessons-histogram-bars"))
