"""One guided run of a lesson: load, attach, start the workload, poll, detach.

The lesson's glue does the BCC work (`load()`, `record()`/`snapshot()`); this
module adds what is not eBPF: the workload, the deadline, the output and the
cleanup, which runs on normal exit, Ctrl-C, SIGTERM and errors alike.
"""

import contextlib
import errno
import select
import signal
import time

from . import doctor, render, targets, workload
from .diagnostics import captured_stderr, compiler_messages, explain_load_failure
from .errors import EnvironmentNotReady, Terminated


def load(glue, lesson, **kwargs):
    """Call the glue's load() while capturing libbcc's output; returns (b, probes, warnings)."""
    with captured_stderr() as out:
        try:
            b, probes = glue.load(**kwargs)
        except Exception as err:
            failure = err
        else:
            failure = None
    if failure is not None:
        raise explain_load_failure(failure, out[0], lesson) from failure
    return b, probes, compiler_messages(out[0])


# -- event sources ---------------------------------------------------------------------------


class Source:
    """How records reach the runner. poll() returns new records; final() those left at the end."""

    lost = 0  # events the kernel dropped, as the channel reports them (None: the channel cannot tell)
    rows = 0  # records shown so far

    def header(self, out, columns):
        out.header(columns)

    def poll(self, timeout):
        raise NotImplementedError

    def final(self):
        return []

    def weight(self, record):
        """How many kernel events one record stands for."""
        return 1

    def describe(self):
        return {}


class TracePipe(Source):
    """Lines that bpf_trace_printk() wrote to the kernel's shared trace_pipe."""

    lost = None  # trace_pipe does not tell its readers how many lines were overwritten

    def __init__(self, b, glue, opts):
        self.b, self.glue = b, glue
        try:
            self.file = b.trace_open(nonblocking=True)
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
            raise EnvironmentNotReady("Another program is reading the kernel's trace_pipe, which this kernel lets "
                                      "only one reader open at a time.", fix="Stop the other reader (another lesson 1, "
                                      "a hello.py, a cat of trace_pipe), then run again.") from err
        self._read_all()  # lines left from before this run are not this run's events

    def _read_all(self):
        fields = []
        while True:
            f = self.b.trace_fields(nonblocking=True)
            if f[0] is None:
                return fields
            fields.append(f)

    def poll(self, timeout):
        ready, _, _ = select.select([self.file], [], [], timeout)
        return [self.glue.record(f) for f in self._read_all()] if ready else []

    def final(self):
        return [self.glue.record(f) for f in self._read_all()]  # lines written before the end, not yet read


class PerfBuffer(Source):
    """Structs sent with <table>.perf_submit() through a BPF_PERF_OUTPUT channel."""

    def __init__(self, b, glue, opts, table):
        self.b, self.lost, self.pending = b, 0, []
        record, pending = glue.record, self.pending

        # b[table] is looked up at each event, not kept here: b.cleanup() frees the perf buffer only when it
        # drops the last reference to the table; one kept here would free it later, after its map is closed.
        def on_event(cpu, data, size):
            pending.append(record(b[table].event(data)))

        def on_lost(count):
            self.lost += count

        b[table].open_perf_buffer(on_event, page_cnt=opts.pages, lost_cb=on_lost)

    def poll(self, timeout):
        self.b.perf_buffer_poll(timeout=int(timeout * 1000))
        out = self.pending[:]
        del self.pending[:]
        return out

    def final(self):
        return self.poll(0)  # events already in the buffers, not yet read


class Table(Source):
    """Rows read from the lesson's maps every `interval` seconds (glue.snapshot(b)), and once more at the end.

    Each read is one interval: a header (text mode), then its rows, each tagged with the interval's number.
    A record's "count", when it has one, is how many events the kernel aggregated into that row.
    """

    lost = None  # a map drops nothing in transit; an update it refuses when full is not reported

    def __init__(self, b, glue, opts, out=None, columns=()):
        self.b, self.glue, self.interval = b, glue, opts.interval
        self.out, self.columns, self.intervals = out, columns, 0
        self.next = time.monotonic() + self.interval

    def poll(self, timeout):
        wait = self.next - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return []
        time.sleep(max(wait, 0))
        self.next += self.interval
        return self.final()

    def final(self):
        self.intervals += 1
        rows = [{"interval": self.intervals, **row} for row in self.glue.snapshot(self.b)]
        if self.out is not None:
            self.out.interval(self.intervals, self.columns, empty=not rows)
        return rows

    def header(self, out, columns):
        pass  # each interval prints its own

    def weight(self, record):
        return record.get("count", 1)  # a row aggregates "count" events in the kernel

    def describe(self):
        return {"rows": self.rows, "intervals": self.intervals}


