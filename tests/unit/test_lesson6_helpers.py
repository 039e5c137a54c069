"""Lesson 6's pure helpers, its workload's strings, and --pid/--probe: no root, no bcc needed."""

import argparse
import importlib.util
import sys
import types

import pytest

from runner import targets
from runner.errors import UsageError
from tests.support import ROOT

GLUE = ROOT / "lessons" / "lesson6_uprobes" / "uprobes.py"


@pytest.fixture(scope="module")
def glue():
    """The lesson's uprobes.py, with a stand-in bcc module where the real one is missing."""
    saved = sys.modules.get("bcc")
    try:
        import bcc  # noqa: F401
    except ImportError:
        sys.modules["bcc"] = types.SimpleNamespace(BPF=None)
    spec = importlib.util.spec_from_file_location("lesson6_uprobes_unit", GLUE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if saved is None and isinstance(sys.modules.get("bcc"), types.SimpleNamespace):
        del sys.modules["bcc"]
    return module


# /proc/self/maps as glibc's ld.so lays out libc (file offset == address in the file) ...
GLIBC_MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 1000 /usr/bin/python3.11
7f29e146f000-7f29e1495000 r--p 00000000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f29e1495000-7f29e15eb000 r-xp 00026000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f29e15eb000-7f29e163e000 r--p 0017c000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f29e1644000-7f29e1651000 rw-p 00000000 00:00 0
7ffd1a2b0000-7ffd1a2d1000 rw-p 00000000 00:00 0                          [stack]
"""
# ... and a library whose code segment's address is one page above its file offset (lld's layout)
LLD_MAPS = """\
7f0000000000-7f0000001000 r--p 00000000 fe:00 7 /usr/lib64/libc.so.6
7f0000002000-7f0000009000 r-xp 00001000 fe:00 7 /usr/lib64/libc.so.6
"""


def test_mapping_finds_the_file_and_the_address_inside_it(glue):
    # the strlen this machine's resolver picked: 0x156200 in libc.so.6, __strlen_avx2
    assert glue.mapping(0x7F29E15C5200, GLIBC_MAPS) == ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0x156200)
    assert glue.mapping(0x7F0000002010, LLD_MAPS) == ("/usr/lib64/libc.so.6", 0x2010)
    assert glue.mapping(0x55D0C0A00010, GLIBC_MAPS) == ("/usr/bin/python3.11", 0x10)


@pytest.mark.parametrize("address", [0x7F29E1644100, 0x7FFD1A2B0010, 0x1000])
def test_mapping_refuses_an_address_outside_every_file(glue, address):
    with pytest.raises(LookupError, match="not in a file mapped"):
        glue.mapping(address, GLIBC_MAPS)


def lesson6_workload():
    spec = importlib.util.spec_from_file_location("lesson6_workload", ROOT / "lessons/lesson6_uprobes/workload.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workload_strings_carry_the_mark_and_fill_four_histogram_buckets():
    work = lesson6_workload()
    assert work.MARK == "lesson6:"
    assert all(s.startswith(work.MARK) for s in work.STRINGS)
    assert len({len(s).bit_length() for s in work.STRINGS}) == 4
    assert max(len(s) for s in work.STRINGS) > 63  # one is cut by the probe's 64-byte buffer


def test_the_mark_is_never_written_whole_in_the_workload_source():
    # Python's parser calls strlen() on pieces of the source it compiles: a whole mark in
    # workload.py would be counted by the lesson's probe as extra calls of the workload.
    work = lesson6_workload()
    for path in (ROOT / "lessons/lesson6_uprobes/workload.py", ROOT / "runner/workload.py"):
        assert work.MARK not in path.read_text()


def test_the_workload_marks_what_the_c_program_marks():
    assert f'#define MARK "{lesson6_workload().MARK}"' in (ROOT / "lessons/lesson6_uprobes/uprobes.c").read_text()


@pytest.mark.parametrize("text, parsed", [
    ("/usr/bin/bash:readline", ("/usr/bin/bash", "readline")),
    ("c:strlen", ("c", "strlen")),
    ("/opt/a:b/prog:main", ("/opt/a:b/prog", "main")),
])
def test_probe_parses_binary_and_function(text, parsed):
    assert targets.parse_probe(text) == parsed


@pytest.mark.parametrize("text", ["readline", ":main", "/usr/bin/bash:"])
def test_probe_without_binary_or_function_is_a_usage_error(text):
    with pytest.raises(UsageError, match="is not BINARY:FUNCTION"):
        targets.parse_probe(text)


def test_params_pass_only_what_was_given():
    assert targets.params(argparse.Namespace(pid=None, probe=None)) == {}
    assert targets.params(argparse.Namespace(pid=42, probe="/bin/x:f")) == {"pid": 42, "binary": "/bin/x", "function": "f"}


def test_check_accepted_refuses_what_the_lesson_does_not_declare():
    targets.check_accepted(types.SimpleNamespace(id="lessonX", options=["pid"]), {"pid": 7})  # accepted
    with pytest.raises(UsageError, match="lessonX does not take --probe"):
        targets.check_accepted(types.SimpleNamespace(id="lessonX", options=["pid"]), {"binary": "/x", "function": "f"})
    with pytest.raises(UsageError, match="lessonX does not take --pid or --probe"):
        targets.check_accepted(types.SimpleNamespace(id="lessonX", options=[]), {"pid": 7, "binary": "/x", "function": "f"})


@pytest.mark.parametrize("cause, usage", [
    (ProcessLookupError("No process with pid 9 is running."), True),
    (FileNotFoundError("There is no file /x to probe."), True),
    (LookupError("/x has no function named f in its symbol table."), True),
    (KeyError("a bug in the glue"), False),
    (Exception("Failed to attach BPF program"), False),
])
def test_explain_turns_only_missing_targets_into_usage_errors(cause, usage):
    explained = targets.explain(cause)
    if usage:
        assert isinstance(explained, UsageError) and str(explained) == str(cause) and explained.code == 2
    else:
        assert explained is None
