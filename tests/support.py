"""Helpers shared by the tests: run the runner as a learner would, and read the kernel's state."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEBUG_TRACING = Path("/sys/kernel/debug/tracing")
HAN = re.compile(r"[\u4e00-\u9fff]")  # a Chinese character: what the tests of the Chinese edition look for


def proc_texts(name):
    """(pid, text) of /proc/<pid>/<name> for every process (a trailing "/*": of every file in that directory).
    Processes end while this reads: one that is gone is passed over. Not pathlib's glob, which on Python 3.9 raises
    ProcessLookupError for a process that ended between listing /proc and looking inside it."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        paths = [f"/proc/{pid}/{name}"]
        if name.endswith("/*"):
            folder = f"/proc/{pid}/{name[:-2]}"
            try:
                paths = [f"{folder}/{entry}" for entry in os.listdir(folder)]
            except OSError:
                continue
        for path in paths:
            try:
                with open(path) as f:
                    yield int(pid), f.read()
            except OSError:
                continue


def runner(*args, timeout=120, check=False):
    """`python3 -m runner ARGS` in a subprocess; returns the CompletedProcess (text)."""
    proc = subprocess.run([sys.executable, "-m", "runner", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"runner {' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_json(*args, timeout=120):
    """Run a lesson with --json; returns (events, summary). Fails with the runner's stderr if it failed."""
    proc = runner(*args, "--json", timeout=timeout, check=True)
    objects = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert objects and "summary" in objects[-1], f"no summary object in:\n{proc.stdout}\n{proc.stderr}"
    return objects[:-1], objects[-1]["summary"]


def bpf_programs():
    """{id: name} of every BPF program loaded in the kernel (bpftool)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]")}


def probe_events():
    """kprobe and uprobe events defined through tracefs (BCC's names contain _bcc_)."""
    lines = set()
    for name in ("kprobe_events", "uprobe_events"):
        path = DEBUG_TRACING / name
        if path.exists():
            lines |= {f"{name}: {line}" for line in path.read_text().splitlines() if line.strip()}
    return lines


def kernel_state():
    return bpf_programs(), probe_events()


def lesson_programs(lesson):
    """Names the lesson's BPF programs can have (a Lesson, or what `runner lessonN` accepts).

    Every identifier of its C file and its glue (which may load a function under another name, as lesson 4's
    noattach_kprobe__tcp_sendmsg), and BCC's tracepoint__<category>__<event> for each TRACEPOINT_PROBE.
    """
    from runner import lessons
    lesson = lessons.find(lesson) if isinstance(lesson, str) else lesson
    text = lesson.program_path.read_text()
    names = set(re.findall(r"[A-Za-z_]\w*", text + lesson.glue_path.read_text()))
    names |= {f"tracepoint__{c}__{e}" for c, e in re.findall(r"^TRACEPOINT_PROBE\((\w+),\s*(\w+)\)", text, re.M)}
    return names


def assert_nothing_left(before, names, wait=5.0):
    """No program named in `names` that was not loaded before, and no new probe event, stays in the kernel.

    Names compare on their first 15 characters: bpftool shows whole names where the kernel has BTF, and
    names cut to 15 characters where it has not. The kernel frees a program shortly after its last
    reference goes (RCU), so wait a little.
    """
    progs_before, events_before = before
    cut = {n[:15] for n in names}
    deadline = time.monotonic() + wait
    while True:
        progs, events = kernel_state()
        leaked = {i: n for i, n in progs.items() if i not in progs_before and n[:15] in cut}
        new_events = events - events_before
        if not leaked and not new_events:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left in the kernel: programs {leaked}, probe events {sorted(new_events)}")
        time.sleep(0.2)


def bpf_unavailable():
    """Why live BPF tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "live BPF tests need root (run: sudo make test)"
    try:
        import bcc
    except ImportError:
        return "bcc is not importable (run: sudo make setup)"
    if not hasattr(bcc, "BPF"):
        return "the module named bcc is the unrelated PyPI package, not BCC (pip uninstall bcc; sudo make setup)"
    if not (DEBUG_TRACING / "events").is_dir():
        return f"{DEBUG_TRACING} is not mounted (run: sudo make setup)"
    if subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0:
        return "bpftool is missing: the leak checks need it (run: sudo make setup)"
    return None


def learner_copy(lesson, into, solution=False):
    """The exercise as a learner starts it (the lesson's program and glue), or with the solution applied, in `into`."""
    from runner import exercises, lessons
    lesson = lessons.find(lesson) if isinstance(lesson, str) else lesson
    target = Path(into) / lesson.id
    target.mkdir(parents=True, exist_ok=True)
    for name in exercises.copied(lesson):
        (target / name).write_text((lesson.folder / name).read_text())
    if solution:
        exercises.solution(lesson, into=target)
    return target
