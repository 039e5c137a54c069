"""Lesson 8 on the live kernel: each sleeper's histogram holds exactly the sleeps it timed on its own clock, the
disk's histogram holds at least the workload's direct reads, each within the run, and --linear and --pid work."""

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.support import ROOT, assert_nothing_left, kernel_state, lesson_programs, run_json

pytestmark = pytest.mark.bpf
PROGRAMS = lesson_programs("lesson8")


def _sum(rows, key="slot"):
    out = Counter()
    for r in rows:
        out[int(r.get(key, r.get("value")))] += int(r["count"])
    return out


def test_lesson8_each_sleepers_histogram_holds_exactly_the_sleeps_it_timed():
    before = kernel_state()
    events, summary = run_json("lesson8")
    work = summary["workload"]
    assert summary["workload_events"] == work["ops"] == 75
    sections = {h["section"]: h for h in summary["histograms"]}
    for child in work["children"]:
        rows = [e for e in events if e.get("latency") == "clock_nanosleep" and e["pid"] == child["pid"]]
        assert {e["comm"] for e in rows} == {child["comm"]}
        kernel = _sum(rows)
        clock = Counter({int(k): n for k, n in child["slots"].items()})
        moved = sum(abs(kernel[k] - clock[k]) for k in set(kernel) | set(clock)) // 2
        assert sum(kernel.values()) == sum(child["sleeps"].values()), (child, kernel)
        assert moved <= child["near_edge"], (child, kernel)  # exact, but for sleeps a hair above a bucket's start
        # the runner drew the same counts, one histogram per pid, as print_log2_hist(section_header="pid") does
        drawn = sections[f"pid = {child['pid']} {child['comm']}"]
        assert {b["low"]: b["count"] for b in drawn["buckets"] if b["count"]} == \
            {(1 << k) >> 1: n for k, n in kernel.items()}
        assert drawn["label"] == "usecs" and not drawn["linear"]
    assert_nothing_left(before, PROGRAMS)


def test_lesson8_block_io_histogram_measures_the_workloads_direct_reads():
    events, summary = run_json("lesson8")
    reader = summary["workload"]["reader"]
    if not reader["reads"]:
        pytest.skip(f"the workload found no folder on a block device here: {reader['device']}")
    io = _sum(e for e in events if e.get("latency") == "block I/O")
    assert sum(io.values()) >= reader["reads"], io  # each O_DIRECT read went to the disk; others' I/O may add
    run_us = summary["duration"] * 1e6
    assert all((1 << k) >> 1 <= run_us for k in io), (io, run_us)  # every request took less than the whole run
    assert any(h["section"] == "block I/O, all disks" for h in summary["histograms"])


def test_lesson8_linear_histogram_counts_whole_milliseconds():
    events, summary = run_json("lesson8", "--linear")
    for child in summary["workload"]["children"]:
        ms = _sum((e for e in events if e.get("latency") == "clock_nanosleep" and e["pid"] == child["pid"]),
                  key="value")
        assert sum(ms.values()) == sum(child["sleeps"].values()), (child, ms)
        shortest = min(int(float(m)) for m in child["sleeps"])
        assert min(ms) >= shortest, (child, ms)  # a sleep never ends early: 2.1 ms counts as 2 ms or more
        for asked, n in child["sleeps"].items():
            assert sum(c for m, c in ms.items() if m >= int(float(asked))) >= n
    assert all(h["linear"] and h["label"] == "msecs" for h in summary["histograms"] if h["section"].startswith("pid"))


def test_lesson8_pid_times_only_that_process():
    before = kernel_state()
    code = ("import ctypes, sys; sys.path.insert(0, 'lessons/lesson8_latency'); import workload; "
            "libc = ctypes.CDLL(None); sys.stdin.readline(); "
            "[workload.sleeper(libc, 2.1) for _ in range(12)]")
    target = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, text=True)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "lesson8", "--pid", str(target.pid), "--json",
                                 "--duration", "3"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
        for line in proc.stderr:  # the runner says "Tracing ..." once attached: then the target may sleep
            if "Tracing" in line:
                break
        target.stdin.write("go\n")
        target.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        target.kill()
        target.wait()
    assert proc.returncode == 0, err
    objects = [json.loads(line) for line in out.splitlines() if line.strip()]
    events = objects[:-1]
    sleeps = [e for e in events if e.get("latency") == "clock_nanosleep"]
    assert {e["pid"] for e in sleeps} == {target.pid}
    assert sum(e["count"] for e in sleeps) == 12
    assert_nothing_left(before, PROGRAMS)