def make_source(lesson, b, glue, opts, out=None):
    if lesson.events == "trace_pipe":
        return TracePipe(b, glue, opts)
    if lesson.events.startswith("perf:"):
        return PerfBuffer(b, glue, opts, lesson.events.split(":", 1)[1])
    return Table(b, glue, opts, out, lesson.columns)


# -- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def signals_as_exceptions():
    def handler(signum, frame):
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def no_interruptions():
    """Cleanup must finish: hold Ctrl-C and SIGTERM until it has."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def run(lesson, opts, out, load_args=None):
    """Run one lesson; returns the exit code (0, or 128+signal after SIGTERM).

    load_args: keyword arguments for the glue's load(), e.g. pid= from --pid.
    """
    load_args = load_args or {}
    doctor.require_basics()
    glue = lesson.import_glue()
    targets.check_accepted(glue, load_args, lesson)
    out.say(f"Lesson {lesson.number}: {lesson.title}\n")
    out.say(lesson.intro() + "\n")
    if not opts.no_code:
        out.code(lesson.program_path)
    started = time.monotonic()
    b = proc = source = None
    summary = {"lesson": lesson.id, "kernel": doctor.kernel_release(), "events": 0, "lost": 0,
               "duration": 0.0, "probes": [], "fallbacks": [], "workload": None, "workload_pid": None,
               "workload_events": 0}
    code = 0
    with signals_as_exceptions():
        try:
            out.say("Compiling and loading...")
            b, probes, warnings = load(glue, lesson, **load_args)
            if warnings:
                out.note(warnings)
            summary["probes"] = [{"mechanism": m, "target": t} for m, t in probes]
            if lesson.prefers and not any(m in lesson.prefers for m, _ in probes):
                summary["fallbacks"].append(lesson.fallback)
                out.note(lesson.fallback)
            source = make_source(lesson, b, glue, opts, out)
            attached = ", ".join(f"{m} {t}" for m, t in probes)
            out.ready(f"Tracing {attached}... Hit Ctrl-C to end.\n")
            source.header(out, lesson.columns)
            if not opts.no_workload and lesson.workload:
                params = {k: v for k, v in lesson.workload.items() if k != "kind"}
                proc = workload.start(lesson.workload["kind"], **params)
                summary["workload_pid"] = proc.pid
            poll_until_done(source, proc, opts, out, lesson, summary, started)
            read_histogram(glue, b, lesson, summary)
        except KeyboardInterrupt:
            # Ctrl-C is how a learner ends a trace: a map's last counts, the summary, exit 0
            if source is not None:
                read_final(source, opts, out, lesson, summary, proc.pid if proc is not None else None)
                read_histogram(glue, b, lesson, summary)
        except Terminated as term:
            code = 128 + term.signum
        finally:
            with no_interruptions():
                if proc is not None:
                    workload.stop(proc)
                if b is not None:
                    b.cleanup()
    summary["duration"] = round(time.monotonic() - started, 3)
    if source is not None:
        summary["lost"] = source.lost
        summary.update(source.describe())
        out.summary(summary)
    return code


def read_histogram(glue, b, lesson, summary):
    """A lesson whose lessons.toml entry names a `histogram` label: glue.histogram(b), read once at the end."""
    label = lesson.extra.get("histogram")
    if label:
        summary["histogram"] = {"label": label, "buckets": render.log2_rows(glue.histogram(b))}


def poll_until_done(source, proc, opts, out, lesson, summary, started):
    """Poll until N events, the deadline, or the workload finished (plus a moment for the last events)."""
    deadline = started + opts.duration if opts.duration else None
    settle = None  # when the workload has ended: keep reading for a short while
    workload_pid = proc.pid if proc is not None else None
    while True:
        now = time.monotonic()
        if deadline and now >= deadline or settle and now >= settle:
            break
        wait = min(0.1, (deadline or now + 1) - now)
        for record in source.poll(max(wait, 0)):
            if _count(record, source, out, lesson, summary, workload_pid, opts):
                out.flush()
                return
        out.flush()
        if proc is not None and summary["workload"] is None and proc.poll() is not None:
            summary["workload"] = workload.report(proc) or {"pid": proc.pid, "comm": workload.COMM, "ops": 0,
                                                            "what": "operations (it failed)"}
            if not opts.duration:
                settle = time.monotonic() + 0.5
    read_final(source, opts, out, lesson, summary, workload_pid)


def _count(record, source, out, lesson, summary, workload_pid, opts):
    """Show one record and count it; True once --events N records were shown."""
    weight = source.weight(record)
    source.rows += 1
    summary["events"] += weight
    if record.get("pid") == workload_pid:
        summary["workload_events"] += weight
    out.event(record, lesson.columns)
    return bool(opts.events and source.rows >= opts.events)


def read_final(source, opts, out, lesson, summary, workload_pid):
    """What the source still holds at the end: unread events, or a map's counts since its last read."""
    for record in source.final():
        if _count(record, source, out, lesson, summary, workload_pid, opts):
            break
    out.flush()
