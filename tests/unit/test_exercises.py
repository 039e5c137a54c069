"""Exercises without a kernel: discovery, metadata, hint, solution, watch; lesson 1's checker on sample events."""

import importlib.util
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from runner import exercises, lessons, progress, watch
from runner.__main__ import main

EXERCISES = [lesson for lesson in lessons.load_all() if exercises.has_exercise(lesson)]


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SUDO_USER", raising=False)


@pytest.fixture
def own_lessons(tmp_path, monkeypatch):
    """A copy of lessons/ (without learners' copies), as the runner's lessons folder: tests write there, not here."""
    copy = tmp_path / "lessons"
    shutil.copytree(lessons.ROOT / "lessons", copy, ignore=shutil.ignore_patterns("__pycache__", "*.previous"))
    for lesson in lessons.load_all():
        for name in exercises.copied(lesson):
            (copy / lesson.folder.name / "exercise" / name).unlink(missing_ok=True)
    monkeypatch.setenv(lessons.DIR_ENV, str(copy))
    return copy


def test_lesson1_has_an_exercise():
    assert "lesson1" in [lesson.id for lesson in EXERCISES]


@pytest.mark.parametrize("lesson", EXERCISES, ids=lambda l: l.id)
def test_every_exercise_has_a_task_a_checker_and_a_solution_that_applies_to_the_lesson(lesson):
    assert exercises.task(lesson), "the README starts with a title naming the task"
    spec = importlib.util.spec_from_file_location("checker", exercises.folder(lesson) / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.check)
    changed = exercises.solution(lesson)
    assert changed, f"{lesson.id}'s solution.patch changes nothing"
    for name in changed:
        assert name in lesson.exercise.edit, f"the solution changes {name}, which is not a file the learner edits"
    assert lesson.hint, "hint = ... in lessons.toml"


