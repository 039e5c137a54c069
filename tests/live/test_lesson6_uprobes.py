import ctypes
import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from runner import lessons
from tests.support import ROOT, assert_nothing_left, kernel_state, lesson_programs, run_json, runner

pytestmark = pytest.mark.bpf
PROGRAMS = lesson_programs("lesson6")
MARK = "lesson6:"  # uprobes.c's MARK


@pytest.fixture(scope="module")
def glue():
    return lessons.find("lesson6").import_glue()


def waiting_workload(count, function_calls=3, **params):
    """A strlen workload that waits for a line on stdin before its calls, so a probe can attach to its pid first.
    params: more of its run()'s parameters (programs=N, program=PATH)."""
    argv = [sys.executable, str(ROOT / "runner" / "workload.py"), str(lessons.find("lesson6").workload_path), "--count", str(count),
            "--function-calls", str(function_calls), "--wait", "1"]
    for key, value in params.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def go(proc):
    """Release a waiting workload and return its report."""
    out, _ = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("n", [1, 100, 1000])
def test_lesson6_counts_exactly_n_strlen_calls_for_the_workload_pid(glue, n):
    before = kernel_state()
    proc = waiting_workload(n)
    b, probes = glue.load(pid=proc.pid)
    try:
        report = go(proc)
        rows = glue.snapshot(b)
        lengths = glue.histogram(b)
    finally:
        b.cleanup()
    assert {r["pid"] for r in rows} == {proc.pid}  # attached for this pid only
    strlen = [r for r in rows if r["function"] == "strlen"]
    # with a pid, every strlen() call of that process counts: the workload's n on its marked strings, exactly,
    # cut to the 63 bytes the probe copies, and any the interpreter itself makes meanwhile
    marked = Counter({r["argument"]: r["count"] for r in strlen if r["argument"].startswith(MARK)})
    assert marked == Counter({s[:63]: c for s, c in report["strings"].items() if c})
    assert sum(marked.values()) == n == report["strlen_calls"] <= sum(r["count"] for r in strlen)
    # the uretprobe saw each counted call return, and histogrammed its length
    assert sum(lengths.values()) == sum(r["count"] for r in strlen)
    expected = Counter()
    for s, c in report["strings"].items():
        expected[len(s).bit_length()] += c  # bpf_log2l(v) is the bucket of v: [2**(k-1), 2**k)
    assert all(lengths.get(k, 0) >= v for k, v in expected.items())
    # the program function: exactly the workload's calls (Python's own start-up call came before the attach)
    (function,) = [r for r in rows if r["function"] == "Py_GetVersion"]
    assert function["count"] == report["function_calls"] == 3 and function["comm"] == "bcc-workload"
    assert_nothing_left(before, PROGRAMS)


def test_lesson6_probes_the_strlen_code_that_runs_not_the_ifunc_resolver(glue):
    libc, code = glue.implementation(ctypes.CDLL(None).strlen)
    assert libc.startswith("/") and "libc" in libc.rsplit("/", 1)[-1]
    from bcc import BPF
    (symbol,) = {addr for _, addr in BPF.get_user_functions_and_addresses(libc, "^strlen$")}
    assert code != symbol  # glibc's strlen is an IFUNC: the symbol is its resolver
    # with libc's debug symbols (libc6-dbg), the address is one of the named variants
    variants = {addr: name.decode() for name, addr in BPF.get_user_functions_and_addresses(libc, "^__strlen_")}
    if not variants:
        pytest.skip("no debug symbols for libc: cannot name the variant")
    assert variants.get(code, "").startswith("__strlen_")


def test_lesson6_a_uprobe_on_the_strlen_symbol_misses_the_calls(glue):
    """The trap the lesson avoids: attach_uprobe(name="c", sym="strlen") probes the IFUNC resolver."""
    from bcc import BPF
    proc = waiting_workload(100, function_calls=0)
    b = BPF(src_file=str(glue.PROGRAM), cflags=glue.CFLAGS + ["-DONLY_MARKED=1"])  # the workload's 100 marked calls
    try:
        b.attach_uprobe(name="c", sym="strlen", fn_name="strlen_entry", pid=proc.pid)
        go(proc)
        counted = sum(int(v) for v in b["calls"].values())
    finally:
        b.cleanup()
    assert counted == 0


