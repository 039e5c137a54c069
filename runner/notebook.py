"""Classroom notebooks: a lesson's own glue run from Jupyter, with Start/Stop, live tables and a clean detach.

A lesson's notebook (notebooks/lesson<N>_<name>.ipynb, written by notebooks/build.py)
holds the README's text and these calls, nothing else:

    lesson = notebook.Controller("lesson1", duration=duration)
    lesson.show_program()    # the lesson's .c file, as it is on disk
    lesson.load()            # the glue's load(): compile and attach
    lesson.controls()        # Start/Stop, duration slider, recent events, counts, bar chart
    lesson.summary()         # what the last run saw, as text (and JSON for tests)
    lesson.detach()          # nothing of the lesson stays in the kernel

The BCC work is the lesson's (load(), record()/snapshot()); loading, the event
sources, the polling loop and the workload are runner/session.py's and
runner/workload.py's, reused as they are. This module only adds widgets, a
background thread per run, and cleanup that also runs when the kernel is shut
down or receives SIGTERM.

Unattended runs (tests, CI): with BCC_LESSONS_UNATTENDED=1 in the kernel's
environment, controls() starts a run at once and returns when it is over, so
executing the notebook top to bottom traces `duration` seconds with the
lesson's workload and finishes by itself.

`python -m runner notebook` starts JupyterLab on 127.0.0.1 with a token (see serve()).
"""

import atexit
import html
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from . import lessons as lesson_list
from .errors import RunnerError, UsageError

ROOT = lesson_list.ROOT
NOTEBOOKS_DIR = ROOT / "notebooks"
KERNEL_NAME = "bcc-lessons"
UNATTENDED_ENV = "BCC_LESSONS_UNATTENDED"
SUMMARY_MIME = "application/vnd.bcc-lessons.summary+json"  # saved in the notebook; no renderer, so text shows
RECENT = 12        # events shown in the live table
BARS = 10          # rows in the bar chart
REFRESH = 0.25     # seconds between two widget updates while events arrive
IDS = {"pid", "tid", "ppid", "uid", "cpu", "port", "sport", "dport"}  # numbers that name things: never summed


def unattended():
    return os.environ.get(UNATTENDED_ENV, "") not in ("", "0")


# -- cleanup that outlives the notebook ---------------------------------------------------------------

_LIVE = set()  # controllers with something attached or running (strong refs: detached at exit even if unnamed)


def _cleanup_all():
    for controller in list(_LIVE):
        controller.detach(quiet=True)


atexit.register(_cleanup_all)  # the kernel shut down (Jupyter's shutdown, the notebook closed, Ctrl-C on the server)
_previous_sigterm = None


def _on_sigterm(signum, frame):
    """A kernel killed with SIGTERM: detach first, then die as SIGTERM would have."""
    _cleanup_all()
    if callable(_previous_sigterm):
        _previous_sigterm(signum, frame)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_sigterm():
    global _previous_sigterm
    if _previous_sigterm is None and threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGTERM)
        if current is not _on_sigterm:
            _previous_sigterm = current if callable(current) else signal.SIG_DFL
            signal.signal(signal.SIGTERM, _on_sigterm)


# -- one lesson in a notebook --------------------------------------------------------------------------


class _Stopped(Exception):
    """Stop was pressed, or detach() was called, while a run was polling."""


class _Collector:
    """What session.poll_until_done() writes to (an Output in the terminal): records into the controller's tables."""

    def __init__(self, controller):
        self.c = controller
        self.stopping = False

    def event(self, record, columns):
        self.c._add(record)

    def interval(self, number, columns, empty=False):
        self.c.intervals = number

    def flush(self):
        self.c._refresh()
        if self.c._stop.is_set() and not self.stopping:
            self.stopping = True  # raise once: the final map read that follows must not be interrupted
            raise _Stopped()


