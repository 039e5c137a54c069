"""The benchmark's pure helpers (bench/stats.py)."""

from bench import stats
from bench.startup import is_plain_event, is_runner_event


def test_median_and_spread_ignore_failed_runs():
    assert stats.median([3, None, 1, 2]) == 2
    assert stats.spread([0.5, None, 0.75, 0.25]) == 0.5
    assert stats.summary([None, None]) == {"median": None, "spread": None, "min": None, "max": None, "n": 0}


def test_ratio_lines_are_one_name_and_one_number():
    assert stats.ratio_line("startup_ratio", "lesson1", 1.0449) == "startup_ratio lesson1 1.04"
    assert stats.ratio_line("cost_ns", "perf_submit", 849.6, digits=0) == "cost_ns perf_submit 850"
    assert stats.ratio_line("throughput_ratio", "runner/classic", stats.ratio(1, 0)) == "throughput_ratio runner/classic nan"


def test_markdown_table_aligns_first_column_left_and_numbers_right():
    table = stats.markdown_table(["way", "events/s"], [["classic", "1,000"], ["runner", "1,020"]])
    assert table.splitlines() == ["| way | events/s |", "| :--- | ---: |", "| classic | 1,000 |",
                                  "| runner | 1,020 |"]


def test_spread_is_shown_as_half_the_range():
    assert stats.fmt_spread(stats.summary([1.0, 2.0, 1.5]), 2, " s") == "1.50 s ± 0.50"


def test_first_event_lines_are_told_from_headers_and_time_stamps():
    assert not is_plain_event("TIME(s)            COMM             PID    MESSAGE")
    assert not is_plain_event("10:40:36")
    assert is_plain_event("997.479592000      bcc-workload     24655   Hello, World!")
    assert is_runner_event('{"comm": "bash", "pid": 1}')
    assert not is_runner_event('{"summary": {}}') and not is_runner_event("Tracing ...")