def test_lesson6_pid_filter_ignores_other_processes(glue):
    target, other = waiting_workload(50), waiting_workload(70)
    b, _ = glue.load(pid=target.pid)
    try:
        go(other)
        go(target)
        rows = glue.snapshot(b)
    finally:
        b.cleanup()
    assert {r["pid"] for r in rows} == {target.pid}
    assert sum(r["count"] for r in rows if r["function"] == "strlen" and r["argument"].startswith(MARK)) == 50


def test_lesson6_runner_shows_the_workload_calls_and_strings():
    before = kernel_state()
    events, summary = run_json("lesson6", "--interval", "0.3")
    work = summary["workload"]
    mine = [e for e in events if e["pid"] == work["pid"]]
    strlen = Counter()
    for e in mine:
        if e["function"] == "strlen":
            strlen[e["argument"]] += e["count"]
    assert sum(strlen.values()) == work["strlen_calls"] == 100
    assert strlen == Counter({s[:63]: c for s, c in work["strings"].items()})
    calls = Counter()
    for e in mine:
        if e["function"] == "Py_GetVersion":
            calls[e["comm"]] += e["count"]
    # the workload's 3 calls; and where the interpreter calls it at start-up to build sys.version (Python 3.9 to
    # 3.12 do, 3.13 does not), that one call too, made before the workload renamed itself
    assert calls["bcc-workload"] == 3 and set(calls) <= {"bcc-workload", "python"} and calls["python"] <= 1
    # and the summary says where that extra call came from, so its counts add up
    also = sum(a["count"] for a in work["also"])
    assert summary["workload_events"] == work["ops"] + also == 100 + 3 + calls["python"]
    # the uretprobe's histogram, read once at the end: each string's calls in the bucket of its length
    expected = Counter()
    for s, c in work["strings"].items():
        expected[len(s).bit_length()] += c  # bpf_log2l(n) is n's bit length: 11 bytes are bucket 4 (8..15)
    hist = summary["histogram"]
    assert hist["label"] == "strlen() returned"
    shown = {r["high"].bit_length(): r["count"] for r in hist["buckets"] if r["count"]}
    assert shown == dict(expected) and sum(shown.values()) == 100
    mechanisms = [p["mechanism"] for p in summary["probes"]]
    # no kernel fallback; where this bcc lacks a call the lesson prefers, the lesson's sentence for it
    assert mechanisms == ["uprobe", "uretprobe", "uprobe"]
    assert summary["fallbacks"] == list(lessons.find("lesson6").missing_bcc_calls().values())
    assert_nothing_left(before, PROGRAMS)


@pytest.mark.parametrize("args, sentence", [
    (["--pid", "999999"], "No process with pid 999999 is running."),
    (["--probe", "/no/such/program:main"], "There is no file /no/such/program to probe."),
    (["--probe", f"{sys.executable}:no_such_function"], "has no function named no_such_function"),
])
def test_lesson6_missing_target_is_one_sentence_exit_2_and_nothing_attached(args, sentence):
    before = kernel_state()
    proc = runner("lesson6", "--no-code", "--duration", "2", *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and sentence in lines[0]
    assert lines[-1].startswith("fix: ") and len(lines) == 2
    assert_nothing_left(before, PROGRAMS)


def test_lesson6_traces_a_given_pid_without_a_workload():
    target = waiting_workload(10)
    try:
        events, summary = run_json("lesson6", "--pid", target.pid, "--duration", "1")
    finally:
        go(target)
    assert summary["workload"] is None and events == []
    assert all(f"pid {target.pid}" in p["target"] for p in summary["probes"])


UNMARKED = """
import ctypes, sys
strlen = ctypes.CDLL(None).strlen
sys.stdin.readline()  # attached: go
for i in range({n}):
    strlen(b"own-program-%d" % i)
"""


def own_program(n):
    """A learner's own program: it calls strlen() n times on strings of its own (not marked), once released."""
    return subprocess.Popen([sys.executable, "-c", UNMARKED.format(n=n)], stdin=subprocess.PIPE, text=True)


def release(proc):
    proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0


def test_lesson6_with_a_pid_counts_every_strlen_call_of_that_process_not_only_marked_ones(glue):
    target = own_program(1000)
    b, probes = glue.load(pid=target.pid)
    try:
        release(target)
        rows = glue.snapshot(b)
    finally:
        b.cleanup()
    mine = Counter({r["argument"]: r["count"] for r in rows if r["function"] == "strlen"})
    assert all(mine[f"own-program-{i}"] == 1 for i in range(1000)), sum(mine.values())
    assert {r["pid"] for r in rows} == {target.pid}
    assert probes[0][1].endswith(f"pid {target.pid}, every call")


def test_lesson6_probe_on_an_ifunc_symbol_probes_the_code_it_picked_and_says_so(glue):
    libc, code = glue.implementation(ctypes.CDLL(None).strlen)
    target = own_program(500)
    b, probes = glue.load(pid=target.pid, binary=libc, function="strlen")
    try:
        release(target)
        rows = glue.snapshot(b)
    finally:
        b.cleanup()
    calls = sum(r["count"] for r in rows if r["function"] == "strlen" and r["argument"] == "")  # functions map
    assert calls >= 500  # the resolver runs once per process: probing the symbol counted 1
    assert f"code at {code:#x} (an IFUNC" in probes[2][1], probes[2]


def test_lesson6_run_on_a_pid_ends_when_that_process_exits():
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4)"])
    try:
        proc = runner("lesson6", "--pid", target.pid, "--no-workload", "--interval", "0.5", timeout=60)
    finally:
        target.kill()
        target.wait()
    assert proc.returncode == 0, proc.stderr
    assert f"Process {target.pid} (--pid) has exited" in proc.stdout + proc.stderr


