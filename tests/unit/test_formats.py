"""runner/formats.py: every format file of this kernel, saved ones from other kernels, errors, generated layouts."""

import ctypes
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lessons import formats
from lessons.formats import FormatError
from tests.support import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
SAVED = sorted(FIXTURES.glob("*.format"))
RAW_FIELD = re.compile(r"field:(.*?);\s*offset:(\d+);\s*size:(\d+);(?:\s*signed:(\d+);)?")


def live_format_files():
    root = formats.tracefs()
    if root is None:
        return []
    files = sorted((root / "events").glob("*/*/format"))
    try:
        files[0].read_text()
    except (IndexError, PermissionError):
        return []
    return files


def raw_fields(text):
    """(offset, size, signed) of each field line, read with a plain regex: what the parser must agree with."""
    return [(int(o), int(s), None if sg is None else bool(int(sg))) for _, o, s, sg in RAW_FIELD.findall(text)]


def assert_layout_matches(fmt, text):
    assert [(f.offset, f.size, f.signed) for f in fmt.fields] == raw_fields(text)
    # The ctypes structure generated from the fields puts each field where the file says.
    struct = formats.ctypes_struct(fmt)
    for field in fmt.fields:
        member = {"__data_loc": "data_loc_", "__rel_loc": "rel_loc_"}.get(field.dynamic, "") + field.name
        assert getattr(struct, member).offset == field.offset, (fmt.name, field.name)
        assert getattr(struct, member).size == field.size, (fmt.name, field.name)


def test_parses_every_format_file_of_this_kernel():
    files = live_format_files()
    if not files:
        pytest.skip("tracefs is not mounted or not readable here (needs root on most systems)")
    for path in files:
        text = path.read_text()
        fmt = formats.parse_file(path)
        assert fmt.name == path.parent.name
        assert fmt.category == path.parent.parent.name
        assert_layout_matches(fmt, text)
        formats.c_struct(fmt)
    assert len(files) > 500  # thousands on a usual kernel


@pytest.mark.parametrize("path", SAVED, ids=[p.stem for p in SAVED])
def test_parses_saved_format_files_from_other_kernels(path):
    fmt = formats.parse_file(path)
    assert_layout_matches(fmt, path.read_text())
    assert fmt.name == path.stem.split("-")[0]
    assert fmt.id is not None and fmt.print_fmt.startswith('"')


def test_old_tcp_send_reset_layout_has_separate_ports_and_addresses():
    fmt = formats.parse_file(FIXTURES / "tcp_send_reset-5.15.format")
    saddr_v6 = fmt.field("saddr_v6")
    assert (saddr_v6.type, saddr_v6.array, saddr_v6.offset, saddr_v6.size) == ("__u8", 16, 42, 16)
    c = formats.c_struct(fmt)
    assert "__u16 sport;" in c and "#define TCP_SEND_RESET_HAS_SPORT 1" in c


def test_new_tcp_send_reset_layout_reduces_the_enum_to_a_fixed_width_integer():
    fmt = formats.parse_file(FIXTURES / "tcp_send_reset-6.18.format")
    assert fmt.field("reason").type == "enum sk_rst_reason"
    c = formats.c_struct(fmt)
    assert re.search(r"^\s+__u32 reason;", c, re.M)
    assert re.search(r"^\s+__u8 saddr\[28\];", c, re.M)
    assert "TCP_SEND_RESET_HAS_SPORT" not in c


def test_dynamic_fields_data_loc_and_rel_loc():
    exec_fmt = formats.parse_file(FIXTURES / "sched_process_exec-4.4.format")
    filename = exec_fmt.field("filename")
    assert (filename.dynamic, filename.type, filename.size) == ("__data_loc", "char", 4)
    assert "__u32 data_loc_filename;" in formats.c_struct(exec_fmt)
    rel = formats.parse_file(FIXTURES / "foo_rel_loc-5.18.format")
    assert [f.dynamic for f in rel.fields if not f.common] == ["__rel_loc", None, "__rel_loc", "__rel_loc"]
    assert rel.field("bitmask").type == "unsigned long"


