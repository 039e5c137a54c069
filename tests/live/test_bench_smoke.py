"""Tiny live runs of the benchmark's measures: every call of the flood child is delivered or counted lost, the
paced runs measure the consumer's CPU per event, a ramp finds a zero-loss ceiling, and the start-up runs time a
lesson both ways."""

import pytest


@pytest.fixture(scope="module")
def flood():
    from bench import mechanisms
    b = mechanisms.load()
    child = mechanisms.Child()
    try:
        mechanisms.set_target(b, child.pid)
        yield mechanisms, b, child, mechanisms.Rings(b, child.pid)
    finally:
        child.close()
        b.cleanup()


@pytest.mark.bpf
def test_throughput_counts_every_call_as_delivered_or_lost(flood):
    mechanisms, b, child, rings = flood
    for way in mechanisms.WAYS:
        result = mechanisms.throughput(b, child, rings, way, "small", 0.1)
        assert result["calls"] > 0
        assert result["delivered"] + result["lost"] == result["calls"], (way, result)


@pytest.mark.bpf
def test_paced_runs_measure_the_consumers_cpu_per_event_and_a_ramp_finds_its_ceiling(flood):
    mechanisms, b, child, rings = flood
    for way in mechanisms.PIPELINE_WAYS:
        run = mechanisms.paced(b, child, rings, way, 5_000, 0.2)
        assert run["exact"] and run["lost"] == 0, (way, run)
        assert 0.8 * 1_000 <= run["delivered"] <= 1.2 * 1_000 + len(mechanisms.os.sched_getaffinity(0)), (way, run)
        assert run["cpu_s"] > 0 and run["cpu_per_event_ns"] == run["cpu_s"] * 1e9 / run["delivered"]
    # an event per call read in Python costs the consumer far more than a count read once (the measured alternative)
    per_event = mechanisms.paced(b, child, rings, "classic", 5_000, 0.2)["cpu_per_event_ns"]
    counted = mechanisms.paced(b, child, rings, "percpu_count", 5_000, 0.2)["cpu_per_event_ns"]
    assert counted < per_event / 5
    ramp = mechanisms.ramp(b, child, rings, "runner", 0.1, start=20_000, factor=2.0, bisect=1, limit=80_000)
    assert ramp["steps"] and all(s["exact"] for s in ramp["steps"])
    assert ramp["ceiling"] is None or ramp["ceiling"] >= 0.9 * 20_000
    assert ramp["bound"] in ("consumer", "producer")


@pytest.mark.bpf
def test_startup_times_a_lesson_both_ways_to_its_first_event():
    from bench import startup
    from runner import lessons
    lesson = lessons.find("lesson1")
    result = startup.measure([lesson], 1)["lesson1"]
    assert result["to"] == "first" and startup.FAILURES == []
    (runner,), (plain,) = result["runner"], result["plain"]
    assert 0 < runner < 30 and 0 < plain < 30
