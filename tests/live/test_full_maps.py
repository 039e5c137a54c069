"""The map lessons' summary says a map was full only when one was: counted on real BPF maps."""

import ctypes

import pytest

from runner.sources import full_maps
from tests.support import assert_nothing_left, kernel_state

pytestmark = pytest.mark.bpf


def test_full_maps_names_a_hash_map_exactly_when_it_holds_max_entries_keys():
    from bcc import BPF
    before = kernel_state()
    b = BPF(text=b"BPF_HASH(small, u32, u64, 2); BPF_HASH(roomy, u32, u64, 64); BPF_ARRAY(slots, u64, 2);"
                 b"int full_maps_probe(void *ctx) { return 0; }")
    try:
        small, roomy, slots = b[b"small"], b[b"roomy"], b[b"slots"]  # as a lesson's snapshot() opens them
        assert full_maps(b) == []  # an array always has all its slots: never "full"
        small[ctypes.c_uint32(1)] = ctypes.c_uint64(1)
        roomy[ctypes.c_uint32(1)] = ctypes.c_uint64(1)
        assert full_maps(b) == []
        small[ctypes.c_uint32(2)] = ctypes.c_uint64(1)
        assert full_maps(b) == ["small"]
        with pytest.raises(Exception):  # what the kernel does to the next key: refuses it
            small[ctypes.c_uint32(3)] = ctypes.c_uint64(1)
        del small[ctypes.c_uint32(1)]
        assert full_maps(b) == []
    finally:
        b.cleanup()
    assert_nothing_left(before, {"full_maps_probe"})