def test_array_length_written_as_an_expression():
    fmt = formats.parse_file(FIXTURES / "tcp_probe-4.19.format")
    assert fmt.field("saddr").array == 28  # __u8 saddr[sizeof(struct sockaddr_in6)], size 28


def test_padding_where_offsets_leave_a_gap():
    fmt = formats.parse_file(FIXTURES / "sched_switch-2.6.39.format")
    c = formats.c_struct(fmt)
    assert "__u8 __pad0[4];" in c  # prev_prio ends at 36, prev_state starts at 40
    assert "char prev_comm[16];" in c and fmt.field("common_lock_depth").common


def test_flexible_array_and_missing_signed():
    fmt = formats.parse("name: print\nID: 5\nformat:\n\tfield:unsigned long ip;\toffset:8;\tsize:8;\n"
                        "\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n\nprint fmt: \"%s\", REC->buf\n")
    assert fmt.field("ip").signed is None
    assert fmt.field("buf").array == 0
    assert "char buf[0];" in formats.c_struct(fmt)


@pytest.mark.parametrize("text, line", [
    ("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n", 4),
    ("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsigned:1;\n", 4),
    ("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\tgarbage here\n", 5),
    ("name: x\nID: one\n", 2),
    ("ID: 1\nformat:\n", 1),
    ("name: x\nID: 1\nformat:\n\tfield:;\toffset:0;\tsize:4;\n", 4),
])
def test_malformed_files_raise_format_error_with_the_line(text, line):
    with pytest.raises(FormatError) as err:
        formats.parse(text, path="saved/format")
    assert err.value.line == line
    assert f"line {line}" in str(err.value) and err.value.fix  # the runner says it as a usage error (exit 2)