class Controller:
    """One lesson, driven from a notebook. Re-creating it for the same lesson detaches the previous one."""

    def __init__(self, lesson, duration=5.0):
        self.lesson = lesson_list.find(str(lesson))
        self.duration = float(duration)
        self.glue = self.b = self.source = self.thread = None
        self.probes, self.fallbacks, self.warnings = [], [], ""
        self.records, self.counts, self.intervals = [], {}, 0
        self.last = None  # the last finished run's summary
        self.error = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drawn = 0.0
        self._widgets = None
        for other in list(_LIVE):
            if other.lesson.number == self.lesson.number:
                other.detach(quiet=True)
                print(f"(The previous controller of {self.lesson.id} was detached.)")

    @property
    def table(self):
        return self.lesson.events == "table"

    # -- the lesson's files ------------------------------------------------------------------------
    def show_program(self):
        """The BPF program the glue compiles, straight from lessons/<folder>/<name>.c."""
        return _code(self.lesson.program_path, "c")

    # -- attach and detach -------------------------------------------------------------------------
    def load(self):
        """Compile and attach with the glue's own load(); says which probes, and any fallback."""
        from . import doctor, session
        if self.b is not None:
            print("Already attached: " + self._probes_text())
            return
        doctor.require_basics()
        _install_sigterm()
        self.glue = self.glue or self.lesson.import_glue()
        try:
            self.b, probes, self.warnings = session.load(self.glue, self.lesson)
        except RunnerError as err:
            _show_error(err)
            raise
        _LIVE.add(self)
        self.probes = [{"mechanism": m, "target": t} for m, t in probes]
        prefers = self.lesson.prefers
        self.fallbacks = [self.lesson.fallback] if prefers and not any(m in prefers for m, _ in probes) else []
        self.source = None
        print(f"Compiled {self.lesson.program_path.name} and attached: {self._probes_text()}.")
        for text in filter(None, [self.warnings, *self.fallbacks]):
            print(text)

    def detach(self, quiet=False):
        """Stop a run, stop the workload, and detach every probe (BCC's b.cleanup())."""
        self._stop.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if self.b is not None:
            self.source = None
            self.b.cleanup()
            self.b = None
        _LIVE.discard(self)
        if self._widgets:
            self._status("Detached: nothing of this lesson is left in the kernel.")
        if not quiet:
            print("Detached: nothing of this lesson is left in the kernel.")

    # -- runs ----------------------------------------------------------------------------------------
    def start(self, duration=None, workload=True):
        """Trace for `duration` seconds (the slider's value) in a background thread, with the lesson's workload."""
        if self.running:
            return
        if self.b is None:
            self.load()  # Start after a detach: attach again
        self._stop.clear()
        self.records, self.counts, self.intervals, self.error, self.last = [], {}, 0, None, None
        duration = float(duration if duration is not None else self._slider_value())
        self.thread = threading.Thread(target=self._run, args=(duration, workload), name=f"{self.lesson.id}-run",
                                       daemon=True)
        _LIVE.add(self)
        self.thread.start()

    def stop(self):
        self._stop.set()

    def wait(self, timeout=None):
        if self.thread is not None:
            self.thread.join(timeout)
        return self.last

    @property
    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def _fresh_source(self, opts, collector):
        """The lesson's event source, with what arrived before Start thrown away."""
        from . import session
        if self.source is None or isinstance(self.source, session.Table):
            if self.source is not None:
                self.glue.snapshot(self.b)  # counts from before Start: not this run's
            self.source = session.make_source(self.lesson, self.b, self.glue, opts, collector)
        else:
            self.source.poll(0)  # a perf buffer opens once per load; trace_pipe lines left over are dropped
            self.source.out = collector
        return self.source

    def _run(self, duration, with_workload):
        from . import doctor, session, workload
        lesson = self.lesson
        opts = SimpleNamespace(duration=duration, events=None, pages=8, interval=1.0, no_workload=not with_workload)
        summary = {"lesson": lesson.id, "kernel": doctor.kernel_release(), "events": 0, "lost": 0, "duration": 0.0,
                   "probes": self.probes, "fallbacks": self.fallbacks, "workload": None, "workload_pid": None,
                   "workload_events": 0}
        collector = _Collector(self)
        proc = None
        started = time.monotonic()
        try:
            source = self._fresh_source(opts, collector)
            lost_before = source.lost or 0
            self._status(f"Tracing {self._probes_text()} for {duration:g} s...")
            if with_workload and lesson.workload:
                params = {k: v for k, v in lesson.workload.items() if k != "kind"}
                proc = workload.start(lesson.workload["kind"], **params)
                summary["workload_pid"] = proc.pid
                self._status(f"Tracing {self._probes_text()} for {duration:g} s; workload pid {proc.pid} started.")
            try:
                session.poll_until_done(source, proc, opts, collector, lesson, summary, started)
            except _Stopped:
                if isinstance(source, session.Table) and self.b is not None:
                    session.read_final(source, opts, collector, lesson, summary, summary["workload_pid"])
            summary["lost"] = None if source.lost is None else source.lost - lost_before
            if isinstance(source, session.Table):
                summary["rows"], summary["intervals"] = source.rows, source.intervals
                source.rows = 0
        except Exception as err:  # shown in the widget and by summary(); the notebook's kernel stays up
            self.error = err
        finally:
            if proc is not None:
                if summary["workload"] is None and proc.poll() is not None:
                    summary["workload"] = workload.report(proc)
                workload.stop(proc)
        summary["duration"] = round(time.monotonic() - started, 3)
        summary["stopped"] = collector.stopping
        summary["counts"] = self.count_rows()
        summary["recent"] = self.records[-RECENT:]
        self.last = summary
        self._refresh(force=True)
        self._status(self._end_text())

    # -- what a run saw ---------------------------------------------------------------------------------
    def _add(self, record):
        with self._lock:
            self.records.append(record)
            del self.records[:-200]
            if self.table:
                key = tuple((k, record.get(k)) for k in self.lesson.columns if k != "count" and _is_key(k, record.get(k)))
                row = self.counts.setdefault(key, dict(key, count=0))
                for k, v in record.items():
                    if k in ("interval",) or (k, v) in key:
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
        return sorted(rows, key=lambda r: (-r.get("count", 0), str(r.get("pid", ""))))

    def count_columns(self):
        if self.table:
            return list(self.lesson.columns) + ([] if "count" in self.lesson.columns else ["count"])
        return ["pid", "comm", "count"]

    def summary_lines(self, summary=None):
        s = summary or self.last
        if s is None:
            return ["No run has finished yet: press Start above (or call lesson.start()), then run this cell again."]
        lost = "loss is not reported by trace_pipe" if s["lost"] is None else f"{s['lost']} lost"
        if "rows" in s:
            lines = [f"{s['events']} events counted in the kernel, read as {s['rows']} rows over {s['intervals']} "
                     f"intervals in {s['duration']:.1f} s."]
        else:
            lines = [f"{s['events']} events in {s['duration']:.1f} s, {lost}."]
        work = s.get("workload")
        if work:
            seen = "the map counted" if "rows" in s else "the tables above show"
            lines.append(f"The workload (pid {work['pid']}, {work['comm']}) made {work['ops']} {work['what']}; "
                         f"{seen} {s['workload_events']} for its pid.")
        elif s.get("workload_pid"):
            lines.append(f"The workload (pid {s['workload_pid']}) had not finished when the run ended; "
                         f"{s['workload_events']} events were its. Raise the duration to see all of it.")
        if s.get("stopped"):
            lines.append("Stopped before the end of the duration.")
        lines.append("Probes: " + ", ".join(f"{p['mechanism']} {p['target']}" for p in s["probes"])
                     + (" (fallback)" if s["fallbacks"] else "") + f"; kernel {s['kernel']}.")
        lines.append("Still attached: run the Detach cell, or shut the kernel down, to detach." if self.b is not None
                     else "Detached: nothing of this lesson is left in the kernel.")
        return lines

    def summary(self):
        """The last run's summary, as text, with its counts; saved in the notebook (also as JSON, for tests)."""
        from IPython.display import display
        if self.running:
            self.wait()
        if self.error is not None:
            _show_error(self.error)
        text = "\n".join(self.summary_lines())
        if self.last is not None:
            text += "\n\n" + _text_table(self.count_columns(), self.last["counts"][:BARS])
        bundle = {"text/plain": text}
        if self.last is not None:
            bundle[SUMMARY_MIME] = json.loads(json.dumps(self.last, default=str))
        display(bundle, raw=True)

    # -- widgets ---------------------------------------------------------------------------------------
    def controls(self):
        """Start/Stop, the duration slider, and the live view. Unattended: run once now and wait for the end."""
        import ipywidgets as w
        from IPython.display import display
        start = w.Button(description="Start", icon="play", button_style="success",
                         tooltip="Start the workload and trace for the chosen duration")
        stop = w.Button(description="Stop", icon="stop", tooltip="End the run now (the probes stay attached)")
        slider = w.FloatSlider(value=self.duration, min=1, max=60, step=1, description="Duration (s)",
                               continuous_update=False, readout_format=".0f")
        workload_box = w.Checkbox(value=bool(self.lesson.workload), description="Start the lesson's workload",
                                  disabled=not self.lesson.workload, indent=False)
        status = w.HTML(value=self._status_html("Ready: press Start." if self.b is not None
                                                else "Not attached yet: Start attaches first."))
        events = w.HTML(value=self._events_html())
        counts = w.HTML(value=self._counts_html())
        bars = w.HTML(value=self._bars_html())
        summary = w.HTML(value="")
        for widget, name in ((status, "status"), (events, "events"), (counts, "counts"), (bars, "bars"),
                             (summary, "summary")):
            widget.add_class(f"bcc-lessons-{name}")
        start.on_click(lambda _: self._start_clicked(workload_box.value))
        stop.on_click(lambda _: self.stop())
        title = "Counts (summed over the map reads)" if self.table else "Events per process"
        box = w.VBox([w.HBox([start, stop, slider, workload_box]), status,
                      w.HBox([w.VBox([w.HTML("<b>Recent events</b>" if not self.table else "<b>Last map read</b>"),
                                      events]),
                              w.VBox([w.HTML(f"<b>{title}</b>"), counts, bars])]),
                      summary])
        box.add_class("bcc-lessons-controls")
        self._widgets = SimpleNamespace(slider=slider, status=status, events=events, counts=counts, bars=bars,
                                        summary=summary)
        display(box)
        if unattended():
            self.start(duration=self.duration)
            self.wait()

    def _start_clicked(self, with_workload):
        try:
            self.start(workload=with_workload)
        except Exception as err:  # a failed attach: say it in the widget, not in the server log
            self.error = err
            self._status(f"Could not start: {err}")

    def _slider_value(self):
        return self._widgets.slider.value if self._widgets else self.duration

    def _status(self, text):
        if self._widgets:
            self._widgets.status.value = self._status_html(text)

    @staticmethod
    def _status_html(text):
        return f"<div class='bcc-lessons-status-text'>{html.escape(text)}</div>"

    def _refresh(self, force=False):
        now = time.monotonic()
        if self._widgets is None or (not force and now - self._drawn < REFRESH):
            return
        self._drawn = now
        ws = self._widgets
        ws.events.value = self._events_html()
        ws.counts.value = self._counts_html()
        ws.bars.value = self._bars_html()
        if force and self.last is not None:
            ws.summary.value = "<pre class='bcc-lessons-summary-text'>" + html.escape("\n".join(self.summary_lines())) + "</pre>"

    def _end_text(self):
        if self.error is not None:
            return f"The run failed: {self.error}"
        return "Run finished. " + ("Still attached: Start runs again; the Detach cell detaches." if self.b is not None
                                   else "Detached.")

    def _events_html(self):
        with self._lock:
            recent = self.records[-RECENT:]
            if self.table and recent:  # a map lesson: the rows of the last read only
                recent = [r for r in self.records if r.get("interval") == recent[-1].get("interval")]
        return _html_table(self.lesson.columns, recent, "bcc-lessons-events-table")

    def _counts_html(self):
        return _html_table(self.count_columns(), self.count_rows(), "bcc-lessons-counts-table")

    def _bars_html(self):
        rows = self.count_rows()[:BARS]
        if not rows:
            return ""
        top = max(r.get("count", 0) for r in rows) or 1
        out = ["<div class='bcc-lessons-bars'>"]
        for r in rows:
            label = html.escape(" ".join(str(r[k]) for k in self.count_columns() if k in r and _is_key(k, r[k]))[:40])
            width = max(1, round(200 * r.get("count", 0) / top))
            out.append(f"<div style='display:flex;align-items:center;font-family:monospace;font-size:12px'>"
                       f"<span style='width:22em;overflow:hidden;white-space:nowrap'>{label}</span>"
                       f"<span style='display:inline-block;height:12px;width:{width}px;background:#4c72b0'></span>"
                       f"<span style='margin-left:6px'>{r.get('count', 0)}</span></div>")
        out.append("</div>")
        return "".join(out)

    def _probes_text(self):
        text = ", ".join(f"{p['mechanism']} {p['target']}" for p in self.probes)
        return text + (" (fallback)" if self.fallbacks else "")


