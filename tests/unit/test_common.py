"""lessons/common.py without a kernel: reading maps on every bcc, values in every shape bcc hands over."""

import ctypes

from lessons import common


class Leaf(ctypes.c_uint64):
    pass


class OldTable(dict):
    """A map as bcc 0.18 shows it: items() and del, no batch calls; values are the map's ctypes Leaf."""

    Leaf = Leaf

    def items(self):
        return [(k, Leaf(v)) for k, v in super().items()]


class NewTable(OldTable):
    """bcc 0.31: the batch call hands each value over as the Leaf's raw bytes."""

    def items_lookup_and_delete_batch(self):
        pairs = [(k, bytes(Leaf(v))) for k, v in dict.items(self)]
        self.clear()
        yield from pairs


def test_read_and_clear_uses_the_batch_call_where_there_is_one():
    table = NewTable(a=20, b=3)
    assert common.batch_reads(table) and sorted(common.read_and_clear(table)) == [("a", 20), ("b", 3)]
    assert len(table) == 0


def test_read_and_clear_without_batch_calls_reads_then_deletes_what_it_read():
    table = OldTable(a=7)
    assert not common.batch_reads(table) and common.read_and_clear(table) == [("a", 7)]
    assert len(table) == 0


def test_number_takes_ints_ctypes_and_raw_bytes():
    assert common.number(OldTable(), 5) == 5
    assert common.number(OldTable(), Leaf(6)) == 6
    assert common.number(OldTable(), bytes(Leaf(2 ** 40))) == 2 ** 40
