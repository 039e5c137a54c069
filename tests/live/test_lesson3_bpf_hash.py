"""Lesson 3 on the live kernel: per-process counts in a BPF_HASH equal what the workload did, interval by interval."""

import re

import pytest

from tests.support import assert_nothing_left, kernel_state, lesson_programs, run_json, runner

pytestmark = pytest.mark.bpf


def names():
    return lesson_programs("lesson3")  # with BCC's tracepoint__<category>__<event> names


def test_lesson3_counts_each_pid_exactly_across_cleared_intervals():
    before = kernel_state()
    rows, summary = run_json("lesson3", "--interval", "0.3")
    work = summary["workload"]
    owners = [{"pid": work["pid"], "comm": work["comm"], "ops": work["ops"]}] + work["children"]
    assert [o["ops"] for o in owners] == [60, 40, 20]
    for owner in owners:
        mine = [r for r in rows if r["pid"] == owner["pid"]]
        assert {r["comm"] for r in mine} == {owner["comm"]}
        # The map is read and emptied every interval: the intervals' counts add up to the sleeps, exactly.
        assert sum(r["count"] for r in mine) == owner["ops"], mine
        assert len({r["interval"] for r in mine}) == len(mine)  # one row per interval, no key read twice
        # Each sleep asked for 20 ms; the kernel measured entry to exit of each one.
        assert sum(r["slept_ms"] for r in mine) >= 0.95 * owner["ops"] * 20
    parent_intervals = {r["interval"] for r in rows if r["pid"] == work["pid"]}
    assert len(parent_intervals) >= 3  # 60 sleeps of 20 ms span several 0.3 s intervals
    assert summary["workload_events"] == work["ops"]
    assert summary["events"] == sum(r["count"] for r in rows)
    assert summary["rows"] == len(rows) and summary["intervals"] >= max(r["interval"] for r in rows)
    assert summary["lost"] is None  # a map does not report refused updates
    assert_nothing_left(before, names())


def test_lesson3_prints_a_sorted_table_each_interval_and_says_what_the_map_counted():
    before = kernel_state()
    proc = runner("lesson3", "--no-code", "--interval", "0.5", check=True)
    out = proc.stdout
    assert re.search(r"^\d\d:\d\d:\d\d  interval 1$", out, re.M)
    assert re.search(r"^COMM\s+PID\s+COUNT\s+SLEPT\(ms\)$", out, re.M)
    tables = re.split(r"^\d\d:\d\d:\d\d  interval \d+$", out, flags=re.M)[1:]
    assert len(tables) >= 2
    for table in tables:
        counts = [int(m.group(1)) for m in re.finditer(r"^\S+\s+\d+\s+(\d+)\s+[\d.]+$", table, re.M)]
        assert counts == sorted(counts, reverse=True)
    match = re.search(r"The workload \(pid (\d+), bcc-workload\) made 60 sleeps .*; the map counted (\d+) for its pid\.", out)
    assert match and match.group(2) == "60", out[-1500:]
    assert_nothing_left(before, names())


def test_lesson3_without_batch_calls_reads_and_deletes_and_says_so(monkeypatch):
    """A bcc without items_lookup_and_delete_batch() (Debian 11's 0.18), made here by taking the call away
    (where this bcc is such a bcc, there is nothing to take away)."""
    import io
    import json

    from bcc import table
    from runner import lessons, render, session

    monkeypatch.delattr(table.TableBase, "items_lookup_and_delete_batch", raising=False)
    lesson = lessons.find("lesson3")
    assert list(lesson.missing_bcc_calls()) == ["table.HashTable.items_lookup_and_delete_batch"]
    before, stream = kernel_state(), io.StringIO()
    code = session.run(lesson, session.RunOptions(show_code=False, interval=0.3),
                       render.Output(lesson, json_mode=True, stream=stream))
    assert code == 0, stream.getvalue()
    *rows, last = [json.loads(line) for line in stream.getvalue().splitlines()]
    summary = last["summary"]
    work = summary["workload"]
    counted = sum(r["count"] for r in rows if r["pid"] == work["pid"])
    # items() then a delete per key: a sleep that ends between the two is lost, as the fallback sentence says;
    # at most one per read (a thread sleeps 20 ms at a time, a read takes well under that)
    assert work["ops"] == 60 and 60 - summary["intervals"] <= counted <= 60, (counted, summary["intervals"])
    assert any("has no items_lookup_and_delete_batch()" in s for s in summary["fallbacks"])
    assert_nothing_left(before, names())