def _is_key(name, value):
    return name in IDS or not isinstance(value, (int, float)) or isinstance(value, bool)


def _format(key, value):
    from .render import column
    try:
        return column(key)[2] % value
    except TypeError:
        return str(value)


def _html_table(columns, rows, css):
    from .render import column
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{html.escape(column(k)[0])}</th>" for k in columns)
    body = "".join("<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(_format(k, r.get(k, '')))}</td>"
                                    for k in columns) + "</tr>" for r in rows)
    if not rows:
        body = f"<tr><td colspan='{len(columns)}'><i>nothing yet</i></td></tr>"
    return (f"<table class='{css}' style='font-family:monospace;font-size:12px;border-collapse:collapse'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _text_table(columns, rows):
    from .render import cell, column, row
    lines = [row(column(k)[0].ljust(column(k)[1]) for k in columns)]
    lines += [row(cell(k, r.get(k, "")) for k in columns) for r in rows]
    return "\n".join(lines)


def _code(path, language):
    from IPython.display import Markdown
    return Markdown(f"`{path.relative_to(ROOT)}`\n\n```{language}\n{path.read_text().rstrip()}\n```")


def _show_error(err):
    print(f"error: {err}", file=sys.stderr)
    if getattr(err, "details", None):
        print(err.details.rstrip(), file=sys.stderr)
    if getattr(err, "fix", None):
        print(f"fix: {err.fix}", file=sys.stderr)


# -- the Jupyter side: kernelspec and server ---------------------------------------------------------


def kernelspec_dir(prefix=None):
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def ensure_kernelspec(prefix=None):
    """Install (or refresh) the bcc-lessons kernelspec in this Python's prefix (the .venv): this Python,
    with the repository on sys.path so `from runner import notebook` works from notebooks/."""
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bcc-lessons (root, .venv)", "language": "python",
            "env": {"PYTHONPATH": str(ROOT)}, "metadata": {"debugger": False}}
    folder = kernelspec_dir(prefix)
    path = folder / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