def program_starts(glue, binary, function, n, program):
    """Probe binary:function for every process, let the workload start `program` n times; its report and the rows."""
    before = kernel_state()
    proc = waiting_workload(0, function_calls=0, programs=n, program=program)
    b, probes = glue.load(binary=binary, function=function)  # no pid: the started programs are new processes
    try:
        report = go(proc)
        rows = glue.snapshot(b)
    finally:
        b.cleanup()
    assert_nothing_left(before, PROGRAMS)
    return report, [r for r in rows if r["function"] == function], probes


@pytest.mark.parametrize("n", [1, 25])
def test_lesson6_main_uprobe_counts_exactly_the_workloads_n_program_starts(glue, n):
    """attach_uprobe(name=BASH, sym="main"): every process that runs the program calls its main once."""
    from bcc import BPF
    bash = os.path.realpath(shutil.which("bash"))
    if not BPF.get_user_functions_and_addresses(bash, "^main$"):
        pytest.skip(f"{bash} has no symbol main (stripped)")
    report, rows, probes = program_starts(glue, bash, "main", n, bash)
    assert probes[2] == ("uprobe", f"{bash}:main")
    assert len(report["pids"]) == len(set(report["pids"])) == report["programs"] == n
    # other bash processes on this machine count too, each under its own pid: the workload's n are exactly these
    mine = [r for r in rows if r["pid"] in report["pids"]]
    assert sorted(r["pid"] for r in mine) == sorted(report["pids"])  # one row each
    assert all(r["count"] == 1 and r["comm"] == "bash" for r in mine), mine
    assert sum(r["count"] for r in mine) == n == report["ops"]
    assert not any(r["pid"] == report["pid"] for r in rows)  # the workload itself never runs bash's main


def test_lesson6_the_interpreters_main_is_a_jump_to_py_bytesmain_which_counts_each_start(glue):
    """python3's main() is `return Py_BytesMain(argc, argv);`: in python3 itself on Debian (where main is in no
    symbol table), in libpython3.X.so on Fedora and Arch. Py_BytesMain is exported, so BCC finds it in either."""
    python, _ = glue.implementation(ctypes.pythonapi.Py_BytesMain)  # the file that holds it in this Python
    interpreter = os.path.realpath(sys.executable)
    if python == interpreter:  # linked statically: is main findable in this (stripped) program?
        from bcc import BPF
        if not BPF.get_user_functions_and_addresses(interpreter, "^main$"):
            with pytest.raises(LookupError, match="has no function named main"):
                glue.load(binary=interpreter, function="main")
    report, rows, _ = program_starts(glue, python, "Py_BytesMain", 10, interpreter)
    mine = [r for r in rows if r["pid"] in report["pids"]]
    assert sorted(r["pid"] for r in mine) == sorted(report["pids"]) and all(r["count"] == 1 for r in mine), mine
    assert sum(r["count"] for r in mine) == 10 == report["ops"]
