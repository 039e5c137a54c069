"""A lesson's workload as a process of its own, so every lesson shows events without the learner guessing.

A lesson's folder may hold `workload.py` with `run(**params) -> dict`: it performs a
known number of operations and returns what it did ({"ops", "what", ...}). This
module starts it as its own process (its own pid and process group, and the comm
`bcc-workload`), which prints one JSON line, the report: {"source" (the workload file),
"pid", "ppid", "comm", **run()}. The runner and the tests compare the events the kernel produced against it.

Stdlib only and runnable as a plain script, so it starts fast and needs no package
on sys.path:  python3 runner/workload.py lessons/lesson1_hello/workload.py --count 5
"""

import argparse
import gettext
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

COMM = "bcc-workload"
HOLD_TIMEOUT = 30  # seconds a held workload may take to reach its hold (a Python start on a slow VM)
PARENT_ENV = "BCC_LESSONS_WORKLOAD_PARENT"  # the pid of the runner that started this workload


def pids(work):
    """The pids whose events are the workload's, as its report says: its own and its children's ("pids"), or its
    children's alone ("children_only": its own process did nothing the lesson traces but start Python)."""
    children = list(work.get("pids") or [])
    return children if work.get("children_only") else [work["pid"], *children]


def start(path, hold=False, wait=True, **params):
    """Start the workload file `path` with `params`; returns the Popen (stdout carries its JSON report).

    hold=True: it stops just before its run() until release(): time to attach probes to its pid (a USDT probe
    with a semaphore is enabled in one process, which must exist first), or to start its interpreter while the
    probes compile. wait=False: return at once, not when it is held (a release() before then waits in its stdin)."""
    # -S: no site module. A workload needs only the standard library, and its interpreter then starts in a quarter
    # of the time (7 ms against 30 here, where a .pth file imports certifi): less CPU taken from BCC's compile
    # while it starts early, and sooner events from one started once the probes are attached.
    argv = [sys.executable, "-S", str(Path(__file__).resolve()), str(path)] + (["--hold"] if hold else [])
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value)) + ","
        argv += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    # Its own session and process group: Ctrl-C on the terminal is for the runner, which then stops the workload
    # itself (a KeyboardInterrupt in the workload would print a traceback under the learner's summary).
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE if hold else subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    if hold and wait:
        # Wait until it is held, its interpreter started and its files mapped: a probe enabled in a process that
        # is still starting may find none of them there yet (USDT(pid) read "no probes" one time in three).
        ready, _, _ = select.select([proc.stdout], [], [], HOLD_TIMEOUT)
        if ready:
            proc.stdout.readline()  # "held", or "" if it ended first (the load then says so)
    return proc


def release(proc):
    """Let a workload started with hold=True go on to its run()."""
    try:
        proc.stdin.write("go\n")
        proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # it has ended already: its report (or its absence) says so
    proc.stdin = None  # communicate() in report() would flush the closed pipe


def report(proc, timeout=None):
    """Wait for a workload started by start() and return its report (None if it failed)."""
    if proc.poll() is not None:
        # Ended: its children have ended with it (each workload waits for its own), unless it was killed while
        # they ran. Such an orphan keeps the report's pipe open, perhaps for ever (a child waiting for a start
        # its parent never gave): end it, so that reading to the end of the report returns.
        kill_group(proc)
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0 or not out.strip():
        return None
    return json.loads(out.strip().splitlines()[-1])


def stop(proc):
    """Stop a workload that is still running, with every process it started, and reap it."""
    if proc.poll() is None:
        proc.terminate()  # its SIGTERM handler ends its whole process group
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    kill_group(proc)


def kill_group(proc):
    """SIGKILL to the children an ended workload left behind, if any (its process group, which outlives it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- inside the workload's process ------------------------------------------------------------------------


def die_with_parent():
    """End when the runner that started us ends, even if it was killed with SIGKILL and could not stop us.

    Linux's PR_SET_PDEATHSIG sends us SIGTERM when our parent thread exits; if the parent is already
    gone by the time we ask (we were reparented), leave at once. Run by hand (no PARENT_ENV): nothing.
    """
    parent = os.environ.pop(PARENT_ENV, None)
    if not parent:
        return
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the runner's own stop() is all there is
    if os.getppid() != int(parent):
        os._exit(1)


def end_group(signum, frame):
    """SIGTERM: end the workload's children (its process group) with it.

    With SIGKILL, not SIGTERM again: a child forked at that moment inherits this handler, and CPython forgets a
    signal caught between fork() and the child's first Python line (its pending flags are cleared there), so one
    child in about sixty lived on, waiting for a start that never came. SIGKILL has no handler to lose it."""
    signal.signal(signum, signal.SIG_DFL)
    os.killpg(0, signal.SIGKILL)


def _value(text):
    """Command-line values as numbers where they are numbers, lists where comma-separated."""
    if "," in text:
        return [_value(part) for part in text.split(",") if part]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None):
    # the workload's sentences (its report's "what", its help and errors) in the runner's language, which LANGUAGE
    # passes on: the catalog of runner/language.py, bound here without importing the runner
    gettext.bindtextdomain("bcc-lessons", str(Path(__file__).resolve().with_name("locale")))
    gettext.textdomain("bcc-lessons")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     usage="workload.py LESSON_FOLDER/workload.py [--param VALUE ...]")
    parser.add_argument("path", help=gettext.gettext("a lesson's workload.py"))
    parser.add_argument("--hold", action="store_true",
                        help=gettext.gettext("wait for a line on stdin before run() (probes attach)"))
    args, rest = parser.parse_known_args(argv)
    if len(rest) % 2 or not all(flag.startswith("--") for flag in rest[::2]):
        parser.error(gettext.gettext("parameters come in pairs: --name value"))
    params = {flag[2:].replace("-", "_"): _value(value) for flag, value in zip(rest[::2], rest[1::2])}
    die_with_parent()
    signal.signal(signal.SIGTERM, end_group)
    try:
        Path("/proc/self/comm").write_text(COMM)
    except OSError:
        pass
    # The kernel's tracing caches a task's name at context switches (and at fork, when it was still the
    # interpreter's): one short wait after renaming makes trace_pipe's first line likelier to say bcc-workload
    # (or "<...>") than the old name. A select(), not time.sleep(): that is a clock_nanosleep(), which a lesson
    # counting sleeps would count.
    select.select([], [], [], 0.005)
    spec = importlib.util.spec_from_file_location("lesson_workload", args.path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = Path(args.path).resolve()
    root = Path(__file__).resolve().parent.parent
    source = str(path.relative_to(root)) if root in path.parents else str(path)
    result = {"source": source, "pid": os.getpid(), "ppid": os.getppid(), "comm": COMM}
    if args.hold:
        try:
            print("held", flush=True)  # the runner attaches to this pid now, then writes a line
        except BrokenPipeError:  # the runner is gone (Ctrl-C while it waited for this line): nobody to tell
            os._exit(1)
        sys.stdin.readline()
    try:
        result.update(module.run(**params))
    except OSError as err:  # something this machine lacks (a compiler, a file): the workload's sentence says which
        print(gettext.gettext("error: the workload could not run: {error}").format(error=err), file=sys.stderr)
        sys.exit(1)
    try:
        print(json.dumps(result), flush=True)
    except BrokenPipeError:  # the runner that would read the report is gone (killed): nobody to tell
        os._exit(1)


if __name__ == "__main__":
    main()
