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


def lessons_to_measure(numbers=(1, 2, 3, 7, 8)):
    """The lessons measured (1-3, and 7-8, the ring buffer and the histograms) that exist now: a folder with its
    glue and an entry in lessons.toml."""
    from runner import lessons
    return [lesson for lesson in lessons.load_all() if lesson.number in numbers and lesson.glue_path.exists()
            and lesson.program_path.exists()]


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
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode(errors="replace")


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


def _failed(lesson, way, err):
    err.seek(0)
    lines = [l for l in err.read().decode(errors="replace").splitlines()
             if l.strip() and "nocf_check" not in l and not l.startswith("In file included")]
    FAILURES.append((lesson.id, way, " | ".join(lines[-3:]) or "no event before the timeout"))


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_runner(lesson, timeout=30):
    """Seconds from spawn to the first event line of python3 -m runner lessonN --events 1 --json."""
    argv = [sys.executable, "-m", "runner", lesson.id, "--events", "1", "--json"]
    err = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    first = None
    try:
        for line in _lines(proc, time.monotonic() + timeout):
            if is_runner_event(line):
                first = time.perf_counter() - start
                break
        proc.wait(timeout=timeout)  # it stops by itself after one event, and detaches
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if first is None:
        _failed(lesson, "runner", err)
    err.close()
    return first


def run_plain(lesson, timeout=30):
    """Seconds from spawn to the first event line of the glue run alone, the workload started when it attached."""
    from runner import workload
    if lesson.events == "trace_pipe":
        drain_trace_pipe()
    err = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(lesson.glue_path)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=err, stdin=subprocess.DEVNULL)
    trigger, first, tracing = None, None, False
    try:
        for line in _lines(proc, time.monotonic() + timeout):
            if not tracing and line.startswith("Tracing"):
                tracing = True
                trigger = workload.start(lesson.workload_path, **lesson.workload) if lesson.workload is not None else None
            elif tracing and is_plain_event(line):
                first = time.perf_counter() - start
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # its main() ends on Ctrl-C; BPF() detaches at exit
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        if trigger is not None:
            workload.stop(trigger)
            trigger.stdout.close()
    if first is None:
        _failed(lesson, "plain", err)
    err.close()
    return first


def measure(lessons, runs):
    """{lesson id: {"runner": [s, ...], "plain": [s, ...]}}, runner and plain alternating, each first in turn."""
    out = {lesson.id: {"runner": [], "plain": []} for lesson in lessons}
    for i in range(runs):
        for lesson in lessons:
            pair = [("runner", run_runner), ("plain", run_plain)]
            for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                out[lesson.id][name].append(fn(lesson))
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
