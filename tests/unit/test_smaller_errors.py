"""Issue 17's smaller items, without a kernel: each is one sentence plus a fix, never "Unexpected error" or silence.

A fake lesson (its glue hands out a FakeBPF whose perf buffer calls back through ctypes, as BCC's does, so an
exception in record() is swallowed there just as on a kernel) runs through the real run engine and check;
--pid's zombie, thread and refused process are real processes of this test, or the kernel's refusal faked.
"""

import os
import shutil
import sys
import threading

import pytest

from runner import diagnostics, doctor, lessons, progress, session, targets, verify
from runner.__main__ import main
from runner.errors import LessonFailed, UsageError

ENTRY = '''[[lesson]]
number = 1
name = "fake"
title = "A lesson without a kernel"
teaches = "nothing"
events = "{events}"
columns = ["pid"]
hint = "h"

[lesson.exercise]
edit = ["fake.py"]
duration = 0.3
'''

GLUE = '''\
import ctypes
import sys
from pathlib import Path

PROGRAM = Path(__file__).with_name("fake.c")
# BCC's perf buffer calls Python back from C: an exception raised there is printed and dropped by ctypes.
CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
{at_import}

class Table:
    callback = None

    def open_perf_buffer(self, callback, page_cnt=8, lost_cb=None):
        def raw(_, cpu, data, size):
            callback(cpu, data, size)
        self.callback = CALLBACK(raw)

    def event(self, data):
        return {{"pid": 7}}


class FakeBPF:
    cleaned = []

    def __init__(self):
        self.tables = {{"events": Table()}}

    def __getitem__(self, name):
        if name not in self.tables:
            raise KeyError  # as BCC's get_table() does: no message
        return self.tables[name]

    def perf_buffer_poll(self, timeout=-1):
        for table in self.tables.values():
            if table.callback is not None:
                table.callback(None, 0, None, 0)

    def cleanup(self):
        FakeBPF.cleaned.append(self)


def load():
    {in_load}
    return FakeBPF(), [("kprobe", "fake")]


def record(event):
    {in_record}
    return event
'''


def fake_lessons(root, events="perf:events", at_import="", in_load="pass", in_record="pass", task=True):
    """A lessons folder with one fake lesson and its exercise; returns (lessons folder, the learner's folder)."""
    home = root / "lessons"
    folder = home / "lesson1_fake"
    (folder / "exercise").mkdir(parents=True)
    (home / "lessons.toml").write_text(ENTRY.format(events=events))
    (folder / "README.md").write_text("# Lesson 1\n\nA fake lesson.\n")
    (folder / "fake.c").write_text("// no BPF here\n")
    (folder / "fake.py").write_text(GLUE.format(at_import=at_import, in_load=in_load, in_record=in_record))
    (folder / "exercise" / "check.py").write_text("def check(events, summary):\n    return [(True, 'fine')]\n")
    if task:
        (folder / "exercise" / "README.md").write_text("# Exercise 1: do nothing\n")
    mine = root / "mine"
    mine.mkdir()
    for name in ("fake.c", "fake.py"):
        shutil.copyfile(folder / name, mine / name)
    return home, mine


@pytest.fixture
def no_root_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "require_basics", lambda: None)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SUDO_USER", raising=False)
    yield
    for name in [n for n in sys.modules if n in ("lesson_fake", "check_fake")]:
        del sys.modules[name]


def use(monkeypatch, home):
    monkeypatch.setenv(lessons.DIR_ENV, str(home))
    return lessons.find("lesson1")


def line_of(path, text):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# -- a learner's sys.exit(N) in their glue -------------------------------------------------------------------

@pytest.mark.parametrize("where, said", [
    ("at_import", "as it was imported"),
    ("in_load", "in load()"),
    ("in_record", "in record()"),
], ids=["at import", "inside load()", "inside record() (a perf buffer's callback)"])
def test_a_learners_sys_exit_is_one_fail_sentence_naming_the_call_and_the_line(tmp_path, monkeypatch, no_root_needed,
                                                                               capsys, where, said):
    home, mine = fake_lessons(tmp_path, **{where: "sys.exit(3)"})
    lesson = use(monkeypatch, home)
    results, _ = verify.run(lesson, mine)
    assert not results[0].passed, results
    line = line_of(mine / "fake.py", "sys.exit(3)")
    assert "called sys.exit(3)" in results[0].message and said in results[0].message, results[0].message
    assert f"{mine / 'fake.py'}:{line})" in results[0].message, results[0].message
    assert results[0].fix
    assert "Exception ignored" not in capsys.readouterr().err  # nothing of it is lost in ctypes' callback

    assert main(["check", "lesson1", "--dir", str(mine)]) == 1  # not the learner's 3: a failed check
    out = capsys.readouterr()
    assert "FAIL" in out.out and "sys.exit(3)" in out.out and "Traceback" not in out.err
    state, _ = progress.load()
    assert state["lessons"]["lesson1"]["attempts"] >= 1  # counted as an attempt like any failing check


