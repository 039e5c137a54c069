"""The runner's map-lesson plumbing without a kernel: Table source, interval output, table summary, lesson 2/3 workloads."""

import io
import json
import os

import importlib.util

from runner import lessons, render, session, sources, workload

LESSON = lessons.find("lesson3")  # columns comm, pid, count, slept_ms (declared as SLEPT(ms), %.3f)


class FakeGlue:
    """snapshot() hands out prepared reads, as a lesson's glue reads and clears its map."""

    def __init__(self, *reads):
        self.reads = list(reads)

    def snapshot(self, b):
        return self.reads.pop(0) if self.reads else []


def table(glue, json_mode=False, interval=0.05, events=None):
    """A Run of lesson 3 whose maps are FakeGlue's reads: (run, its terminal output)."""
    out = render.Output(LESSON, json_mode=json_mode, stream=io.StringIO())
    run = session.Run(LESSON, session.RunOptions(interval=interval, events=events), out)
    run.b, run.glue = object(), glue
    run.source = sources.Table(None, glue, run.options, out.interval)
    run.summary = summary()
    return run, out


def summary(workload_pid=None):
    return {"events": 0, "workload_events": 0, "workload_pid": workload_pid}


def test_table_rows_are_tagged_with_their_interval_and_counted_by_their_count():
    glue = FakeGlue([{"comm": "a", "pid": 7, "count": 3, "slept_ms": 1.5}, {"comm": "b", "pid": 8, "count": 2, "slept_ms": 0.0}],
                    [{"comm": "a", "pid": 7, "count": 4, "slept_ms": 2.0}])
    run, out = table(glue, json_mode=True)
    run.summary = s = summary(workload_pid=7)
    run.read_final()
    run.read_final()
    rows = [json.loads(line) for line in out.stream.getvalue().splitlines()]
    assert [r["interval"] for r in rows] == [1, 1, 2]
    assert s == {"events": 9, "workload_events": 7, "workload_pid": 7}
    assert run.source.rows == 3 and run.source.intervals == 2 and run.source.lost is None


def test_table_poll_reads_only_when_an_interval_is_due():
    run, _ = table(FakeGlue([{"pid": 1, "count": 1}]), interval=0.05)
    assert run.source.poll(0.0) == []
    rows = run.source.poll(0.2)
    assert rows == [{"interval": 1, "pid": 1, "count": 1}]


def test_table_events_limit_counts_rows():
    glue = FakeGlue([{"pid": 1, "count": 10}, {"pid": 2, "count": 10}, {"pid": 3, "count": 10}])
    run, out = table(glue, json_mode=True, events=2)
    run.read_final()
    assert run.source.rows == 2 and run.summary["events"] == 20


def test_text_mode_prints_an_interval_header_and_says_when_nothing_was_counted():
    run, out = table(FakeGlue([], [{"comm": "sleepy", "pid": 42, "count": 5, "slept_ms": 100.25}]))
    run.read_final()
    run.read_final()
    text = out.stream.getvalue()
    assert "interval 1" in text and "(nothing counted)" in text and "interval 2" in text
    assert "COMM             PID     COUNT    SLEPT(ms)" in text
    assert "sleepy           42      5        100.250" in text


def test_table_summary_says_what_the_map_counted_for_the_workload():
    out = render.Output(stream=io.StringIO())
    out.summary({"events": 138, "lost": None, "duration": 2.5, "rows": 6, "intervals": 2, "workload_events": 60,
                 "workload": {"pid": 9, "comm": "bcc-workload", "ops": 60, "what": "sleeps (clock_nanosleep() calls)"},
                 "probes": [{"mechanism": "tracepoint", "target": "syscalls:sys_enter_clock_nanosleep"}],
                 "fallbacks": [], "kernel": "6.18"})
    text = out.stream.getvalue()
    assert "138 events counted in the kernel, shown as 6 rows over 2 intervals" in text
    assert "made 60 sleeps (clock_nanosleep() calls); the map counted 60 for its pid." in text
    assert "trace_pipe" not in text


def test_sleeps_workload_reports_each_process_and_its_count():
    proc = workload.start(LESSON.workload_path, counts=[3, 2, 1], interval=0.001)
    report = workload.report(proc, timeout=30)
    assert report["ops"] == 3 and report["comm"] == workload.COMM
    assert [(c["comm"], c["ops"]) for c in report["children"]] == [("bcc-workload-1", 2), ("bcc-workload-2", 1)]
    assert len({report["pid"], *(c["pid"] for c in report["children"])}) == 3


def lesson2_workload():
    spec = importlib.util.spec_from_file_location("lesson2_workload", lessons.find("2").workload_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_refused_clones_make_no_process():
    before = len(os.listdir("/proc"))
    lesson2_workload().refused_clones(1000)  # each returns EINVAL; a child would have exited the test process
    assert abs(len(os.listdir("/proc")) - before) < 50


def test_fork_burst_counts_the_per_cpu_tail():
    proc = workload.start(lessons.find("2").workload_path, count=1, interval=0.01, burst=10)
    report = workload.report(proc, timeout=30)
    assert report["ops"] == 1 + 10 + report["cpus"] and report["cpus"] == len(os.sched_getaffinity(0))


def test_a_map_summary_says_full_only_when_a_map_was_full_and_counts_in_words_that_add_up():
    base = {"events": 3, "lost": None, "duration": 1.0, "rows": 1, "intervals": 1, "workload": None,
            "probes": [], "fallbacks": [], "kernel": "6.18"}
    text = "\n".join(render.summary_lines(dict(base, full_maps=[])))
    assert "shown as 1 row over 1 interval in 1.0 s." in text and "full" not in text and "refuses" not in text
    text = "\n".join(render.summary_lines(dict(base, full_maps=["counts"])))
    assert "The map counts was full at a read: a full map refuses new keys" in text


def test_without_a_workload_no_event_is_counted_as_the_workloads():
    run, _ = table(FakeGlue([{"comm": "a", "count": 4}]), json_mode=True)  # a row with no pid
    run.summary = summary(workload_pid=None)
    run.read_final()
    assert run._workload_events() == 0


def test_a_ctrl_c_while_the_ended_workloads_report_is_read_waits_until_it_is_read(monkeypatch):
    """The fault test's FAULT_SEED=3079228758: Ctrl-C inside communicate() closed the pipe half-read, and the
    second read at the end failed with "I/O operation on closed file"."""
    import signal
    import time
    from runner import signals
    proc = workload.start(LESSON.workload_path, counts=[1], interval=0.001)
    proc.wait(timeout=30)
    real = workload.report

    def interrupted(p, timeout=None):
        os.kill(os.getpid(), signal.SIGINT)  # as the learner's Ctrl-C, delivered in the middle of the read
        time.sleep(0.05)
        return real(p, timeout)

    monkeypatch.setattr(workload, "report", interrupted)
    run, _ = table(FakeGlue())
    run.proc = proc
    with signals.terminated_by_signals():
        try:
            run._collect_workload()
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the Ctrl-C was lost")
    assert run.summary["workload"]["ops"] == 1
