"""One tiny live throughput run of the benchmark: every call of the flood child is delivered or counted lost."""

import pytest


@pytest.mark.bpf
def test_throughput_counts_every_call_as_delivered_or_lost():
    from bench import mechanisms
    b = mechanisms.load()
    child = mechanisms.Child()
    try:
        mechanisms.set_target(b, child.pid)
        rings = mechanisms.Rings(b, child.pid)
        for way in mechanisms.WAYS:
            result = mechanisms.throughput(b, child, rings, way, "small", 0.1)
            assert result["calls"] > 0
            assert result["delivered"] + result["lost"] == result["calls"], (way, result)
    finally:
        child.close()
        b.cleanup()
