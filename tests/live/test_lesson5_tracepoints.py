"""Lesson 5 on the live kernel: exact resets with their ports, exec filenames, generated structs that match."""

import tempfile
from pathlib import Path

import pytest

from runner import lessons
from lessons import formats
from tests.support import assert_nothing_left, kernel_state, lesson_programs, run_json, runner

pytestmark = pytest.mark.bpf
PROGRAMS = lesson_programs("lesson5") | {"layout_check"}  # layout_check: the struct test's own program
FIXTURES = Path(__file__).parent.parent / "unit" / "fixtures" / "formats"
LESSON = lessons.find("lesson5")


def traces_socketless_resets():
    """Kernels 6.10 and later run tcp:tcp_send_reset also for resets sent without a socket (a closed port's),
    in the same series that gave it its `reason` field; earlier ones only for resets a socket sends."""
    return formats.read("tcp:tcp_send_reset").has("reason")


def tracepoint_probe_compiles_for_resets():
    """TRACEPOINT_PROBE(tcp, tcp_send_reset) compiles where BCC's struct of the record needs no type the kernel
    headers lack: before 6.10, whose format has only integers, pointers and byte arrays; not since, whose format
    names enum sk_rst_reason (defined in include/net/rstreason.h, which BCC does not include)."""
    return not any(f.type.startswith("enum ") for f in formats.read("tcp:tcp_send_reset").fields)


@pytest.mark.per_kernel  # tcp_send_reset's layout changes with the kernel: the VMs run this too
def test_lesson5_counts_one_reset_per_refused_connect_and_aborted_connection_with_its_ports_and_the_exec_filenames():
    before = kernel_state()
    events, summary = run_json("lesson5")
    work = summary["workload"]
    refused = {(r["family"], r["addr"], r["closed_port"], r["client_port"]) for r in work["resets"]}
    aborted = {(r["family"], r["addr"], r["client_port"], r["server_port"]) for r in work["aborts"]}
    assert len(refused) == len(work["resets"]) >= 3 and len(aborted) == len(work["aborts"]) >= 1
    resets = [(e["family"], e["saddr"], e["sport"], e["dport"]) for e in events if e["event"] == "reset"]
    # A refused connect's reset goes from the closed port back to the connecting socket (src: the closed port);
    # an aborted connection's from the closing client to the server. Exactly one each, none missing.
    assert sorted(r for r in resets if r in aborted) == sorted(aborted)
    assert sorted(r for r in resets if r in refused) == (sorted(refused) if traces_socketless_resets() else [])
    for e in events:
        if e["event"] == "reset" and (e["family"], e["saddr"], e["sport"], e["dport"]) in refused | aborted:
            assert e["daddr"] == e["saddr"] and e["pid"] == work["pid"]  # loopback both ways, in the workload
    execs = {(e["pid"], e["filename"]) for e in events if e["event"] == "exec"}
    for child in work["execs"]:
        assert (child["pid"], child["filename"]) in execs
    # the summary counts the workload's events with its children's (the execs), and its own start's exec
    pids = {work["pid"], *work["pids"]}
    assert summary["workload_events"] == sum(1 for e in events if e["pid"] in pids)
    assert summary["workload_events"] == work["ops"] + 1 - (0 if traces_socketless_resets() else len(refused))
    # BCC's own way where it compiles, the generated struct (and the sentence that says so) where it does not
    mechanisms = {p["target"]: p["mechanism"] for p in summary["probes"]}
    assert mechanisms["sched:sched_process_exec"] == "TRACEPOINT_PROBE"
    if tracepoint_probe_compiles_for_resets():
        assert mechanisms["tcp:tcp_send_reset"] == "TRACEPOINT_PROBE" and summary["fallbacks"] == []
    else:
        assert mechanisms["tcp:tcp_send_reset"] == "tracepoint" and summary["fallbacks"] == [LESSON.fallback]
    assert_nothing_left(before, PROGRAMS)