def test_an_exception_in_a_perf_lessons_record_is_said_not_printed_by_ctypes(tmp_path, monkeypatch, no_root_needed,
                                                                             capsys):
    home, mine = fake_lessons(tmp_path, in_record='raise ValueError("not like this")')
    results, _ = verify.run(use(monkeypatch, home), mine)
    line = line_of(mine / "fake.py", "not like this")
    assert results[0].message == (f"Your program failed while it ran: ValueError: not like this "
                                  f"({mine / 'fake.py'}:{line}).")
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_learners_record_that_works_still_passes(tmp_path, monkeypatch, no_root_needed):
    home, mine = fake_lessons(tmp_path)
    results, summary = verify.run(use(monkeypatch, home), mine)
    assert results[0].passed and summary["events"] > 0


# -- events = "perf:<table>" naming a table the program does not declare --------------------------------------

def test_a_perf_table_the_program_does_not_declare_is_one_sentence_naming_lesson_and_table(tmp_path, monkeypatch,
                                                                                           no_root_needed, capsys):
    home, mine = fake_lessons(tmp_path, events="perf:nosuchtable")
    lesson = use(monkeypatch, home)
    glue = lesson.import_glue()
    with pytest.raises(LessonFailed) as err:
        session.load(glue, lesson.program_path)
    said = str(err.value)
    assert said.startswith("lesson1 reads its events from the perf buffer 'nosuchtable'"), said
    assert "BPF_PERF_OUTPUT(nosuchtable)" in said and "fake.c" in said and err.value.fix
    assert glue.FakeBPF.cleaned, "what was loaded is detached before the error is said"

    assert main(["lesson1", "--no-code", "--quiet"]) == 1  # a run: the same sentence, not "Unexpected error"
    stderr = capsys.readouterr().err
    assert "error: lesson1 reads its events from the perf buffer 'nosuchtable'" in stderr
    assert "Unexpected error" not in stderr

    results, _ = verify.run(lesson, mine)  # a check: the same sentence, not "Your program failed ... KeyError"
    assert results[0].message.startswith("lesson1 reads its events from the perf buffer 'nosuchtable'")


def test_explain_load_failure_keeps_a_runner_errors_sentence_and_fix():
    """A copy, so that session.load()'s `raise explained from failure` chains to the sentence raised in load()."""
    said = UsageError("one sentence.", fix="the fix", details="more")
    kept = diagnostics.explain_load_failure(said, "", lessons.ROOT / "x.c")
    assert type(kept) is UsageError and kept is not said
    assert (str(kept), kept.fix, kept.details) == ("one sentence.", "the fix", "more")


# -- check --dir: the exercise's task README ---------------------------------------------------------------

def test_check_without_the_exercises_task_readme_still_says_its_results(tmp_path, monkeypatch, no_root_needed, capsys):
    home, mine = fake_lessons(tmp_path, task=False)
    use(monkeypatch, home)
    assert main(["check", "lesson1", "--dir", str(mine)]) == 1  # the fake workload-less lesson: "nothing to judge"
    out = capsys.readouterr()
    assert "Checking lesson1's exercise" in out.out and "ok    Your program compiled" in out.out, out
    assert "error:" not in out.err
    assert f"warning: the exercise's task {home / 'lesson1_fake' / 'exercise' / 'README.md'} is missing" in out.err


# -- a lesson's README that cannot be read ------------------------------------------------------------------

def test_show_of_a_lesson_whose_readme_is_not_text_is_one_sentence(tmp_path, monkeypatch, capsys):
    home, _ = fake_lessons(tmp_path)
    (home / "lesson1_fake" / "README.md").write_bytes(b"# Lesson 1\n\n\xff\xfe not UTF-8\n")
    monkeypatch.setenv(lessons.DIR_ENV, str(home))
    assert main(["show", "lesson1"]) == 1
    err = capsys.readouterr().err
    assert "Unexpected error" not in err
    assert f"lesson 1 (fake) has a README.md that is not UTF-8 text ({home / 'lesson1_fake' / 'README.md'}" in err


