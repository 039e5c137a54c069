"""Lost events are counted exactly and reported: in the summary, in --json, as the kernel dropped them.

Two halves of one chain:
- The runner's perf buffer source counts what the kernel dropped: with a one-page buffer flooded by a child
  whose calls a pid-filtered program sees (bench/flood.c through bench/mechanisms.py, reused), every call is
  either delivered or counted lost, and some are lost.
- The summary reports that count: lesson 2 with --pages 1, run in this process, prints a --json summary whose
  `lost` is exactly the total BCC handed to the perf buffer's lost callback (and the text summary says it).
- Where the kernel cannot report a loss (it does with the next event written to that CPU's ring, and none came
  after the reader was stopped), the summary says how many of the workload's events never arrived, from the
  workload's own count, and calls the kernel's figure a lower bound.
"""

import io
import json
import re

import pytest

from tests.support import assert_nothing_left, kernel_state

pytestmark = pytest.mark.bpf


def test_a_flooded_one_page_buffer_counts_every_drop_the_kernel_made():
    from bench import mechanisms
    b = mechanisms.load()
    child = mechanisms.Child()
    way = None
    try:
        mechanisms.set_target(b, child.pid)  # the program sees the child's calls only: exact by design
        way = mechanisms.Runner(b, child.pid, mechanisms.PAGES_SMALL)  # the runner's PerfBuffer source, 1 page
        b.attach_tracepoint(tp=mechanisms.TRACEPOINT, fn_name=way.fn)
        child.send("run 20000")  # nobody reads meanwhile: the ring fills and the kernel drops the rest
        calls = child.read()["calls"]
        mechanisms.drain(way)
        child.send("cpus")  # one more event on each CPU: a ring reports its drops with the next event it takes
        calls += child.read()["calls"]
        mechanisms.drain(way)
        b.detach_tracepoint(tp=mechanisms.TRACEPOINT)
    finally:
        if way is not None:
            way.close()
        child.close()
        b.cleanup()
    assert way.lost > 0, f"20000 calls into one unread page lost nothing: {way.delivered} delivered"
    assert way.delivered + way.lost == calls, (way.delivered, way.lost, calls)


def run_lesson2(monkeypatch, json_mode):
    """Lesson 2 with a one-page buffer, in this process; returns (output text, lost-callback total)."""
    from bcc import table

    from runner import lessons, render, session
    reported = []
    original = table.PerfEventArray.open_perf_buffer

    def counting(self, callback, page_cnt=8, lost_cb=None, **more):  # more: wakeup_events, where this bcc has it
        def lost(count):
            reported.append(count)
            lost_cb(count)
        return original(self, callback, page_cnt=page_cnt, lost_cb=lost, **more)

    monkeypatch.setattr(table.PerfEventArray, "open_perf_buffer", counting)
    stream = io.StringIO()
    lesson = lessons.find("lesson2")
    opts = session.RunOptions(pages=1, show_code=False)
    code = session.run(lesson, opts, render.Output(lesson, json_mode=json_mode, quiet=True, stream=stream))
    assert code == 0, stream.getvalue()
    return stream.getvalue(), sum(reported)


def losing_run(monkeypatch, json_mode):
    """run_lesson2() until its burst loses events, 3 times at most (a reader with a free core can keep up)."""
    for attempt in range(3):
        text, lost = run_lesson2(monkeypatch, json_mode=json_mode)
        if lost > 0:
            break
    return text, lost


def test_the_summary_and_json_report_exactly_the_lost_callbacks_total(monkeypatch, capsys):
    before = kernel_state()
    text, lost = losing_run(monkeypatch, json_mode=True)
    objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    summary = objects[-1]["summary"]
    assert lost > 0, "lesson 2's burst should overflow a one-page buffer"
    assert summary["lost"] == lost
    assert summary["events"] == len(objects) - 1, "every delivered event is printed and counted"
    work = summary["workload"]
    assert summary["workload_events"] <= work["ops"] <= summary["workload_events"] + lost, summary

    text, lost = losing_run(monkeypatch, json_mode=False)
    assert lost > 0 and f", {lost} lost." in text, text[-2000:]
    # and where it happened, between the events, as lesson 2's own print_lost does: the lines add up to the total
    said = [int(m) for m in re.findall(r"^Lost (\d+) events: the buffer filled", text, re.M)]
    assert said and sum(said) == lost, said
    assert_nothing_left(before, {"hello"})


def test_a_reader_stopped_through_the_end_of_the_workload_is_told_of_the_losses_the_kernel_never_reported():
    """SIGSTOP the runner from just after "Tracing" until the workload is done: the ring fills, every later event
    (the per-CPU ones that would carry the loss reports too) is dropped, and the kernel reports none of it."""
    import signal
    import subprocess
    import sys
    import time

    from tests.support import ROOT
    before = kernel_state()
    proc = subprocess.Popen([sys.executable, "-m", "runner", "lesson2", "--pages", "1", "--json"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while "Hit Ctrl-C" not in proc.stderr.readline():
        assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(2.5)  # the workload's forks, burst and per-CPU events take about 1.5 s
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    s = json.loads(out.strip().splitlines()[-1])["summary"]
    work = s["workload"]
    from runner.render import caused
    missing = caused(work) - s["workload_events"]
    assert missing > s["lost"], f"the stop lost nothing the kernel left unreported: {s}"
    assert s["lost_unreported"] == missing - s["lost"], s
    assert_nothing_left(before, {"hello"})