def run_format(*args):
    return subprocess.run([sys.executable, "-m", "runner", "format", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_cli_prints_a_saved_file_as_json_c_and_ctypes():
    path = FIXTURES / "tcp_send_reset-5.15.format"
    data = json.loads(run_format("--file", path, "--json").stdout)
    assert [f["name"] for f in data["fields"]][-2:] == ["saddr_v6", "daddr_v6"]
    c = run_format("--file", path, "--c")
    assert c.returncode == 0 and "struct tcp_send_reset_args {" in c.stdout
    py = run_format("--file", path, "--ctypes")
    namespace = {}
    exec(py.stdout, namespace)
    assert ctypes.sizeof(namespace["tcp_send_reset_args"]) >= 74
    table = run_format("--file", path)
    assert "saddr_v6" in table.stdout and "OFFSET" in table.stdout


@pytest.mark.parametrize("args, says", [
    (["--file", "/nonexistent/format"], "There is no file"),
    (["nonsense"], "is not a tracepoint name"),
    ([], "Name a tracepoint"),
])
def test_cli_errors_are_one_sentence_and_exit_2(args, says):
    proc = run_format(*args)
    assert proc.returncode == 2
    assert says in proc.stderr and "fix:" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_malformed_file_names_the_line(tmp_path):
    bad = tmp_path / "format"
    bad.write_text("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n")
    proc = run_format("--file", bad)
    assert proc.returncode == 2 and "line 4" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_unknown_tracepoint_exits_2():
    if formats.tracefs() is None:
        pytest.skip("tracefs is not mounted here")
    proc = run_format("tcp:no_such_event")
    assert proc.returncode == 2 and "no tracepoint tcp:no_such_event" in proc.stderr


def test_cli_help_ends_with_examples():
    proc = run_format("--help")
    assert proc.stdout.rstrip().splitlines()[-1].strip().startswith("python3 -m runner format --list")


def test_an_event_name_that_starts_with_a_digit_parses_and_makes_valid_c_and_python_names():
    # Debian 6.1 with the 9p module loaded (as in the VMs) has 9p:9p_client_req; an identifier cannot start with 9
    fmt = formats.parse("name: 9p_client_req\nID: 7\nformat:\n"
                        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
                        "\tfield:int tag;\toffset:8;\tsize:4;\tsigned:1;\n\nprint fmt: \"tag %d\", REC->tag\n")
    assert fmt.name == "9p_client_req"
    source = formats.c_struct(fmt)
    assert "struct _9p_client_req_args {" in source and "#define _9P_CLIENT_REQ_HAS_TAG 1" in source
    assert formats.ctypes_struct(fmt).__name__.isidentifier()
    compile(formats.ctypes_source(fmt), "<ctypes>", "exec")
    with pytest.raises(formats.FormatError, match="line 1"):
        formats.parse("name: 9p-client\nID: 7\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n")


# -- issue 17: --file reads only a regular file of at most a format file's size ---------------------------------

MIB = 1 << 20
VALID = (FIXTURES / "tcp_send_reset-5.15.format").read_text()


def bounded(memory=1 << 30):
    """preexec_fn: at most `memory` bytes of address space, so a read without bounds fails instead of the machine."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return limit


def run_format_bounded(*args, timeout=20):
    try:
        return subprocess.run([sys.executable, "-m", "runner", "format", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=bounded(),
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"format {' '.join(map(str, args))} still ran after {timeout} s")


def make(kind, tmp_path):
    """The path a row names: a device, a link to one, a FIFO without a writer, a folder, a file too large."""
    if kind.startswith("/"):
        return kind
    path = tmp_path / kind
    if kind == "link-to-zero":
        path.symlink_to("/dev/zero")
    elif kind == "link-to-urandom":
        path.symlink_to("/dev/urandom")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "one-byte-too-many":
        path.write_text(VALID + "\n" * (MIB + 1 - len(VALID)))
    elif kind == "50-MB":
        with open(path, "wb") as sparse:
            sparse.truncate(50 * 1000 * 1000)
    elif kind == "binary":
        path.write_bytes(b"name: x\nID: 1\nformat:\n\xff\xfe\x00")
    return path


@pytest.mark.parametrize("kind, says", [
    ("/dev/zero", "/dev/zero is a character device, not a format file."),
    ("/dev/urandom", "/dev/urandom is a character device, not a format file."),
    ("link-to-zero", "link-to-zero (a link to /dev/zero) is a character device, not a format file."),
    ("link-to-urandom", "(a link to /dev/urandom) is a character device, not a format file."),
    ("fifo", "fifo is a named pipe (FIFO), not a format file."),
    ("folder", "folder is a directory, not a format file."),
    ("one-byte-too-many", "one-byte-too-many is larger than 1 MiB, and a format file is a few KB."),
    ("50-MB", "50-MB is larger than 1 MiB, and a format file is a few KB."),
    ("binary", "binary is not a text file (byte 23 is not UTF-8)."),
])
def test_cli_refuses_what_cannot_be_a_format_file_in_one_sentence(kind, says, tmp_path):
    proc = run_format_bounded("--file", make(kind, tmp_path))
    assert proc.returncode == 2, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert says in line, proc.stderr
    assert "fix: " in proc.stderr and "Traceback" not in proc.stderr


def test_cli_reads_a_saved_file_through_a_link_and_up_to_the_bound(tmp_path):
    link = tmp_path / "saved.format"
    link.symlink_to(FIXTURES / "tcp_send_reset-5.15.format")
    assert "struct tcp_send_reset_args {" in run_format_bounded("--file", link, "--c").stdout
    padded = tmp_path / "padded.format"
    padded.write_text(VALID + "\n" * (MIB - len(VALID)))  # exactly 1 MiB: a format file with blank lines after it
    proc = run_format_bounded("--file", padded, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "tcp_send_reset"


def test_parse_file_reads_at_most_one_byte_past_the_bound_when_the_size_is_not_known(monkeypatch):
    """/proc (like tracefs) says size 0: the cap on the read itself is what stops a long file."""
    requested = []
    real_read = os.read

    def spy(fd, count):
        requested.append(count)
        return real_read(fd, count)
    monkeypatch.setattr(formats, "MAX_FILE", 512)
    monkeypatch.setattr(os, "read", spy)
    with pytest.raises(FormatError, match="/proc/self/maps is larger than 512 bytes"):
        formats.parse_file("/proc/self/maps")
    assert sum(requested) <= 513


def test_parse_file_keeps_its_errors_for_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FormatError, match="There is no file"):
        formats.parse_file(tmp_path / "absent")
    with pytest.raises(FormatError, match="is a directory, not a format file"):
        formats.parse_file(tmp_path)