@pytest.mark.parametrize("lesson", EXERCISES, ids=lambda l: l.id)
def test_the_repository_keeps_one_copy_of_each_lesson_file(lesson):
    tracked = subprocess.run(["git", "ls-files", str(exercises.folder(lesson))], cwd=lessons.ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(Path(p).name for p in tracked) in (["README.md", "check.py", "solution.patch"],
                                                     ["README.md", "README.zh.md", "check.py", "solution.patch"])


def test_exercise_copies_the_lessons_files_for_the_learner_and_keeps_theirs(own_lessons, capsys):
    assert main(["exercise", "lesson1"]) == 0
    mine = own_lessons / "lesson1_hello" / "exercise" / "hello.c"
    assert mine.read_text() == (own_lessons / "lesson1_hello" / "hello.c").read_text()
    assert "lessons" in capsys.readouterr().out
    mine.write_text("// my try\n")
    assert main(["exercise", "lesson1"]) == 0  # a second time: the learner's file stays
    assert mine.read_text() == "// my try\n"
    assert main(["exercise", "lesson1", "--restart"]) == 0
    assert mine.read_text() == (own_lessons / "lesson1_hello" / "hello.c").read_text()
    assert mine.with_name("hello.c.previous").read_text() == "// my try\n"


def test_exercise_refuses_to_write_through_a_link(own_lessons, tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    (own_lessons / "lesson1_hello" / "exercise" / "hello.c").symlink_to(target)
    assert main(["exercise", "lesson1"]) == 2
    assert "symbolic link" in capsys.readouterr().err and target.read_text() == "keep\n"


def test_restart_replaces_planted_links_and_never_writes_through_them(own_lessons, tmp_path):
    """Under sudo root writes here: a link at <name>.previous, or a hard link at the learner's file, is replaced by
    a file of its own, and what it pointed at is left as it was."""
    exercise = own_lessons / "lesson1_hello" / "exercise"
    assert main(["exercise", "lesson1"]) == 0
    elsewhere, shared = tmp_path / "elsewhere", tmp_path / "shared"
    elsewhere.write_text("keep\n")
    shared.write_text("mine, also linked\n")
    (exercise / "hello.c.previous").symlink_to(elsewhere)
    (exercise / "hello.py").unlink()
    os.link(shared, exercise / "hello.py")  # Path.hardlink_to() is 3.10
    assert main(["exercise", "lesson1", "--restart"]) == 0
    assert elsewhere.read_text() == "keep\n" and shared.read_text() == "mine, also linked\n"
    assert not (exercise / "hello.c.previous").is_symlink()
    assert (exercise / "hello.py").read_text() == (own_lessons / "lesson1_hello" / "hello.py").read_text()
    assert (exercise / "hello.py.previous").read_text() == "mine, also linked\n"
    assert not [p.name for p in exercise.iterdir() if p.name.endswith(".tmp")]


def test_every_exercise_table_in_the_metadata_has_a_folder():
    for lesson in lessons.load_all():
        assert exercises.has_exercise(lesson), f"{lesson.id} has no exercise/check.py"
        for name in lesson.exercise.edit:
            assert name in exercises.copied(lesson), f"{lesson.id} asks the learner to edit {name}, which is not copied"


def test_hint_prints_the_task_and_the_metadata_hint(capsys):
    assert main(["hint", "1"]) == 0
    out = capsys.readouterr().out
    assert lessons.find("1").hint in out and "exercise/README.md" in out


def test_solution_needs_confirmation_without_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["solution", "lesson1"]) == 2
    err = capsys.readouterr().err
    assert "confirmation" in err and "--yes" in err and not progress.state_path().exists()


def test_solution_asks_and_respects_no(capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    assert main(["solution", "lesson1"]) == 0
    assert "Nothing shown" in capsys.readouterr().out


def test_solution_yes_shows_the_changes_and_is_remembered(capsys, own_lessons):
    lesson = exercises.require("lesson1")
    assert main(["solution", "lesson1", "--yes"]) == 0
    out = capsys.readouterr().out
    assert 'bpf_trace_printk("Hello from %d\\n", pid);' in out and "solution.patch" in out
    state, _ = progress.load()
    assert state["lessons"]["lesson1"]["solution_seen"]
    assert main(["solution", "lesson1", "--yes", "--write"]) == 0
    assert (exercises.folder(lesson) / "hello.c").read_text() == exercises.solution(lesson)["hello.c"]


def test_commands_on_a_lesson_without_an_exercise_are_usage_errors(capsys, tmp_path, monkeypatch):
    plain = lesson_without_exercise(tmp_path, monkeypatch)
    assert not exercises.has_exercise(plain)
    for command in ("check", "solution", "watch", "exercise"):
        assert main([command, plain.id]) == 2
        assert "has no exercise yet" in capsys.readouterr().err
    assert main(["check", "lesson99"]) == 2


def load_lesson1_checker():
    spec = importlib.util.spec_from_file_location("check1", exercises.folder(exercises.require("1")) / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


SUMMARY = {"workload": {"pid": 4242, "ops": 3}}


def lines(*messages, pid=4242):
    return [{"pid": pid, "comm": "bcc-workload", "message": m} for m in messages]


@pytest.mark.parametrize("messages, passed, explained", [
    (["Hello, World!"] * 3, False, "has no number in it"),
    ([str((4242 << 32) | 4242)] * 3, False, "shift it right by 32"),
    (["Hello from 7"] * 3, False, "not the pid 4242"),
    (["Hello from 4242"] * 2, False, "Only 2 of"),
    (["Hello from 4242", "pid=4242!", "4242"], True, "carrying the caller's pid"),
    (["Hello, World!"] * 3 + ["Hello from 4242"] * 3, True, "carrying"),  # another program's lines mixed in
])
def test_lesson1_checker_judges_the_pid_in_the_line_not_the_wording(messages, passed, explained):
    results = load_lesson1_checker()(lines(*messages) + lines("Hello from 1", pid=1), SUMMARY)
    assert all(ok for ok, _ in results) == passed
    assert explained in results[-1][1]


def test_lesson1_checker_without_any_line_says_so():
    ((ok, sentence),) = load_lesson1_checker()(lines("x", pid=1), SUMMARY)
    assert not ok and "printed no line" in sentence


def test_watch_checks_once_then_after_each_save_and_ctrl_c_ends_it(tmp_path):
    watched = tmp_path / "hello.c"
    watched.write_text("one")
    runs, sleeps = [], []

    class Done:
        returncode = 1

    def run(argv, cwd=None):
        runs.append(watched.read_text())
        return Done()

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:
            watched.write_text("two, longer")  # a save
        if len(sleeps) == 8:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert watch.watch([watched], ["check"], interval=0.5, stream=out, sleep=sleep, run=run) == 0
    assert runs == ["one", "two, longer"]
    assert "hello.c saved, checking again" in out.getvalue() and "Stopped watching." in out.getvalue()


def test_watch_stops_when_the_check_cannot_run_at_all(tmp_path):
    class NotRoot:
        returncode = 3
    path = tmp_path / "hello.c"
    path.write_text("")
    assert watch.watch([path], ["check"], stream=io.StringIO(), sleep=lambda s: None, run=lambda a, cwd=None: NotRoot()) == 3


def test_watch_ignores_a_file_missing_mid_save(tmp_path):
    path = tmp_path / "hello.c"
    path.write_text("a")
    before = watch.snapshot([path])
    path.unlink()
    assert watch.snapshot([path]) == {str(path): None} != before


def lesson_without_exercise(tmp_path, monkeypatch):
    """A lesson 9 whose folder has no exercise/, as the only lesson the runner knows."""
    plain = lessons.Lesson(number=9, name="plain", title="A lesson without an exercise", teaches="nothing",
                           events="trace_pipe", columns=["pid"], home=tmp_path)
    plain.folder.mkdir()
    monkeypatch.setattr(lessons, "load_all", lambda path=None: [plain])
    return plain
