"""Lesson 10 on the live kernel: sampling on the CPU clock attributes the workload's CPU time to hot() and warm() in
its 3:1 ratio, by name through its frame pointers; the flame graph names them; --pid keeps one process."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.support import assert_nothing_left, kernel_state, lesson_programs, run_json

pytestmark = pytest.mark.bpf
PROGRAMS = lesson_programs("lesson10")
# About 198 samples of bcc-spin at 99 Hz for 2 s of CPU time: hot()'s share of 3:1 is 0.75, one standard deviation
# of it sqrt(0.75 * 0.25 / 198) = 0.031; three of them either way.
SHARE, TOLERANCE = 0.75, 0.10


def test_lesson10_attributes_the_workloads_samples_to_hot_and_warm_3_to_1_and_draws_them(tmp_path):
    before = kernel_state()
    svg = tmp_path / "profile.svg"
    events, summary = run_json("lesson10", "--flamegraph", svg)
    work = summary["workload"]
    spin = work["pids"][0]
    mine = [e for e in events if e["pid"] == spin]
    by_leaf = {}
    for e in mine:
        by_leaf[e["stack"].split(";")[-1]] = by_leaf.get(e["stack"].split(";")[-1], 0) + e["count"]
    hot, warm = by_leaf.get("hot", 0), by_leaf.get("warm", 0)
    samples = sum(e["count"] for e in mine)
    # 99 Hz for its CPU time: each sample is one tick of its CPU's clock while it ran
    assert abs(samples - 99 * work["cpu_seconds"]) <= 0.1 * 99 * work["cpu_seconds"], (samples, work)
    assert hot + warm >= 0.9 * samples, by_leaf  # its time is in those two functions
    assert abs(hot / (hot + warm) - SHARE) <= TOLERANCE, (hot, warm)
    # named through its frame pointers, all the way up to main()
    assert all("main;hot" in e["stack"] or "main;warm" in e["stack"] for e in mine
               if e["stack"].endswith((";hot", ";warm"))), mine
    graph = summary["flamegraph"]
    assert graph["svg"] == str(svg) and graph["samples"] == summary["events"]
    titles = [t.text for t in ET.parse(svg).iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("hot (") for t in titles) and any(t.startswith("warm (") for t in titles), titles
    folded = dict(line.rsplit(" ", 1) for line in (tmp_path / "profile.folded").read_text().splitlines())
    rows = {}
    for e in events:  # the folded file holds the rows' stacks, summed over the reads
        rows[e["stack"]] = rows.get(e["stack"], 0) + e["count"]
    assert {stack: int(n) for stack, n in folded.items()} == rows
    assert_nothing_left(before, PROGRAMS)


def test_lesson10_with_pid_keeps_only_that_process(tmp_path):
    before = kernel_state()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        events, summary = run_json("lesson10", "--pid", spinner.pid, "--duration", "2", "--flamegraph",
                                   tmp_path / "p.svg")
    finally:
        spinner.kill()
        spinner.wait()
    assert events and {e["pid"] for e in events} == {spinner.pid}
    assert sum(e["count"] for e in events) >= 99  # 2 s of a busy loop at 99 Hz: about 198
    assert f"pid {spinner.pid}" in summary["probes"][0]["target"]
    assert_nothing_left(before, PROGRAMS)
