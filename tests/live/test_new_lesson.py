"""A new lesson is one folder plus one lessons.toml entry, and nothing in runner/ changes.

The proof: a lesson 99 written here, in a temporary lessons folder, with a column the runner has
never seen (declared with its own header and format), an option of its own (--tag, handed to its
load()) and a workload of its own, run through the command line, the exercise commands and a
notebook, each on the live kernel.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from runner import lessons
from tests.support import ROOT, assert_nothing_left, kernel_state

pytestmark = pytest.mark.bpf

ENTRY = '''
[[lesson]]
number = 99
name = "getpgrps"
title = "A lesson the runner has never seen"
teaches = "nothing new: it proves that a lesson is one folder plus this entry"
events = "perf:events"
columns = ["comm", "pid", { key = "tag", header = "TAG", width = 6, format = "%04d" }]
options = [{ name = "tag", type = "int", default = 7, help = "the number every event carries" }]
workload = { count = 25 }
hint = 'Add "seen": True to record().'
'''

PROGRAM = """// getpgrps.c: one event per getpgrp() call, each carrying TAG.
struct data_t {
    u32 pid;
    u32 tag;
    char comm[16];
};
BPF_PERF_OUTPUT(events);

TRACEPOINT_PROBE(syscalls, sys_enter_getpgrp)
{
    struct data_t data = {};
    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.tag = TAG;
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    events.perf_submit(args, &data, sizeof(data));
    return 0;
}
"""

GLUE = '''from pathlib import Path

from bcc import BPF

PROGRAM = Path(__file__).with_name("getpgrps.c")


def load(tag=7):
    b = BPF(src_file=str(PROGRAM), cflags=["-DTAG=%d" % tag])
    return b, [("tracepoint", "syscalls:sys_enter_getpgrp")]


def record(event):
    return {"comm": event.comm.decode(errors="replace"), "pid": event.pid, "tag": event.tag}
'''

WORKLOAD = '''import os


def run(count=5):
    for _ in range(count):
        os.getpgrp()
    return {"ops": count, "what": "getpgrp() calls"}
'''

CHECK = '''def check(events, summary):
    pid = summary["workload"]["pid"]
    mine = [e for e in events if e["pid"] == pid]
    seen = [e for e in mine if e.get("seen")]
    return [(len(seen) == summary["workload"]["ops"], f"{len(seen)} of {len(mine)} events are marked seen")]
'''

PATCH = """--- a/getpgrps.py
+++ b/getpgrps.py
@@ -11,4 +11,4 @@
 
 
 def record(event):
-    return {"comm": event.comm.decode(errors="replace"), "pid": event.pid, "tag": event.tag}
+    return {"comm": event.comm.decode(errors="replace"), "pid": event.pid, "tag": event.tag, "seen": True}
"""


@pytest.fixture
def new_lessons(tmp_path, monkeypatch):
    """The project's lessons plus lesson 99 (a number no real lesson takes), in a folder of their own, as the runner's lessons folder."""
    home = tmp_path / "lessons"
    shutil.copytree(ROOT / "lessons", home, ignore=shutil.ignore_patterns("__pycache__", "exercise"))
    with open(home / "lessons.toml", "a") as f:
        f.write(ENTRY)
    folder = home / "lesson99_getpgrps"
    (folder / "exercise").mkdir(parents=True)
    for name, text in (("README.md", "# Lesson 99\n\nA lesson written by a test.\n"), ("getpgrps.c", PROGRAM),
                       ("getpgrps.py", GLUE), ("workload.py", WORKLOAD),
                       ("exercise/README.md", "# Exercise 99: mark every event seen\n"), ("exercise/check.py", CHECK),
                       ("exercise/solution.patch", PATCH)):
        (folder / name).write_text(text)
    monkeypatch.setenv(lessons.DIR_ENV, str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return home


def runner(*args):
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_the_command_line_runs_it_with_its_column_option_and_workload(new_lessons):
    before = kernel_state()
    proc = runner("lesson99", "--tag", "42", "--json")
    assert proc.returncode == 0, proc.stderr
    *events, last = [json.loads(line) for line in proc.stdout.splitlines()]
    work = last["summary"]["workload"]
    mine = [e for e in events if e["pid"] == work["pid"]]
    assert work["source"].endswith("lesson99_getpgrps/workload.py") and work["ops"] == 25
    assert len(mine) == 25 and {e["tag"] for e in mine} == {42}
    proc = runner("lesson99", "--no-code")
    assert proc.returncode == 0, proc.stderr
    assert "TAG" in proc.stdout.split("Hit Ctrl-C to end.")[1] and "0007" in proc.stdout  # its declared format
    assert runner("lesson99", "--tags", "1").returncode == 2
    assert_nothing_left(before, {"tracepoint__syscalls__sys_enter_getpgrp"})


def test_the_exercise_commands_copy_check_and_solve_it(new_lessons):
    assert runner("exercise", "lesson99").returncode == 0
    mine = new_lessons / "lesson99_getpgrps" / "exercise" / "getpgrps.py"
    assert mine.read_text() == GLUE
    untouched = runner("check", "lesson99", "--json")
    assert untouched.returncode == 1 and "0 of 25 events are marked seen" in untouched.stdout
    assert runner("solution", "lesson99", "--yes", "--write").returncode == 0
    solved = runner("check", "lesson99", "--json")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert json.loads(solved.stdout)["passed"] is True


@pytest.mark.notebook
def test_a_notebook_built_for_it_runs_headless(new_lessons, tmp_path, monkeypatch):
    from runner.notebook import UNATTENDED_ENV, ensure_kernelspec
    from tests.notebooks.test_notebooks import run_notebook, summary_of
    ensure_kernelspec()
    monkeypatch.setenv(UNATTENDED_ENV, "1")  # the controls cell runs the lesson once and waits for its end
    out = tmp_path / "notebooks"
    out.mkdir()
    built = subprocess.run([sys.executable, str(ROOT / "notebooks" / "build.py"), "--out", str(out), "lesson99"],
                           capture_output=True, text=True, env=dict(os.environ))
    assert built.returncode == 0, built.stderr
    nb, held = run_notebook(out / "lesson99_getpgrps.ipynb")
    summary = summary_of(nb)
    assert held and summary["workload"]["ops"] == 25 and summary["workload_events"] == 25
