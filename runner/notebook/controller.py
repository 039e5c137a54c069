"""One lesson driven from a notebook: a session.Run loaded once, traced in a background thread, detached cleanly.

The Run does everything a run is (the glue's load(), the event source, the workload, the
deadline, the histogram, b.cleanup()); the controller adds a thread per Start, the tables of
what the run saw (recent records, counts), and the summary cell's output.
"""

import json
import os
import threading

from .. import lessons as lesson_list
from .. import language, render, session
from ..errors import RunnerError
from ..language import N_, _
from . import cleanup
from .sink import NotebookSink
from .unattended import unattended

DETACHED = N_("Detached: nothing of this lesson is left in the kernel.")
SUMMARY_MIME = "application/vnd.bcc-lessons.summary+json"  # saved in the notebook; no renderer, so text shows
KEPT = 200  # records kept for the tables


class Controller:
    """One lesson, driven from a notebook. Re-creating it for the same lesson detaches the previous one."""

    RECENT = 12        # records shown in the live table (and saved in the summary)
    SUMMARY_ROWS = 10  # rows of the summary's count table

    def __init__(self, lesson, duration=5.0, lang=None):
        if lang is not None:  # the notebook's language (a Chinese notebook speaks Chinese under any locale)
            language.use(lang)
        self.lesson = lesson_list.find(str(lesson))
        self.duration = float(duration)
        self.run = self.thread = self.view = None
        self.records, self.counts, self.intervals = [], {}, 0
        self.last = None  # the last finished run's summary
        self.error = None
        self.tracing_for = self.duration
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        # The outputs of the cells that say whether the lesson is attached (load, detach) and what the last run saw
        # (summary): each is updated in place when that changes (a Start after Run All, a detach), so no cell
        # still says "Detached" or "No run has finished yet" while the widget says otherwise.
        self._shown = {"state": [], "summary": []}
        self._attaches = 0
        for other in list(cleanup.LIVE):
            if other.lesson.number == self.lesson.number:
                other.detach(quiet=True)
                print(_("(The previous controller of {lesson} was detached.)").format(lesson=self.lesson.id))

    @property
    def table(self):
        return self.lesson.events == "table"

    @property
    def attached(self):
        return self.run is not None and self.run.attached

    probes = property(lambda self: self.run.probes if self.run is not None else [])
    fallbacks = property(lambda self: self.run.fallbacks if self.run is not None else [])
    warnings = property(lambda self: self.run.warnings if self.run is not None else "")

    def probes_text(self):
        text = self.run.describe_probes() if self.run is not None else ""
        # TRANSLATORS: {probes} are the probes a lesson attached, e.g. "kprobe __x64_sys_clone"
        return _("{probes} (fallback)").format(probes=text) if self.fallbacks else text

    def show_program(self):
        """The BPF program the glue compiles, straight from lessons/<folder>/<name>.c."""
        from IPython.display import Markdown
        path = self.lesson.program_path
        try:
            shown = path.relative_to(lesson_list.ROOT)
        except ValueError:  # a lessons folder outside the repository (BCC_LESSONS_DIR)
            shown = path
        return Markdown(f"`{shown}`\n\n```c\n{path.read_text().rstrip()}\n```")

    # -- attach and detach -------------------------------------------------------------------------
    def load(self):
        """Compile and attach with the glue's own load(); says which probes, and any fallback."""
        self._attach()
        self._show("state")

    def _attach(self):
        from .. import doctor
        if self.attached:
            return
        doctor.require_basics()
        cleanup.install_sigterm()
        run = session.Run(self.lesson, session.RunOptions(duration=self.duration, show_code=False),
                          NotebookSink(self))
        try:
            run.load()
        except RunnerError as err:
            render.error(err)
            raise
        self.run = run
        run.sink.loading = False
        cleanup.LIVE.add(self)
        self._attaches += 1
        self._update("state")

    def detach(self, quiet=False):
        """Stop a run, stop the workload, and detach every probe (BCC's b.cleanup())."""
        self.stop_event.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if self.run is not None:
            self.run.close()
        cleanup.LIVE.discard(self)
        self._status(_(DETACHED))
        self._refresh(force=True)
        if not cleanup.exiting:  # the kernel going away has no front end left to tell
            self._update("state")
            self._update("summary")
        if not quiet:
            self._show("state")

    # -- runs ----------------------------------------------------------------------------------------
    def start(self, duration=None, workload=True):
        """Trace for `duration` seconds (the slider's value) in a background thread, with the lesson's workload."""
        if self.running:
            return
        if not self.attached:
            self._attach()  # Start after a detach (or before the load cell): attach again
        self.stop_event.clear()
        with self._lock:
            self.records, self.counts, self.intervals, self.error, self.last = [], {}, 0, None, None
        if duration is None:
            duration = self.view.duration if self.view is not None else self.duration
        self.tracing_for = float(duration)
        self.thread = threading.Thread(target=self._trace, args=(self.tracing_for, workload),
                                       name=f"{self.lesson.id}-run", daemon=True)
        cleanup.LIVE.add(self)
        self.thread.start()
        self._update("summary")

    def stop(self):
        self.stop_event.set()

    def wait(self, timeout=None):
        if self.thread is not None:
            self.thread.join(timeout)
        return self.last

    @property
    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def _trace(self, duration, with_workload):
        run = self.run
        run.sink.begin()
        try:
            run.trace(duration=duration, with_workload=with_workload)
        except Exception as err:  # shown in the widget and by summary(); the notebook's kernel stays up
            self.error = err
        if run.summary is not None:
            summary = dict(run.summary, stopped=run.sink.stopped, counts=self.count_rows())
            with self._lock:
                summary["recent"] = self.records[-self.RECENT:]
            self.last = summary
        self._refresh(force=True)
        self._status(self._end_text())
        self._update("summary")

    def _end_text(self):
        if self.error is not None:
            return _("The run failed: {error}").format(error=self.error)
        if self.attached:
            # TRANSLATORS: Start is the notebook's Start button; the Detach cell is the notebook cell lesson.detach()
            return _("Run finished. Still attached: Start runs again; the Detach cell detaches.")
        return _("Run finished. Detached.")

    # -- what a run saw ---------------------------------------------------------------------------------
    def _names_a_thing(self, key, value):
        """A key of a count row: a number that names something (pid, port...), or anything not a number."""
        return self.lesson.names_a_thing(key) or not isinstance(value, (int, float)) or isinstance(value, bool)

    def _add(self, record):
        with self._lock:
            self.records.append(record)
            del self.records[:-KEPT]
            if self.table:
                key = tuple((k, record.get(k)) for k in self.lesson.columns
                            if k != "count" and self._names_a_thing(k, record.get(k)))
                row = self.counts.setdefault(key, dict(key, count=0))
                for k, v in record.items():
                    if k == "interval" or (k, v) in key or self.lesson.names_a_thing(k):
                        continue
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        row[k] = round(row.get(k, 0) + v, 6)
            else:
                key = (("pid", record.get("pid")),)
                row = self.counts.setdefault(key, {"pid": record.get("pid"), "comm": record.get("comm", ""), "count": 0})
                if record.get("comm") and record.get("comm") != "<...>":
                    row["comm"] = record["comm"]  # <...>: trace_pipe had not cached the name yet
                row["count"] += 1

    def count_rows(self):
        """Counts so far: per pid for events; for maps, each row's counts summed over the intervals read."""
        with self._lock:
            rows = [dict(r) for r in self.counts.values()]
        for r in rows:  # a probe on the whole machine sees this notebook's kernel too (it waits between reads)
            if r.get("pid") == os.getpid() and r.get("comm"):
                # TRANSLATORS: {comm} is a process name: the notebook's own kernel, seen by the probe
                r["comm"] = _("{comm} (this notebook)").format(comm=r["comm"])
        return sorted(rows, key=lambda r: (-r.get("count", 0), str(r.get("pid", ""))))

    def live_histograms(self):
        """The histograms a map lesson's rows add up to so far (see render.Histograms), or [] for the others."""
        run = self.run
        if run is None or not self.lesson.histogram or callable(getattr(run.glue, "histogram", None)):
            return []
        with self._lock:
            return run.histograms.summary() if getattr(run, "histograms", None) is not None else []

    def count_columns(self):
        if self.table:
            return list(self.lesson.columns) + ([] if "count" in self.lesson.columns else ["count"])
        return ["pid", "comm", "count"]

    def recent_records(self):
        """The live table's rows: the last events, or for a map lesson the rows of its last read."""
        with self._lock:
            recent = self.records[-self.RECENT:]
            if self.table and recent:
                recent = [r for r in self.records if r.get("interval") == recent[-1].get("interval")]
        return recent

    def summary_lines(self, summary=None):
        s = summary or self.last
        if s is None and self.running:
            return [_("A run is tracing for {seconds:g} s: its summary appears here when it ends.").format(
                seconds=self.tracing_for)]
        if s is None:
            return [_("No run has finished yet: press Start above (or call lesson.start()); its summary appears here "
                      "when it ends.")]
        return render.summary_lines(s, attached=self.attached)

    def text_table(self, rows):
        columns, lesson = self.count_columns(), self.lesson
        lines = [render.row(lesson.column(k)[0].ljust(lesson.column(k)[1]) for k in columns)]
        lines += [render.row(self._cut(render.cell(lesson, k, r.get(k, ""))) for k in columns) for r in rows]
        return "\n".join(lines)

    TEXT_CELL = 80  # characters: a longer value (a folded stack, a path) keeps its end, the part that tells

    @classmethod
    def _cut(cls, text):
        return text if len(text) <= cls.TEXT_CELL else "\u2026" + text.rstrip()[-(cls.TEXT_CELL - 1):]

    def summary(self):
        """The last run's summary, as text, with its counts; saved in the notebook (also as JSON, for tests).
        The output follows later runs: it shows the summary of whichever run ended last."""
        if self.running:
            self.wait()
        if self.error is not None:
            render.error(self.error)
        self._show("summary")

    def _bundle(self, kind):
        """What a cell of that kind shows now, as a display bundle."""
        if kind == "state":
            if self.attached and self._attaches > 1:
                text = _("Compiled {program} and attached again: {probes}. The Detach cell detaches.").format(
                    program=self.lesson.program_path.name, probes=self.probes_text())
            elif self.attached:
                text = _("Compiled {program} and attached: {probes}. The Detach cell detaches.").format(
                    program=self.lesson.program_path.name, probes=self.probes_text())
            elif self._attaches:
                text = _("Detached: nothing of this lesson is left in the kernel. Start attaches it again.")
            else:
                text = _(DETACHED)
            return {"text/plain": text}
        from .widgets import flamegraph_html, summary_html
        text = "\n".join(self.summary_lines())
        if self.last is not None:
            text += "\n\n" + self.text_table(self.last["counts"][:self.SUMMARY_ROWS])
        # html: lines break between words only; a sampling lesson's flame graph above them, saved with the notebook
        bundle = {"text/plain": text,
                  "text/html": flamegraph_html((self.last or {}).get("flamegraph")) + summary_html(text)}
        if self.last is not None:
            bundle[SUMMARY_MIME] = json.loads(json.dumps(self.last, default=str))
        return bundle

    def _show(self, kind):
        """Show the bundle in the running cell's output, and keep that output to update it."""
        from IPython.display import display
        handle = display(self._bundle(kind), raw=True, display_id=True)
        if handle is not None:
            self._shown[kind].append(handle)

    def _update(self, kind):
        """Every output of that kind says what is true now (from any thread: the kernel sends the update)."""
        if self._shown[kind]:
            bundle = self._bundle(kind)
            for handle in self._shown[kind]:
                handle.update(bundle, raw=True)

    # -- the widgets ---------------------------------------------------------------------------------
    def controls(self):
        """Start/Stop, the duration slider, and the live view. Unattended: run once now and wait for the end."""
        from IPython.display import display
        from .widgets import View
        self.view = View(self)
        display(self.view.box)
        if unattended():
            self.start(duration=self.duration)
            self.wait()

    def start_clicked(self, with_workload):
        try:
            self.start(workload=with_workload)
        except Exception as err:  # a failed attach: say it in the widget, not in the server log
            self.error = err
            self._status(_("Could not start: {error}").format(error=err))

    def _status(self, text):
        if self.view is not None:
            self.view.status(text)

    def _refresh(self, force=False):
        if self.view is not None:
            self.view.refresh(force)
