"""The checkers of lessons 4, 5 and 6's exercises on sample events: each wrong answer gets its own sentence.
Also: compile errors name the file's own line even after BCC inserted a TRACEPOINT_PROBE's struct."""

import importlib.util
from pathlib import Path

import pytest

from runner import diagnostics, exercises
from lessons import formats

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def checker(lesson):
    spec = importlib.util.spec_from_file_location(f"check_{lesson}", exercises.folder(exercises.require(lesson)) / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verdict(results):
    return all(ok for ok, _ in results), results[-1][1]


# -- lesson 4: sends per process --------------------------------------------------------------

SENDS = {"workload": {"pid": 42, "sizes": [100, 2000, 30000]}, "probes": [{"mechanism": "tracepoint", "target": "x"}]}


def sends(counts, pid=42):
    events = [{"pid": pid, "comm": "bcc-workload", "size": s, "sent": s, "total": 0} for s in [100, 2000, 30000]]
    if counts is not None:
        for event, n in zip(events, counts):
            event["sends"] = n
    return events


@pytest.mark.parametrize("counts, passed, explained", [
    (None, False, "no \"sends\" field"),
    ([0, 0, 0], False, "always 0"),
    ([1, 1, 1], False, "starts again at each send"),
    ([0, 1, 2], False, "before this one"),
    ([3, 2, 1], False, "Add 1 per send"),
    ([1, 2, 3], True, "counts the process's sends so far: [1, 2, 3]"),
])
def test_lesson4_checker_judges_the_count_of_the_workloads_sends(counts, passed, explained):
    ok, sentence = verdict(checker("lesson4").check(sends(counts) + sends([7, 8, 9], pid=1), SENDS))
    assert ok == passed and explained in sentence


def test_lesson4_checker_without_the_workloads_sends_says_so():
    ok, sentence = verdict(checker("lesson4").check(sends([1, 2, 3], pid=1), SENDS))
    assert not ok and "reported none of them" in sentence


# -- lesson 5: the reason of each reset -------------------------------------------------------

RESETS = {"workload": {"resets": [{"family": "ipv4", "addr": "127.0.0.1", "closed_port": 5000, "client_port": p}
                                  for p in (6001, 6002)],
                       "aborts": [{"family": "ipv4", "addr": "127.0.0.1", "client_port": 7001, "server_port": 8000}]}}
ABORT = {"event": "reset", "family": "ipv4", "saddr": "127.0.0.1", "sport": 7001, "daddr": "127.0.0.1", "dport": 8000,
         "pid": 9}


def resets(reason=None, ports=(6001, 6002), abort=True):
    """The refused connects' resets (from the closed port 5000), and the aborted connection's (7001 -> 8000)."""
    events = [{"event": "reset", "family": "ipv4", "saddr": "127.0.0.1", "sport": 5000, "daddr": "127.0.0.1",
               "dport": p, "pid": 9} for p in ports] + ([dict(ABORT)] if abort else [])
    if reason is not None:
        for event in events:
            event["reason"] = reason
    return events


@pytest.fixture
def kernel_format(monkeypatch):
    def use(saved):
        monkeypatch.setattr(formats, "read", lambda tracepoint: formats.parse_file(FORMATS / saved))
    return use


@pytest.mark.parametrize("reason, passed, explained", [
    (None, False, "carry no \"reason\" field"),
    (0, False, "0 is what the field holds when nothing sets it"),
    (2, False, "reason 2 (TCP_INVALID_ACK_SEQUENCE), but the kernel sent them for SK_RST_REASON_NO_SOCKET, which is 1"),
    (1, True, "printed reason 1, this kernel's SK_RST_REASON_NO_SOCKET (1)"),
    ("NO_SOCKET", True, "SK_RST_REASON_NO_SOCKET"),
])
def test_lesson5_checker_compares_with_the_reason_value_in_the_kernels_format(kernel_format, reason, passed, explained):
    kernel_format("tcp_send_reset-6.18.format")
    ok, sentence = verdict(checker("lesson5").check(resets(reason), RESETS))
    assert ok == passed and explained in sentence


def test_lesson5_checker_on_a_kernel_without_the_reason_field_judges_the_aborts_and_no_reason(kernel_format):
    # before 6.10 tcp_send_reset fires only for resets a socket sends: the aborted connection's, not the refused ones
    kernel_format("tcp_send_reset-5.15.format")
    ok, sentence = verdict(checker("lesson5").check(resets(ports=()), RESETS))
    assert ok and "has no reason field" in sentence and "none was judged" in sentence
    ok, sentence = verdict(checker("lesson5").check(resets(ports=(), abort=False), RESETS))
    assert not ok and "send 1 reset, but" in sentence and "reported none" in sentence


def test_lesson5_checker_needs_every_reset_of_the_workload(kernel_format):
    kernel_format("tcp_send_reset-6.18.format")
    ok, sentence = verdict(checker("lesson5").check(resets(1, ports=(6001,)), RESETS))
    assert not ok and "2 of the 3 resets" in sentence
    ok, sentence = verdict(checker("lesson5").check(resets(1, abort=False), RESETS))
    assert not ok and "2 of the 3 resets" in sentence


def test_lesson5_reason_names_come_from_the_print_fmt():
    fmt = formats.parse_file(FORMATS / "tcp_send_reset-6.18.format")
    names = checker("lesson5").reason_names(fmt)
    assert names[0] == "NOT_SPECIFIED" and names[1] == "NO_SOCKET"


# -- lesson 6: a histogram per pid ------------------------------------------------------------

STRINGS = {"workload": {"pid": 42, "strlen_calls": 8, "strings": {"a" * 11: 4, "b" * 102: 4}}}


def histogram(buckets, pid=42, interval=1):
    return [{"interval": interval, "pid": pid, "comm": "", "function": "strlen length", "count": n, "argument": "",
             "slot": k} for k, n in buckets.items()]


CALLS = [{"pid": 42, "comm": "bcc-workload", "function": "strlen", "count": 8, "argument": "x"}]


@pytest.mark.parametrize("rows, passed, explained", [
    (CALLS, False, "no rows of the lengths histogram"),
    (CALLS + histogram({4: 4, 7: 4}, pid=None), False, "carry no pid"),
    (histogram({4: 4, 7: 4}, pid=7), False, "none for the workload's pid 42"),
    (histogram({4: 4, 7: 2}), False, "it counts 6 calls, not 8"),
    (histogram({4: 4, 6: 4}), False, "wrong buckets"),
    (histogram({4: 4, 7: 4}) + histogram({3: 9}, pid=7), True, "4 in bucket 4 (8-15), 4 in bucket 7 (64-127)"),
    (histogram({4: 3, 7: 1}) + histogram({4: 1, 7: 3}, interval=2), True, "exactly its 8 strlen() calls"),
])
def test_lesson6_checker_adds_up_the_workloads_buckets_over_every_interval(rows, passed, explained):
    ok, sentence = verdict(checker("lesson6").check(rows, STRINGS))
    assert ok == passed and explained in sentence


# -- compile errors after a TRACEPOINT_PROBE --------------------------------------------------

def test_compile_errors_name_the_files_own_line_after_bcc_inserted_a_tracepoint_struct(tmp_path):
    program = tmp_path / "prog.c"
    program.write_text("TRACEPOINT_PROBE(a, b)\n{\n    return 0;\n}\nint broken(void *ctx) { return 0 }\n")
    clang = ("/virtual/main.c:27:33: error: expected ';' after return statement\n"
             "int broken(void *ctx) { return 0 }\n"
             "                                ^\n")
    shown = diagnostics.file_lines(clang, program)
    assert shown.startswith("/virtual/main.c:5:33: error: expected ';'")
    # a line that is not in the file once stays as clang said it
    assert diagnostics.file_lines(clang.replace("broken", "other"), program).startswith("/virtual/main.c:27:33:")


def test_newer_clangs_gutter_is_read_and_renumbered_too(tmp_path):
    program = tmp_path / "prog.c"
    program.write_text("TRACEPOINT_PROBE(a, b)\n{\n    return 0;\n}\nint broken(void *ctx) { return 0 }\n")
    clang = ("/virtual/main.c:27:33: error: expected ';' after return statement\n"
             "   27 | int broken(void *ctx) { return 0 }\n"
             "      |                                 ^\n")
    first, gutter, _ = diagnostics.file_lines(clang, program).splitlines()
    assert first.startswith("/virtual/main.c:5:33: error") and gutter == "   5 | int broken(void *ctx) { return 0 }"
