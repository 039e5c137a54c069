"""runner/formats.py fuzzed: real format files, mutated, either parse or raise FormatError naming a line.

The mutations are what a format file goes through when saved by hand or cut short: lines deleted,
duplicated, swapped, numbers corrupted, the text truncated, random characters typed into field lines.
At least 2,000 mutated files per run (2,500 asked for). Whatever comes out, parse() returns a Format or raises formats.FormatError with a line number; a Format
it returns also renders (table, C struct, ctypes) or raises FormatError, never another exception.
"""

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lessons import formats
from lessons.formats import FormatError

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def live_sample(count=40, seed=8):
    """A fixed sample of this kernel's format files, where tracefs is readable (root); none elsewhere."""
    root = formats.tracefs()
    if root is None:
        return []
    try:
        files = sorted((root / "events").glob("*/*/format"))
        picked = random.Random(seed).sample(files, min(count, len(files)))
        return [p.read_text() for p in picked]
    except OSError:
        return []


SOURCES = [p.read_text() for p in sorted(FIXTURES.glob("*.format"))] + live_sample()
NUMBER = re.compile(r"\d+")
PIECES = list(":;[]\t -0x9azfield_loc\x00\u00e9*") + ["__data_loc ", "offset:", "size:", "signed:", "format:", "name:"]
JUNK = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SOURCES))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "insert", "truncate", "blank"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "number":
            numbers = list(NUMBER.finditer(lines[i]))
            if numbers:
                m = draw(st.sampled_from(numbers))
                new = draw(st.sampled_from(["", "-1", "-4096", "0", "99999999999999999999", "0x", "1e3", "4 4",
                                            str(draw(st.integers(-70000, 70000)))]))
                lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
        elif kind == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(JUNK) + lines[i][at:]
        elif kind == "truncate":
            cut = draw(st.integers(0, len(lines[i])))
            lines = lines[:i] + [lines[i][:cut]]
        else:
            lines.insert(i, "")
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def check(text):
    try:
        fmt = formats.parse(text, path="saved/format")
    except FormatError as err:
        assert isinstance(err.line, int) and err.line >= 1, f"no line number: {err}"
        assert f"line {err.line}" in str(err)
        return
    assert isinstance(fmt.fields, list)
    for field in fmt.fields:
        assert field.offset >= 0 and field.size >= 0, field
    try:
        formats.table(fmt)
        formats.c_struct(fmt)
        formats.ctypes_source(fmt)
        formats.ctypes_struct(fmt)
    except FormatError:
        pass  # e.g. fields that overlap: a sentence, not a crash


REGRESSIONS = [
    "name: x\nID: 1\n",  # no format: section: the error names the line where the file ends
    "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:-4;\tsize:4;\tsigned:1;\n",   # negative offset
    "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:-4;\tsigned:1;\n",   # negative size (ctypes refused it)
    "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:99999999999999999999;\tsize:4;\tsigned:1;\n",  # ctypes overflowed
    "name:\x00 x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n",  # a NUL in the name: ctypes refused it
]


@pytest.mark.parametrize("text", REGRESSIONS)
def test_regressions_raise_format_error_with_a_line(text):
    with pytest.raises(FormatError) as err:
        formats.parse(text, path="saved/format")
    assert err.value.line is not None


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
@example(REGRESSIONS[0])
def test_mutated_format_files_parse_or_raise_format_error_with_a_line(text):
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_format_error_with_a_line(text):
    check(text)
