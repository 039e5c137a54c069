"""Start-up: wall time from spawning a process to its first event line on stdout.

Two ways to run the same lesson, given the same events to see:
  runner  python3 -m runner lessonN --events 1 --json, which starts the lesson's workload itself once its
          probes are attached (its "Tracing ..." line);
  plain   python lessons/lessonN_x/x.py, the glue run alone; when it prints its "Tracing ..." line (its
          probes are attached) the benchmark starts the same workload, with the same arguments, itself.
Both run with the same interpreter, unbuffered, alternately, so a slow moment of the machine hits both.
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

from runner.lessons import ROOT
HEAVY = ("rich", "matplotlib", "jupyter", "jupyter_client", "IPython", "ipykernel", "ipywidgets", "numpy",
         "pandas", "nbformat", "nbclient")


def lessons_to_measure(numbers=None):
    """Every lesson that exists now (a folder with its glue and program, and an entry in lessons.toml), or those
    numbered in `numbers`."""
    from runner import lessons
    return [lesson for lesson in lessons.load_all() if (numbers is None or lesson.number in numbers)
            and lesson.glue_path.exists() and lesson.program_path.exists()]


def is_plain_event(line):
    """A plain script's event line: after its "Tracing" line, the first with both a letter and a digit.

    Headers (TIME(s) COMM PID ...) have no digit, the time stamps of a map lesson (12:00:01) no letter.
    """
    return bool(re.search(r"[A-Za-z]", line) and re.search(r"\d", line))


def is_runner_event(line):
    try:
        data = json.loads(line)
    except ValueError:
        return False
    return isinstance(data, dict) and "summary" not in data


def _lines(proc, deadline):
    """(stream, line) for each line of the process's stdout ("out") and stderr ("err"), until deadline() (asked
    again after each line: the caller moves it once the process has attached).

    Where both are ready at once, stderr's lines come first: the runner prints "Tracing ..." on stderr, then its
    first event on stdout, often within the same millisecond, and an event read before the line that says the run
    has attached would not count (a lost run, and the fastest ones at that)."""
    streams = {proc.stderr.fileno(): "err", proc.stdout.fileno(): "out"}
    buffers = dict.fromkeys(streams, b"")
    while streams and time.monotonic() < deadline():
        ready, _, _ = select.select(list(streams), [], [], max(0.0, deadline() - time.monotonic()))
        if not ready:
            break
        for fd in sorted(ready, key=list(streams).index):  # stderr first
            chunk = os.read(fd, 65536)
            if not chunk:
                del streams[fd]
                continue
            buffers[fd] += chunk
            while b"\n" in buffers[fd]:
                line, buffers[fd] = buffers[fd].split(b"\n", 1)
                yield streams[fd], line.decode(errors="replace")


FAILURES = []  # (lesson, way, last lines of stderr) of runs that printed no event


def drain_trace_pipe():
    """Throw away trace_pipe lines left from before, as the runner's TracePipe source does when it starts.

    Without this the plain hello.py would print a stale line (or trip over a "[LOST n EVENTS]" line) at once.
    """
    for base in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        try:
            fd = os.open(base + "/trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            while os.read(fd, 1 << 16):
                pass
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        return


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED="1", LANGUAGE="en")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a learner's machine: the second run finds its bytecode
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


WORKDIR = None  # where the runs write what they write when they end (lesson 10's profile.folded), not the checkout
ATTACHED = "Ctrl-C"  # both the runner (on stderr) and every lesson's glue (on stdout) print "... Hit Ctrl-C to end."
FIRST_EVENT_WAIT = 5.0  # seconds after attaching that a plain script may take to print its first event (warm-up)


def _run(argv, lesson, way, is_event, wait_first, timeout, on_attached=None):
    """{"attached": s, "first": s or None} from spawn, for one process; ended with Ctrl-C (SIGINT) when it is
    still running, as a learner ends it; BPF() detaches at exit."""
    if lesson.events == "trace_pipe":
        drain_trace_pipe()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=WORKDIR or ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    attached = first = None
    errors, after = [], []  # stderr lines while it ran; what it printed once told to end (a runner's summary)
    try:
        deadline = time.monotonic() + timeout
        for stream, line in _lines(proc, lambda: deadline):
            if stream == "err":
                errors.append(line)
            if attached is None and ATTACHED in line:
                attached = time.perf_counter() - start
                if on_attached is not None:
                    on_attached()
                if not wait_first:
                    break
                deadline = min(deadline, time.monotonic() + wait_first)
            elif attached is not None and stream == "out" and is_event(line):
                first = time.perf_counter() - start
                break
            if attached is not None and time.monotonic() > deadline:
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                after = proc.communicate(timeout=3)
            except subprocess.TimeoutExpired:
                # a Ctrl-C that lands in a BCC callback is lost (ctypes prints the exception and goes on): again
                proc.send_signal(signal.SIGINT)
                try:
                    after = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    after = proc.communicate()
        proc.stdout.close()
        proc.stderr.close()
    if attached is None or (wait_first and first is None):
        lines = [l for l in errors if l.strip() and "nocf_check" not in l and not l.startswith("In file included")]
        # and what it said at its end: a runner's summary tells whether its workload ran and what it counted
        lines += [said(l) for text in after for l in text.decode(errors="replace").splitlines()[-2:] if l.strip()]
        FAILURES.append((lesson.id, way, " | ".join(lines[-5:]) or "no event before the timeout"))
    return {"attached": attached, "first": first}


def said(line):
    """A line of a run's end, short: a runner's JSON summary as its counts and its workload's report."""
    try:
        summary = json.loads(line)["summary"]
        return (f"summary: {summary.get('events')} events, {summary.get('lost')} lost, workload "
                f"{json.dumps(summary.get('workload'))[:200]}")
    except (ValueError, KeyError, TypeError):
        return line[:300]


