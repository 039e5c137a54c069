"""The run engine: one lesson loaded, traced and detached, for the command line, the checks and the notebooks alike.

    run = Run(lesson, RunOptions(duration=5), sink)   # nothing happens yet
    run.load()          # the glue's load(): compile and attach (libbcc's messages captured)
    run.trace()         # start the workload, poll until done, read what is left; run.summary says what was seen
    run.close()         # stop the workload, b.cleanup(): nothing of the lesson stays in the kernel

The lesson's glue does the BCC work (`load()`, `record()`/`snapshot()`); a Run adds what is
not eBPF: the workload, the deadline, the summary and the cleanup. `trace()` may be called
again on the same load (a notebook's second Start). `run()` is the command line's whole flow,
with SIGTERM/SIGHUP and Ctrl-C handled as a learner expects.
"""

import threading
import time
from pathlib import Path

from . import doctor, render, signals, sources, targets, workload
from .diagnostics import captured_stderr, compiler_messages, explain_load_failure
from .errors import LessonFailed, Terminated, UsageError
from .fields import Fields
from .language import _
from .libbcc import one_malloc_arena


class RunOptions(Fields):
    duration: float = None       # seconds; None: until the workload is done (or Ctrl-C without one)
    events: int = None           # stop after N records
    workload: bool = True        # start the lesson's workload
    workload_params: dict = None  # instead of the lesson's (an exercise's check)
    pages: int = None            # perf buffer pages per CPU (None: 8); a ring buffer's pages (lessons with option "pages"; None: the glue's own)
    interval: float = 1.0        # map lessons: read the maps every S seconds
    load_args: dict = {}  # for the glue's load(): pid=, binary=, function=
    glue_folder: Path = None     # import the glue (and so its .c file) from here; default: the lesson's folder
    show_code: bool = True       # print the BPF program before loading it
    histogram: bool = True       # read the lesson's histogram at the end (checks judge rows, not its shape)
    ctrl_c_ends_trace: bool = True  # Ctrl-C: the last read and the summary (a learner's run); False: it propagates
    interruptible_load: bool = False  # the command line: compile in a thread, so Ctrl-C and SIGTERM end it at once
    flamegraph: str = None       # lessons with a flamegraph: the SVG's path (default: lessonN.svg in the current folder)
    workload_early: bool = None  # start the workload while BCC compiles (None: unless the lesson traces its start)


class Sink:
    """Where a run's output goes: the terminal's render.Output, a check's collector, a notebook's widgets.

    Every method may be left as it is here (nothing shown). stop_requested() is asked while polling:
    True ends the trace early (a notebook's Stop), with the final read still made.
    """

    def say(self, text=""):
        pass

    def note(self, text):
        """A sentence the learner should not miss (fallbacks, compiler warnings)."""

    def code(self, path):
        pass

    def ready(self, text):
        """The "Tracing ... Hit Ctrl-C to end." line: probes are attached."""

    def header(self):
        pass

    def interval(self, number, empty):
        pass

    def event(self, record):
        pass

    def lost(self, count):
        """The kernel dropped `count` events at this point of the stream (the summary has the total)."""

    def flush(self):
        pass

    def stop_requested(self):
        return False

    def summary(self, summary):
        pass


# Loads a signal interrupted: their threads still compile in libbcc. The process must end with os._exit(): a
# normal exit would run libbcc's (LLVM's) destructors under a thread that is using them.
ABANDONED = []


def _interruptible(call, kwargs):
    """call(**kwargs) in a thread of its own, the main thread waiting for it.

    BCC's compile (clang) and the verifier run in C, where a signal waits until they return: minutes for a big
    program. Waiting here, the main thread takes Ctrl-C, SIGTERM and SIGHUP at once; the load goes on in its thread
    until the process ends, and nothing it attaches outlives the process (the kernel closes its descriptors).
    """
    done, finished = {}, threading.Event()
    one_malloc_arena()

    def work():
        try:
            done["value"] = call(**kwargs)
        except BaseException as err:  # handed to the main thread, which raises it
            done["error"] = err
        finally:
            finished.set()

    thread = threading.Thread(target=work, name="bcc-load", daemon=True)
    thread.start()
    try:
        while not finished.wait(0.05):  # an Event, not join(): a join cut short by Ctrl-C thinks the thread ended
            pass
    except BaseException:
        if not finished.is_set():
            ABANDONED.append(thread)
        elif "value" in done:  # it had just loaded and attached: detach before the signal goes on
            done["value"][0].cleanup()
        raise
    if "error" in done:
        raise done["error"]
    return done["value"]


