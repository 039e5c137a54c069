"""Lesson 9 on the live kernel: Python's USDT probes count each of the workload's calls, exactly, for its pid; a
learner's own Python process with --pid; and the sentences where there is no process or no probe to attach to."""

import subprocess
import sys
import time
from collections import Counter

import pytest

from runner import lessons, session
from tests.support import assert_nothing_left, kernel_state, lesson_programs, run_json, runner

pytestmark = pytest.mark.bpf
PROGRAMS = lesson_programs("lesson9")
NAMES = {"brew_coffee", "steam_milk", "pour_latte"}


def counted(events, pid, probe):
    """{name: count} of the rows of one pid and probe, over every read."""
    out = Counter()
    for e in events:
        if e["pid"] == pid and e["probe"] == probe:
            out[e["name"]] += e["count"]
    return out


def test_lesson9_counts_each_audit_event_of_the_workload_exactly_for_its_pid():
    before = kernel_state()
    events, summary = run_json("lesson9")
    work = summary["workload"]
    assert work["calls"] == {"brew_coffee": 30, "steam_milk": 20, "pour_latte": 10}
    audit = counted(events, work["pid"], "audit")
    assert {name: audit[name] for name in NAMES} == work["calls"]
    assert all(str(work["pid"]) in p["target"] for p in summary["probes"])  # attached to that one process
    assert {e["pid"] for e in events} == {work["pid"]}  # and to no other: the probes fire in its pid alone
    # function__entry: fires on Python 3.6-3.10, attached and silent on 3.11, absent from 3.12 (the runner says so)
    targets = " ".join(p["target"] for p in summary["probes"])
    calls = counted(events, work["pid"], "function__entry")
    if "python:function__entry" not in targets:
        assert summary["fallbacks"] == [lessons.find("lesson9").fallback]
        assert summary["probes"][0]["mechanism"] == "USDT (audit only)"
    elif "never fires it" in targets:
        assert not calls and work["python"].startswith("3.11.")
    else:
        assert {name: calls[name] for name in NAMES} == work["calls"]
    assert_nothing_left(before, PROGRAMS)


def test_lesson9_second_trace_attaches_to_a_new_workload_and_counts_it_exactly():
    # A notebook's second Start: the first workload is gone, its probes can never fire again; the run attaches anew.
    before = kernel_state()
    run = session.Run(lessons.find("lesson9"), session.RunOptions(show_code=False))
    try:
        run.load()
        first = run.trace()
        second = run.trace()
    finally:
        run.close()
    pids = [s["workload"]["pid"] for s in (first, second)]
    assert pids[0] != pids[1]
    for s in (first, second):
        assert s["workload_events"] >= s["workload"]["ops"]  # its 60 audit events, and the interpreter's own
    assert_nothing_left(before, PROGRAMS)


def test_lesson9_traces_a_learners_own_python_process_with_pid():
    before = kernel_state()
    script = ("import sys, time\nsys.stdin.readline()\n"
              "for i in range(25): sys.audit('lesson9.tick', i)\ntime.sleep(0.5)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, text=True)
    try:
        traced = subprocess.Popen([sys.executable, "-m", "runner", "lesson9", "--pid", str(proc.pid), "--no-code",
                                   "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=str(lessons.ROOT))
        lines = []
        for line in traced.stdout:  # its ticks start once the runner says the probes are attached
            lines.append(line)
            if line.startswith("Tracing "):
                break
        proc.stdin.write("go\n")
        proc.stdin.close()
        out, err = traced.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert traced.returncode == 0, err
    rows = [line.split() for line in "".join(lines).splitlines() + out.splitlines()]
    ticks = sum(int(r[3]) for r in rows if len(r) == 4 and r[:3] == [str(proc.pid), "audit", "lesson9.tick"])
    assert ticks == 25, out
    assert f"Process {proc.pid} (--pid) has exited" in out
    assert_nothing_left(before, PROGRAMS)


def test_lesson9_without_a_process_to_attach_to_says_so_in_one_sentence():
    before = kernel_state()
    proc = runner("lesson9", "--no-workload", "--no-code")
    assert proc.returncode == 2
    assert "lesson9 attaches its probes to one process, and --no-workload leaves out the one it would start." in proc.stderr
    assert "Traceback" not in proc.stderr
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        proc = runner("lesson9", "--pid", sleeper.pid, "--no-code")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 2
    assert f"Process {sleeper.pid} has no Python audit probe" in proc.stderr and "fix: Give the pid of a Python" in proc.stderr
    assert_nothing_left(before, PROGRAMS)
