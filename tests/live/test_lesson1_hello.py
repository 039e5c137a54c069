import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.doctor import has_kprobe_interface
from tests.support import ROOT, assert_nothing_left, kernel_state, lesson_programs, run_json, runner

pytestmark = [pytest.mark.bpf, pytest.mark.kprobe]
PROGRAMS = lesson_programs("lesson1")


@pytest.mark.per_kernel  # the kprobe path or its fallback: what the kernel has
def test_lesson1_reports_each_fork_of_the_workload_with_its_pid():
    before = kernel_state()
    events, summary = run_json("lesson1")
    work = summary["workload"]
    assert work["source"] == "lessons/lesson1_hello/workload.py" and work["ops"] == 5
    mine = [e for e in events if e["pid"] == work["pid"]]
    # one clone() per fork, each seen exactly once
    assert len(mine) == work["ops"] == summary["workload_events"]
    assert all(e["message"] == "Hello, World!" for e in mine)
    # trace_pipe names a task from the kernel's cache of names, saved at context switches: "<...>" where it has
    # none, or a stale name until the workload's next switch: the interpreter's (before it renamed itself) or the
    # name of the process that last had this pid (seen in CI: "ca-certificates"). Names only move forward.
    before_rename = {Path(sys.executable).name[:15], Path(os.path.realpath(sys.executable)).name[:15]}
    names = [e["comm"] for e in mine]
    stale = [n for n in names if n not in {"bcc-workload", "<...>"} | before_rename]
    assert len(set(stale)) <= 1, names
    if "bcc-workload" in names:
        last_stale = max((i for i, n in enumerate(names) if n in stale), default=-1)
        assert last_stale < names.index("bcc-workload"), names
    times = [e["time"] for e in mine]
    assert times == sorted(times)
    assert summary["events"] == len(events) and summary["lost"] is None
    assert summary["kernel"] == os.uname().release
    assert_nothing_left(before, PROGRAMS)


@pytest.mark.per_kernel  # the kprobe path or its fallback: what the kernel has
def test_lesson1_takes_the_kprobe_path_where_it_exists_and_says_when_it_falls_back():
    _, summary = run_json("lesson1", "--events", "1")
    (probe,) = summary["probes"]
    if has_kprobe_interface():
        assert probe["mechanism"] == "kprobe" and probe["target"].endswith("sys_clone")
        assert summary["fallbacks"] == []
    else:
        assert probe == {"mechanism": "tracepoint", "target": "syscalls:sys_enter_clone"}
        assert "CONFIG_KPROBES" in summary["fallbacks"][0]


def test_lesson1_text_output_has_bcc_columns_and_the_workload_line():
    proc = runner("lesson1", "--no-code", check=True)
    assert "TIME(s)            COMM             PID     MESSAGE" in proc.stdout
    assert "The workload (pid" in proc.stdout and "made 5 clone() calls; 5 of the events above are its." in proc.stdout
    assert "Detached" in proc.stdout


def test_events_limit_stops_early():
    events, summary = run_json("lesson1", "--events", "2")
    assert len(events) == 2 and summary["events"] == 2


def start_and_wait_for_tracing(*args):
    """Start lesson 1 with --json; return once it says (on stderr) that its probe is attached."""
    proc = subprocess.Popen([sys.executable, "-m", "runner", "lesson1", "--json", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "Hit Ctrl-C to end" in line:
            return proc
    raise AssertionError(f"the runner never started tracing: {proc.stdout.read()}")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_a_signal_mid_run_detaches_everything_and_stops_the_workload(signum, code):
    before = kernel_state()
    proc = start_and_wait_for_tracing("--duration", "30")
    time.sleep(0.6)  # the workload is mid-way through its forks
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    summary = [line for line in out.splitlines() if line.startswith('{"summary"')]
    assert summary, out
    pid = json.loads(summary[0])["summary"]["workload_pid"]
    assert pid and not alive(pid), "the workload child outlived the runner"
    assert_nothing_left(before, PROGRAMS)


FORK_ONCE = """
import os
child = os.fork()
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
print(os.getpid())
"""


def test_no_workload_traces_what_the_learner_does():
    proc = start_and_wait_for_tracing("--no-workload", "--duration", "20")
    time.sleep(0.3)
    # a process of the test's own that forks once (dash would use vfork(), another syscall)
    child = subprocess.run([sys.executable, "-c", FORK_ONCE], capture_output=True, text=True)
    forker = int(child.stdout.strip())
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    objects = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert objects[-1]["summary"]["workload"] is None
    assert [o["pid"] for o in objects[:-1]].count(forker) == 1, "the test's own fork was not seen exactly once"


def test_a_second_trace_pipe_reader_gets_one_sentence_and_exit_3():
    # this kernel lets one process at a time open trace_pipe
    with open("/sys/kernel/debug/tracing/trace_pipe", "rb"):
        proc = runner("lesson1", "--events", "1")
    assert proc.returncode == 3, proc.stderr
    assert "Another program is reading the kernel's trace_pipe" in proc.stderr and "fix: Stop the other reader" in proc.stderr
    assert "Traceback" not in proc.stderr