@pytest.mark.per_kernel  # tcp_send_reset's layout changes with the kernel: the VMs run this too
def test_lesson5_says_the_fallback_once_and_shows_no_compile_error_of_the_way_it_tried_first():
    proc = runner("lesson5", "--events", "1", "--duration", "20", timeout=120)
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout + proc.stderr
    assert said.count(LESSON.fallback[:60]) == (0 if tracepoint_probe_compiles_for_resets() else 1), said
    assert "error:" not in said and "sk_rst_reason' " not in said, said


@pytest.mark.per_kernel  # tcp_send_reset's layout changes with the kernel: the VMs run this too
def test_tracepoint_probe_on_tcp_send_reset_does_not_compile_when_the_format_names_a_missing_type():
    from bcc import BPF
    if tracepoint_probe_compiles_for_resets():
        pytest.skip("this kernel's tcp_send_reset names no enum type: the lesson's own test shows TRACEPOINT_PROBE working")
    with pytest.raises(Exception, match="Failed to compile"):
        BPF(src_file=str(LESSON.program_path).encode(), cflags=["-DRESET_TRACEPOINT_PROBE=1"])


def test_lesson5_generated_struct_path_compiles_and_verifies_for_the_layout_since_6_10():
    from bcc import BPF
    fmt = formats.parse_file(FIXTURES / "tcp_send_reset-6.18.format")
    before = kernel_state()
    with tempfile.TemporaryDirectory() as include:
        Path(include, "tcp_send_reset_args.h").write_text(formats.c_struct(fmt))
        b = BPF(src_file=str(LESSON.program_path).encode(), cflags=["-I" + include])
    try:
        assert b.load_func(b"on_tcp_send_reset", BPF.TRACEPOINT).fd >= 0
    finally:
        b.cleanup()
    assert_nothing_left(before, PROGRAMS)


def test_lesson5_generated_struct_path_refuses_the_layout_before_6_10_which_tracepoint_probe_reads():
    from bcc import BPF
    fmt = formats.parse_file(FIXTURES / "tcp_send_reset-5.15.format")
    with tempfile.TemporaryDirectory() as include:
        Path(include, "tcp_send_reset_args.h").write_text(formats.c_struct(fmt))
        with pytest.raises(Exception, match="Failed to compile"):
            BPF(src_file=str(LESSON.program_path).encode(), cflags=["-I" + include])


def test_generated_structs_compile_with_bcc_and_offsetof_matches_every_format():
    """One program holding the struct of every tracepoint of this kernel and of the saved files,
    each field checked with _Static_assert(offsetof(...) == offset) at compile time."""
    from bcc import BPF
    paths = sorted((formats.tracefs() / "events").glob("*/*/format")) + sorted(FIXTURES.glob("*.format"))
    parts, checks = [], 0
    for i, path in enumerate(paths):
        fmt = formats.parse_file(path)
        name = f"s{i}"
        parts.append(formats.c_struct(fmt, name=name, defines=False))
        for f in fmt.fields:
            member = {"__data_loc": "data_loc_", "__rel_loc": "rel_loc_"}.get(f.dynamic, "") + f.name
            parts.append(f"_Static_assert(__builtin_offsetof(struct {name}, {member}) == {f.offset}, "
                         f"\"{path}: {f.name}\");")
            if f.array != 0:
                parts.append(f"_Static_assert(sizeof(((struct {name} *)0)->{member}) == {f.size}, \"{path}: {f.name}\");")
            checks += 1
    parts.append("int layout_check(void *ctx) { return 0; }")
    before = kernel_state()
    b = BPF(text="\n".join(parts).encode())
    try:
        assert b.load_func(b"layout_check", BPF.TRACEPOINT).fd >= 0
    finally:
        b.cleanup()
    assert checks > 5000  # 9842 on Debian 11's 5.10, some 13000 on 6.18
    assert_nothing_left(before, PROGRAMS)