LOOPBACK_NAMES = {"localhost"}


def check_loopback(address):
    """Only loopback addresses: a kernel here runs as root, and anyone who reaches the port can load BPF."""
    try:
        ok = address in LOOPBACK_NAMES or ipaddress.ip_address(address).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"Refusing to serve the notebooks on {address}: the kernels run as root, so anyone who "
                         "reaches that port could run any code on this machine.",
                         fix="Keep 127.0.0.1 and reach it from another machine through SSH: "
                             "ssh -L 8888:127.0.0.1:8888 USER@HOST, then open the printed URL locally.")
    return address


def free_port(address="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def server_command(address, port, notebook_dir=NOTEBOOKS_DIR, open_browser=False):
    """The jupyter lab command line; the token goes in JUPYTER_TOKEN (not argv, which `ps` shows to everyone)."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={address}", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebook_dir}",
            f"--ServerApp.open_browser={open_browser}", f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def serve(address="127.0.0.1", port=None, open_browser=False, stream=sys.stdout):
    """Run JupyterLab on the notebooks until Ctrl-C; prints the URL with its token first."""
    check_loopback(address)
    try:
        import ipykernel  # noqa: F401
        import ipywidgets  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as err:
        from .errors import EnvironmentNotReady
        raise EnvironmentNotReady(f"JupyterLab is not installed in this Python ({err.name} is missing).",
                                  fix=f"{sys.executable} -m pip install -r requirements.txt (make setup does it)")
    ensure_kernelspec()
    port = port or free_port(address)
    token = secrets.token_urlsafe(24)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    env.pop(UNATTENDED_ENV, None)
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:{port}/lab?token={token}"
    if os.geteuid() != 0:
        print("Note: not root. The notebooks open, but loading a BPF program needs root: "
              "run sudo .venv/bin/python -m runner notebook", file=sys.stderr)
    print(f"JupyterLab on {address} only, serving {NOTEBOOKS_DIR.relative_to(ROOT)}/ (kernels run as "
          f"{'root' if os.geteuid() == 0 else 'you'}).\nOpen: {url}\n"
          "From another machine: ssh -L {0}:127.0.0.1:{0} USER@THIS-HOST, then open the same URL there.\n"
          "Hit Ctrl-C to stop (every notebook's kernel shuts down and detaches).".format(port), file=stream, flush=True)
    proc = subprocess.Popen(server_command(address, port, open_browser=open_browser), env=env, cwd=ROOT)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # jupyter asks to confirm on the first Ctrl-C; two in a row stop at once
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        return 0