def run_runner(lesson, wait_first=FIRST_EVENT_WAIT, timeout=30):
    """python3 -m runner lessonN --events 1 --json: it starts the lesson's workload itself once attached."""
    argv = [sys.executable, "-m", "runner", lesson.id, "--events", "1", "--json"]
    return _run(argv, lesson, "runner", is_runner_event, wait_first, timeout)


def run_plain(lesson, wait_first=FIRST_EVENT_WAIT, timeout=30):
    """The glue run alone; the benchmark starts the same workload when the script says it is attached. A lesson
    that attaches to one process (needs_pid) gets the workload's pid, started held as the runner starts it."""
    from runner import workload
    argv = [sys.executable, str(lesson.glue_path)]
    held = trigger = None
    if lesson.workload is not None and lesson.needs_pid:
        held = workload.start(lesson.workload_path, hold=True, **lesson.workload)
        argv.append(str(held.pid))

    def go():
        nonlocal trigger
        if held is not None:
            workload.release(held)
        elif lesson.workload is not None:
            trigger = workload.start(lesson.workload_path, **lesson.workload)
    try:
        return _run(argv, lesson, "plain", is_plain_event, wait_first, timeout, on_attached=go)
    finally:
        for proc in (held, trigger):
            if proc is not None:
                workload.stop(proc)
                proc.stdout.close()


def measure(lessons, runs):
    """{lesson id: {"runner": [runs], "plain": [runs], "to": "first" or "attached"}}: a warm-up pair first (not
    counted: it writes the bytecode caches, and finds out whether the plain script prints an event while it runs;
    lesson 10's prints its profile only when it ends, so that lesson is timed to the moment both are attached),
    then runner and plain alternating, each first in turn."""
    global WORKDIR
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as WORKDIR:
        try:
            return _measure(lessons, runs)
        finally:
            WORKDIR = None


def _measure(lessons, runs):
    out = {}
    for lesson in lessons:
        run_runner(lesson)
        warm = run_plain(lesson)
        to = "first" if warm["first"] is not None else "attached"
        if to == "attached":
            FAILURES[:] = [f for f in FAILURES if f[:2] != (lesson.id, "plain")]  # not a failure: its way of printing
        out[lesson.id] = {"runner": [], "plain": [], "to": to}
    for i in range(runs):
        for lesson in lessons:
            wait = FIRST_EVENT_WAIT if out[lesson.id]["to"] == "first" else 0
            pair = [("runner", run_runner), ("plain", run_plain)]
            for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                out[lesson.id][name].append(fn(lesson, wait_first=wait)[out[lesson.id]["to"]])
    return out


def import_times(lesson_id="lesson1"):
    """python -X importtime of one real runner run: {module: cumulative µs} of the top-level imports."""
    argv = [sys.executable, "-X", "importtime", "-m", "runner", lesson_id, "--events", "1", "--json"]
    proc = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    top, everything = {}, set()
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        name = m.group(4)
        everything.add(name.split(".")[0])
        if len(m.group(3)) == 1:  # one space: imported directly, not by another module
            top[name] = top.get(name, 0) + int(m.group(2))
    return {"top": top, "heavy": sorted(h for h in HEAVY if h in everything),
            "total_us": sum(top.values()), "modules": everything}
