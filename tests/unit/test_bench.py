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



def step(asked, offered, lost):
    return {"asked_per_s": asked, "offered_per_s": offered, "lost": lost}


def test_cpu_per_event_is_nanoseconds_of_consumer_time_per_event_read():
    assert stats.cpu_per_event(0.25, 100_000) == 2500.0
    assert stats.cpu_per_event(0.1, 0) is None


def test_the_zero_loss_ceiling_is_the_fastest_clean_rate_below_the_first_lossy_one():
    ramp = [step(25_000, 24_990, 0), step(32_500, 32_480, 0), step(42_250, 41_000, 0), step(54_925, 54_000, 12),
            step(48_000, 47_500, 0), step(51_000, 50_200, 3)]
    assert stats.zero_loss_ceiling(ramp) == 47_500  # the offered rate, not the asked one
    assert stats.ramp_bracket(ramp) == (48_000, 51_000)
    assert stats.ceiling_bound(ramp) == "consumer"


def test_a_lucky_clean_run_above_a_lossy_one_does_not_raise_the_ceiling():
    ramp = [step(25_000, 25_000, 0), step(32_500, 32_500, 7), step(40_000, 40_000, 0)]
    assert stats.zero_loss_ceiling(ramp) == 25_000
    assert stats.ramp_bracket(ramp) == (25_000, 32_500)


def test_a_ramp_the_producer_stopped_has_no_lossy_bracket_and_says_so():
    ramp = [step(25_000, 25_000, 0), step(32_500, 27_000, 0)]
    assert stats.zero_loss_ceiling(ramp) == 27_000
    assert stats.ramp_bracket(ramp) == (32_500, None)
    assert stats.ceiling_bound(ramp) == "producer"
    assert stats.zero_loss_ceiling([step(25_000, 25_000, 4)]) is None
    assert stats.ramp_bracket([step(25_000, 25_000, 4)]) == (None, 25_000)


def test_two_sets_of_runs_are_apart_only_when_their_ranges_do_not_overlap():
    assert stats.apart([100, 110, 105], [120, 130])
    assert not stats.apart([100, 125], [120, 130])
    assert not stats.apart([], [1]) and not stats.apart([None], [1])


def test_the_cost_table_says_which_neighbours_differ_by_more_than_the_noise():
    from bench import report
    words = report.noise_words({"no probe": [0, 0, 0], "a": [100, 110, 105], "b": [108, 112, 111],
                                "c": [300, 320, 310]})
    assert "apart by more than the noise (no round of one overlaps the other's range): b and c." in words
    assert "Within the noise of each other: a and b." in words


def test_the_pipeline_ratios_compare_medians_of_the_runner_and_the_classic_consumer():
    from bench import report
    run = lambda ns: {"cpu_per_event_ns": ns, "exact": True, "lost": 0}  # noqa: E731
    cpu = {"classic": [run(6000), run(5000), run(7000)], "runner": [run(3000), run(2500), run(3500)]}
    ramps = {"classic": [{"ceiling": 100_000, "bound": "consumer"}, {"ceiling": 110_000, "bound": "consumer"},
                         {"ceiling": 90_000, "bound": "consumer"}],
             "runner": [{"ceiling": 150_000, "bound": "producer"}] * 3}
    headers, rows, lines = report.pipeline_rows(cpu, ramps, 50_000)
    assert "cpu_per_event_ratio runner/classic 0.50" in lines
    assert "zero_loss_ceiling_ratio runner/classic 1.50" in lines
    assert rows[0][1] == "6,000 ns ± 1,000" and rows[1][3] == "150,000 ± 0" and rows[1][4] == "producer"


def test_startup_rows_say_until_which_moment_each_lesson_was_timed():
    from bench import report
    headers, rows, lines = report.startup_rows({
        "lesson1": {"runner": [0.30, 0.32, 0.31], "plain": [0.33, 0.34, 0.32], "to": "first"},
        "lesson10": {"runner": [1.5, 1.6], "plain": [1.5, 1.5], "to": "attached"}})
    assert headers[1] == "until" and rows[0][1] == "first event" and rows[1][1] == "attached"
    assert lines == ["startup_ratio lesson1 0.94", "startup_ratio lesson10 1.03"]


def test_a_source_lets_events_gather_in_a_default_buffer_and_reads_a_smaller_one_at_once():
    from runner import sources
    assert sources.gather(None) == sources.gather(8) == sources.gather(64) == sources.GATHER
    assert sources.gather(1) == sources.gather(4) == 0.0


def test_a_run_without_an_event_is_reported_with_what_its_summary_counted():
    from bench.startup import said
    assert said('{"summary": {"events": 0, "lost": null, "workload": {"pid": 7, "ops": 5}}}') == \
        'summary: 0 events, None lost, workload {"pid": 7, "ops": 5}'
    assert said("error: x" * 100) == ("error: x" * 100)[:300]


def test_an_event_printed_right_after_the_attached_line_on_the_other_stream_counts(tmp_path):
    """The runner says "Tracing ... Ctrl-C" on stderr, then prints its first event on stdout at once: both pipes are
    ready when the bench looks. The event counts (12 of 60 lesson 7 runs here were lost before, the fastest ones)."""
    import sys
    from types import SimpleNamespace

    from bench import startup
    fast = tmp_path / "fast.py"
    fast.write_text("import os, time\n"
                    "time.sleep(0.2)\n"  # the bench is waiting in select() by now
                    "os.write(2, b'Tracing x... Hit Ctrl-C to end.\\n')\n"
                    "os.write(1, b'{\"pid\": 1, \"comm\": \"a\"}\\n')\n"
                    "time.sleep(0.2)\n")
    lesson = SimpleNamespace(id="fake", events="perf")
    for attempt in range(5):
        got = startup._run([sys.executable, str(fast)], lesson, "runner", startup.is_runner_event, 2.0, 10)
        assert got["attached"] is not None and got["first"] is not None, (attempt, got, startup.FAILURES)


def test_the_startup_ratio_is_the_median_of_the_pairs_of_runs_both_ways_completed():
    from bench.stats import paired_ratio, ratio, median
    runner, plain = [0.30, 0.60, 0.33, None, 0.31], [0.30, 0.50, 0.30, 0.29, None]
    # pairs: 1.0, 1.2, 1.1 (a slow moment slowed both of the second pair); the medians alone would say 0.32/0.30
    assert round(paired_ratio(runner, plain), 6) == 1.1
    assert round(ratio(median(runner), median(plain)), 3) == 1.067
    assert paired_ratio([None], [0.3]) is None