def load(glue, program_path, interruptible=False, **kwargs):
    """Call the glue's load() while capturing libbcc's output; returns (b, probes, warnings).

    program_path: the .c file the glue compiles, which compiler and verifier messages point into.
    interruptible: in a thread of its own (see _interruptible()).
    """
    with captured_stderr() as out:
        try:
            b, probes = _interruptible(glue.load, kwargs) if interruptible else glue.load(**kwargs)
        except Exception as err:
            failure = err
        else:
            failure = None
    if failure is not None:
        raise explain_load_failure(failure, out[0], program_path) from failure
    return b, probes, compiler_messages(out[0], loaded=True)


def running(pid):
    """Whether process `pid` still exists and is not a zombie (which runs no code, so makes no more calls)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class Run:
    def __init__(self, lesson, options=None, sink=None):
        self.lesson, self.options, self.sink = lesson, options or RunOptions(), sink or Sink()
        self.glue = self.b = self.source = self.proc = None
        self.held = False  # self.proc waits before its run() until trace() lets it go (see _start_workload_early)
        self.probes, self.fallbacks, self.warnings = [], [], ""
        self.summary = None
        self.per_pid = {}

    @property
    def attached(self):
        return self.b is not None

    def load(self):
        lesson, opts = self.lesson, self.options
        targets.check_accepted(lesson, opts.load_args)
        self.glue = lesson.import_glue(opts.glue_folder)
        self.sink.say(_("Compiling and loading..."))
        load_args = dict(opts.load_args)
        if "pages" in lesson.options and opts.pages is not None:  # a buffer the program sizes (BPF_RINGBUF_OUTPUT)
            load_args.setdefault("pages", opts.pages)
        if lesson.needs_pid and load_args.get("pid") is None:
            load_args["pid"] = self._hold_workload()
        elif opts.workload and lesson.workload is not None and self.proc is None and (
                not lesson.traces_workload_start if opts.workload_early is None else opts.workload_early):
            self._start_workload_early()
        try:
            self.b, probes, self.warnings = load(self.glue, self.program_path, interruptible=opts.interruptible_load,
                                                 **load_args)
        except Exception as err:
            ended = self.held and self.proc.pid == load_args.get("pid") and self.proc.poll() is not None
            code = self.proc.returncode if ended else None
            self._stop_workload()
            if ended:  # killed, or failed, while the probes were being attached to it: that is the news, not the pid
                how = (_("killed by signal {n}").format(n=-code) if code < 0 else
                       _("exit status {n}").format(n=code))
                raise LessonFailed(_("The workload (pid {pid}) ended ({how}) before the probes were attached to it, "
                                     "so there was no process to trace.").format(pid=load_args["pid"], how=how),
                                   fix=_("Run the lesson again; if it ends again, run its workload alone to see why: "
                                         "python3 runner/workload.py {path}").format(path=self.lesson.workload_path)
                                   ) from err
            raise
        except BaseException:
            self._stop_workload()
            raise
        signals.raise_if_ended()
        if self.warnings:
            self.sink.note(self.warnings)
        self.probes = [{"mechanism": m, "target": t} for m, t in probes]
        self.fallbacks = []  # this load's (a needs_pid lesson loads again for each new workload)
        if lesson.prefers and not all(m in lesson.prefers for m, _ in probes):
            self.fallbacks.append(lesson.fallback)
        self.fallbacks += list(lesson.missing_bcc_calls().values())
        for sentence in self.fallbacks:
            self.sink.note(sentence)

    def _hold_workload(self):
        """The pid a needs_pid lesson attaches to when the learner gave none: its workload's, started and held at
        its start until trace() lets it run."""
        lesson, opts = self.lesson, self.options
        if not opts.workload or lesson.workload is None:
            raise UsageError(_("{lesson} attaches its probes to one process, and --no-workload leaves out the one it "
                               "would start.").format(lesson=lesson.id),
                             fix=_("Give the pid of a running process to trace: python3 -m runner {lesson} --pid PID "
                                   "(pgrep NAME finds one), or leave out --no-workload.").format(lesson=lesson.id))
        params = opts.workload_params if opts.workload_params is not None else lesson.workload
        self.proc, self.held = workload.start(lesson.workload_path, hold=True, **params), True
        return self.proc.pid

    def _start_workload_early(self):
        """Start the workload now, held before its run(), and let it go once the probes are attached (trace()).

        Its interpreter starts while BCC compiles (40 ms and more), not after: the first events come that much
        sooner, and they are its run()'s, not its interpreter's start-up."""
        opts = self.options
        params = opts.workload_params if opts.workload_params is not None else self.lesson.workload
        self.proc, self.held = workload.start(self.lesson.workload_path, hold=True, wait=False, **params), True

    def draw_flamegraph(self):
        """Write the run's folded stacks and its SVG flame graph; returns what the summary says of them."""
        from . import flamegraph  # only sampling lessons draw one: the others do not pay for its import
        svg = Path(self.options.flamegraph or f"{self.lesson.id}.svg").resolve()
        folded = svg.with_suffix(".folded")
        try:
            svg.parent.mkdir(parents=True, exist_ok=True)
            folded.write_text(flamegraph.folded_text(self.stacks))
            svg.write_text(flamegraph.svg(self.stacks, title=self.lesson.flamegraph))
        except OSError as err:
            raise UsageError(_("The flame graph cannot be written to {path} ({reason}).").format(
                path=svg, reason=err.strerror), fix=_("Give a folder you may write to: --flamegraph /tmp/stacks.svg")
            ) from err
        leaves = {}
        for stack, count in self.stacks.items():
            leaf = stack.rsplit(";", 1)[-1]
            leaves[leaf] = leaves.get(leaf, 0) + count
        return {"svg": str(svg), "folded": str(folded), "samples": sum(self.stacks.values()),
                "stacks": len(self.stacks), "leaves": dict(sorted(leaves.items(), key=lambda kv: (-kv[1], kv[0])))}

    def _stop_workload(self):
        with signals.held():
            if self.proc is not None:
                workload.stop(self.proc)
                self.proc, self.held = None, False

    @property
    def program_path(self):
        folder = self.options.glue_folder
        return self.lesson.program_path if folder is None else Path(folder) / self.lesson.program_path.name

    def describe_probes(self):
        return ", ".join(f"{p['mechanism']} {p['target']}" for p in self.probes)

    def trace(self, duration=None, with_workload=None):
        """Trace until N events, the deadline, the workload's end (and a moment for its last events), or Stop."""
        lesson, opts, sink = self.lesson, self.options, self.sink
        duration = opts.duration if duration is None else duration
        with_workload = opts.workload if with_workload is None else with_workload
        if lesson.needs_pid and with_workload and not self.held and opts.load_args.get("pid") is None:
            # probes attached to the pid of a workload that has ended (a notebook's second Start): attach anew,
            # to a new workload held at its start
            self.close()
            self.source = None
            self.load()
        started = time.monotonic()
        self.summary = s = {"lesson": lesson.id, "kernel": doctor.kernel_release(), "events": 0, "lost": 0,
                            "duration": 0.0, "probes": self.probes, "fallbacks": self.fallbacks, "workload": None,
                            "workload_pid": None, "workload_events": 0}
        self.per_pid = {}  # pid -> events: the workload's children count as its once its report names them
        self.histograms = render.Histograms(lesson.histogram)  # a map lesson's rows that are histogram buckets
        self.stacks = {}  # a profiling lesson's rows: folded stack -> samples, over every read
        if self.source is None:
            self.source = sources.make_source(lesson, self.b, self.glue, opts, sink.interval)
        else:
            self.source.reset()
        sink.ready(_("Tracing {probes}... Hit Ctrl-C to end.").format(probes=self.describe_probes()) + "\n")
        if not self.source.interval_rows:
            sink.header()
        params = opts.workload_params if opts.workload_params is not None else lesson.workload
        if self.held and not (with_workload or lesson.needs_pid):
            self._stop_workload()  # started early by load(), but this trace runs without it
        if self.held:
            workload.release(self.proc)  # the probes are attached (to its pid): let it run
            self.held = False
            s["workload_pid"] = self.proc.pid
        elif with_workload and lesson.workload is not None:
            self.proc = workload.start(lesson.workload_path, **params)
            s["workload_pid"] = self.proc.pid
        try:
            self._poll(started, duration)
        except KeyboardInterrupt:
            if not opts.ctrl_c_ends_trace:
                raise
            self.read_final()  # Ctrl-C is how a learner ends a trace: a map's last counts, then the summary
        finally:
            self._end(started)
        return s

    def _poll(self, started, duration):
        deadline = started + duration if duration else None
        settle = None  # when the workload has ended: keep reading for a short while
        source, proc, s = self.source, self.proc, self.summary
        traced = self.options.load_args.get("pid")  # --pid: the process the probes were attached for
        while not self.sink.stop_requested():
            signals.raise_if_ended()
            now = time.monotonic()
            if deadline and now >= deadline or settle and now >= settle:
                break
            wait = min(0.1, (deadline or now + 1) - now)
            for record in source.poll(max(wait, 0)):
                if self._count(record):
                    self.sink.flush()
                    return
            self.sink.flush()
            if proc is not None and s["workload"] is None and proc.poll() is not None:
                self._collect_workload()
                if not duration:
                    settle = time.monotonic() + 0.5
            if traced and not s.get("traced_exited") and not running(traced):
                s["traced_exited"] = traced
                self.sink.note(_("Process {pid} (--pid) has exited: the probes attached for it can count nothing "
                                 "more, so the run ends.").format(pid=traced))
                settle = min(settle or now + 0.5, now + 0.5)  # a last read, then the summary
        self.read_final()

    def _collect_workload(self):
        """The ended workload's report. A signal waits until it is read: a communicate() cut short closes the
        pipe, and reading it again at the end would fail ("I/O operation on closed file")."""
        proc = self.proc
        with signals.deferred():
            self.summary["workload"] = workload.report(proc) or {"pid": proc.pid, "comm": workload.COMM, "ops": 0,
                                                                 "what": _("operations (it failed)")}

    def _workload_events(self):
        """The events of the workload's pid, and of the child pids its report names ("pids"); with "children_only"
        in the report, of those children alone (the workload's own process only started them: its events are
        Python's start-up, which nobody counted)."""
        work, s = self.summary.get("workload"), self.summary
        if s.get("workload_pid") is None:
            return 0  # no workload: events without a pid are nobody's
        pids = set(workload.pids(work or {"pid": s["workload_pid"]}))
        return sum(self.per_pid.get(pid, 0) for pid in pids)

    def _count(self, record):
        """Show one record and count it; True once --events N records were shown."""
        if isinstance(record, sources.Lost):
            self.sink.lost(int(record))
            return False
        if self.lesson.histogram and self.histograms.takes(record):
            self.histograms.add(record)
        if self.lesson.flamegraph and "stack" in record:
            self.stacks[record["stack"]] = self.stacks.get(record["stack"], 0) + int(record.get("count") or 0)
        weight = self.source.weight(record)
        self.source.rows += 1
        self.summary["events"] += weight
        pid = record.get("pid")
        self.per_pid[pid] = self.per_pid.get(pid, 0) + weight
        if pid == self.summary["workload_pid"]:
            self.summary["workload_events"] += weight
        self.sink.event(record)
        return bool(self.options.events and self.source.rows >= self.options.events)

    def read_final(self):
        """What the source still holds at the end: unread events, or a map's counts since its last read."""
        if self.b is None:
            return
        for record in self.source.final():
            if self._count(record):
                break
        self.sink.flush()

    def _end(self, started):
        s = self.summary
        with signals.held():
            if self.proc is not None:
                if s["workload"] is None and self.proc.poll() is not None:
                    self._collect_workload()
                workload.stop(self.proc)
                self.proc = None
        if self.options.histogram and self.lesson.histogram and self.b is not None:
            if callable(getattr(self.glue, "histogram", None)):
                s["histogram"] = {"label": self.lesson.histogram, "buckets": render.log2_rows(self.glue.histogram(self.b))}
            else:
                s["histograms"] = self.histograms.summary()
        if self.lesson.flamegraph and self.b is not None:
            s["flamegraph"] = self.draw_flamegraph()
        s["duration"] = round(time.monotonic() - started, 3)
        s["lost"] = self.source.lost
        s["workload_events"] = self._workload_events()
        work = s.get("workload")
        if s["lost"] is not None and work and "rows" not in self.source.describe():
            # the kernel tells of a loss with the next event written to that CPU's buffer: none came after the last
            missing = render.caused(work) - s["workload_events"]
            if missing > s["lost"]:
                s["lost_unreported"] = missing - s["lost"]
        s.update(self.source.describe())

    def close(self):
        """Stop the workload and detach everything; safe to call twice, and while signals arrive."""
        with signals.held():
            if self.proc is not None:
                workload.stop(self.proc)
                self.proc, self.held = None, False
            if self.b is not None:
                self.source = None
                self.b.cleanup()
                self.b = None


def run(lesson, options, sink):
    """The command line's run of one lesson; returns the exit code (0, or 128+signal after SIGTERM/SIGHUP)."""
    doctor.require_basics()
    sink.say(_("Lesson {number}: {title}").format(number=lesson.number, title=lesson.title) + "\n")
    sink.say(lesson.intro() + "\n")
    engine = Run(lesson, options, sink)
    if options.show_code:
        sink.code(engine.program_path)
    code = 0
    with signals.terminated_by_signals():
        try:
            engine.load()
            engine.trace()
        except Terminated as term:
            code = 128 + term.signum
        finally:
            engine.close()
    if engine.summary is not None:
        try:
            sink.summary(engine.summary)
        except OSError:
            if not code:
                raise
            # ended by a signal: after a SIGHUP the terminal is gone (EIO), and nobody is left to read the summary
    return code
