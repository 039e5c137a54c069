"""Lesson 4 on the live kernel: per-process TCP bytes, and every kprobe function through the verifier."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import lessons
from tests.support import assert_nothing_left, kernel_state, lesson_programs, run_json

pytestmark = [pytest.mark.bpf, pytest.mark.kprobe]
KPROBE_NAMES = {"kprobe__tcp_sendmsg", "kretprobe__tcp_sendmsg",
                "noattach_kprobe__tcp_sendmsg", "noattach_kretprobe__tcp_sendmsg",
                "trace_sendmsg_entry", "trace_sendmsg_return"}  # with --explicit
PROGRAMS = KPROBE_NAMES | {"tracepoint__syscalls__sys_enter_sendto", "tracepoint__sock__sock_send_length"}
PROGRAMS |= lesson_programs("lesson4")  # with noattach_kprobe__tcp_sendmsg, its name on a kernel without kprobes


def glue():
    return lessons.find("lesson4").import_glue()


@pytest.mark.per_kernel  # kprobes, and the tracepoints of the fallback: what the kernel has
@pytest.mark.parametrize("form", [[], ["--explicit"]], ids=["kprobe__names", "explicit_attach"])
def test_lesson4_counts_the_workloads_tcp_bytes_exactly(form):
    """The prefix form and the explicit-attach form (--explicit) count the same bytes."""
    before = kernel_state()
    events, summary = run_json("lesson4", *form)
    work = summary["workload"]
    assert work["source"] == "lessons/lesson4_kprobes/workload.py" and work["sizes"] == [100, 2000, 30000]
    mine = [e for e in events if e["pid"] == work["pid"]]
    assert [e["sent"] for e in mine] == work["sizes"]
    assert [e["size"] for e in mine] == work["sizes"]  # the size argument (or sendto's len) asked for
    assert mine[-1]["total"] == work["bytes"] == 32100
    assert {e["comm"] for e in mine} == {"bcc-workload"}
    if not glue().kernel_has_kprobes():
        assert [p["mechanism"] for p in summary["probes"]] == ["tracepoint", "tracepoint"]
        assert summary["fallbacks"] and "CONFIG_KPROBES" in summary["fallbacks"][0]
    else:
        assert {p["mechanism"] for p in summary["probes"]} == {"kprobe", "kretprobe"}
    assert_nothing_left(before, PROGRAMS)


@pytest.mark.per_kernel  # kprobes, and the tracepoints of the fallback: what the kernel has
def test_lesson4_explicit_form_attaches_by_hand_or_verifies_its_functions_without_kprobes():
    module = glue()
    before = kernel_state()
    old = kprobe_programs()
    b, probes = module.load(explicit=True)
    try:
        new = {name for i, name in kprobe_programs().items() if i not in old}
        for name in module.EXPLICIT_FUNCTIONS.values():
            assert b.funcs[name.encode()].fd >= 0  # loaded: through the verifier
            assert name in new or name[:15] in new, f"{name} is not loaded as a kprobe program: {new}"
        assert not any(name.startswith((b"kprobe__", b"kretprobe__", b"noattach_")) for name in b.funcs)
        if module.kernel_has_kprobes():  # attached by attach_kprobe() and attach_kretprobe()
            assert probes == [("kprobe", "tcp_sendmsg"), ("kretprobe", "tcp_sendmsg")]
            assert b.num_open_kprobes() == 2
        else:
            assert probes == [("tracepoint", "syscalls:sys_enter_sendto"), ("tracepoint", "sock:sock_send_length")]
            assert b.num_open_kprobes() == 0
    finally:
        b.cleanup()
    assert_nothing_left(before, PROGRAMS)


def kprobe_programs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]") if p.get("type") == "kprobe"}


@pytest.mark.per_kernel  # kprobes, and the tracepoints of the fallback: what the kernel has
def test_lesson4_loads_every_kprobe_function_through_the_verifier_without_kprobes():
    if not Path("/sys/kernel/debug/tracing/events/sock/sock_send_length").is_dir():
        pytest.skip("the fallback counts bytes with the sock:sock_send_length tracepoint, which this kernel "
                    f"({os.uname().release}) does not have; its kprobe path is what runs here")
    module = glue()
    before = kernel_state()
    old = kprobe_programs()
    b, probes = module.load(kprobe=False)
    try:
        new = {name for i, name in kprobe_programs().items() if i not in old}
        for name in module.KPROBE_FUNCTIONS.values():
            assert b.funcs[name.encode()].fd >= 0
            assert name in new or name[:15] in new, f"{name} is not loaded as a kprobe program: {new}"
        assert probes == [("tracepoint", "syscalls:sys_enter_sendto"), ("tracepoint", "sock:sock_send_length")]
    finally:
        b.cleanup()
    assert_nothing_left(before, PROGRAMS)


@pytest.mark.per_kernel  # kprobes, and the tracepoints of the fallback: what the kernel has
def test_lesson4_kprobe_path_fails_only_at_attach_on_a_kernel_without_kprobes():
    module = glue()
    if module.kernel_has_kprobes():
        pytest.skip("this kernel has kprobes: the kprobe path attaches (test_lesson4_counts... covers it)")
    before = kernel_state()
    # In its own process, as a learner's script: a BPF() whose auto-attach failed stays referenced by BCC's
    # atexit hook, so its programs are freed when the process ends, not before.
    attempt = subprocess.run([sys.executable, "-c", "import kprobes; kprobes.load(kprobe=True)"],
                             cwd=module.__file__.rsplit("/", 1)[0], capture_output=True, text=True, timeout=60)
    assert attempt.returncode != 0 and "Failed to attach BPF program" in attempt.stderr, attempt.stderr[-2000:]
    assert_nothing_left(before, PROGRAMS)