def test_show_of_a_lesson_whose_readme_is_unreadable_is_one_sentence(tmp_path, monkeypatch, capsys):
    home, _ = fake_lessons(tmp_path)
    readme = home / "lesson1_fake" / "README.md"
    real = type(readme).read_text

    def denied(path, *args, **kwargs):
        if path == readme:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(type(readme), "read_text", denied)  # as for a learner who is not root, after chmod 600
    monkeypatch.setattr(type(readme), "read_bytes", lambda path: denied(path) if path == readme else real(path).encode())
    monkeypatch.setenv(lessons.DIR_ENV, str(home))
    assert main(["show", "lesson1"]) == 1
    err = capsys.readouterr().err
    assert "Unexpected error" not in err
    assert f"lesson 1 (fake) cannot read its README.md {readme} (Permission denied)" in err and "fix: " in err


def test_intro_of_a_readme_that_became_unreadable_is_a_lesson_failure(tmp_path, monkeypatch):
    home, _ = fake_lessons(tmp_path)
    lesson = use(monkeypatch, home)
    lesson.readme_path.write_bytes(b"\xff")
    with pytest.raises(LessonFailed, match="is not UTF-8 text"):
        lesson.intro()


# -- --pid of a process that cannot be probed ---------------------------------------------------------------

LESSON6 = lessons.find("lesson6")  # it takes --pid


def test_pid_of_a_zombie_says_it_has_exited():
    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        for _ in range(200):  # until it is a zombie
            if targets.state(child) == "Z":
                break
            threading.Event().wait(0.01)
        with pytest.raises(UsageError) as err:
            targets.check_accepted(LESSON6, {"pid": child})
        assert str(err.value).startswith(f"Process {child} (")
        assert "has exited" in str(err.value) and f"its parent (pid {os.getpid()})" in str(err.value)
        assert err.value.fix
    finally:
        os.waitpid(child, 0)


def test_pid_of_a_thread_names_its_process():
    started, done = threading.Event(), threading.Event()
    tid = []

    def thread():
        tid.append(threading.get_native_id())
        started.set()
        done.wait()
    worker = threading.Thread(target=thread)
    worker.start()
    started.wait()
    try:
        with pytest.raises(UsageError) as err:
            targets.check_accepted(LESSON6, {"pid": tid[0]})
        assert str(err.value).startswith(f"{tid[0]} is a thread of process {os.getpid()} (")
        assert f"--pid {os.getpid()}" in err.value.fix
    finally:
        done.set()
        worker.join()


def test_pid_of_a_running_process_and_of_no_process_pass_the_check():
    targets.check_accepted(LESSON6, {"pid": os.getpid()})
    targets.check_accepted(LESSON6, {"pid": 4194305})  # no such pid: the glue says so (its sentence, exit 2)


def test_an_attach_the_kernel_refused_for_a_protected_process_says_eacces(monkeypatch):
    monkeypatch.setattr(targets, "ptrace_refusal", lambda pid: PermissionError(13, "Permission denied"))
    said = targets.unprobeable(os.getpid())
    assert isinstance(said, LessonFailed)
    assert str(said).startswith(f"Process {os.getpid()} (")
    assert "cannot be probed: the kernel refused" in str(said) and "EACCES" in str(said)
    assert "CAP_SYS_PTRACE" in str(said) and said.fix


def test_an_attach_that_failed_for_a_process_that_exited_meanwhile_says_so():
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    assert "has exited" in str(targets.unprobeable(child))


def test_an_attach_that_failed_for_a_traceable_process_is_left_to_the_usual_sentence():
    assert targets.unprobeable(os.getpid()) is None


def test_an_attach_failure_with_a_pid_is_explained_by_the_process_not_by_kernel_functions(tmp_path, monkeypatch,
                                                                                          no_root_needed):
    home, _ = fake_lessons(tmp_path, in_load='raise Exception("Failed to attach BPF to uprobe")')
    (home / "lessons.toml").write_text(ENTRY.format(events="perf:events").replace('hint = "h"', 'hint = "h"\noptions = ["pid"]'))
    glue_path = home / "lesson1_fake" / "fake.py"
    glue_path.write_text(glue_path.read_text().replace("def load():", "def load(pid=None):"))
    lesson = use(monkeypatch, home)
    monkeypatch.setattr(targets, "ptrace_refusal", lambda pid: PermissionError(13, "Permission denied"))
    with pytest.raises(LessonFailed) as err:
        session.load(lesson.import_glue(), lesson.program_path, pid=os.getpid())
    assert "cannot be probed: the kernel refused" in str(err.value)
    assert "kernel function" not in (err.value.fix or "")

