"""Exercises without a kernel: discovery, metadata, hint, solution, watch; lesson 1's checker on sample events."""

import importlib.util
import io

import pytest

from runner import exercises, lessons, progress, watch
from runner.__main__ import main

EXERCISES = exercises.all_exercises()


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SUDO_USER", raising=False)


def test_lesson1_has_an_exercise():
    assert "lesson1" in [e.lesson.id for e in EXERCISES]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.lesson.id)
def test_every_exercise_has_a_task_starting_files_a_checker_and_a_hidden_solution(exercise):
    assert exercise.task(), "the README starts with a title naming the task"
    for path in exercise.learner_files():
        assert path.is_file(), f"{path} (from edit = [...]) is missing"
    assert exercise.lesson.glue_path.name in {p.name for p in exercise.folder.iterdir()}, \
        "the exercise folder holds a copy of the glue, so it runs alone"
    spec = importlib.util.spec_from_file_location("checker", exercise.checker_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.check)
    solutions = exercise.solution_files()
    assert solutions, f"{exercise.solution_dir} is empty"
    for path in solutions:
        assert path.name in exercise.edit, f"the solution's {path.name} is not a file the learner edits"
        assert path.read_text() != (exercise.folder / path.name).read_text(), f"the solution's {path.name} is the starting file"
    assert exercise.lesson.hint, "hint = ... in lessons.toml"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.lesson.id)
def test_files_the_learner_does_not_edit_are_the_lessons_own(exercise):
    for path in exercise.folder.iterdir():
        if path.is_file() and path.name not in exercise.edit and path.name not in exercises.NOT_LEARNERS:
            original = exercise.lesson.folder / path.name
            assert original.is_file() and original.read_text() == path.read_text(), \
                f"{path} has drifted from {original}: copy it again"


def test_every_exercise_table_in_the_metadata_has_a_folder():
    for lesson in lessons.load_all():
        if "exercise" in lesson.extra:
            assert exercises.of(lesson) is not None, f"{lesson.id} has [lesson.exercise] but no exercise/check.py"


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


def test_solution_yes_shows_the_files_and_is_remembered(capsys):
    exercise = exercises.require("lesson1")
    assert main(["solution", "lesson1", "--yes"]) == 0
    out = capsys.readouterr().out
    for path in exercise.solution_files():
        assert path.read_text().strip().splitlines()[-1] in out
    assert ".solution" in out
    state, _ = progress.load()
    assert state["lessons"]["lesson1"]["solution_seen"]


def test_commands_on_a_lesson_without_an_exercise_are_usage_errors(capsys, tmp_path, monkeypatch):
    plain = lesson_without_exercise(tmp_path, monkeypatch)
    assert exercises.of(plain) is None
    for command in ("check", "solution", "watch"):
        assert main([command, plain.id]) == 2
        assert "has no exercise yet" in capsys.readouterr().err
    assert main(["check", "lesson99"]) == 2


def load_lesson1_checker():
    spec = importlib.util.spec_from_file_location("check1", exercises.require("1").checker_path)
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
    monkeypatch.setattr(lessons, "LESSONS_DIR", tmp_path)
    plain = lessons.Lesson(number=9, name="plain", title="A lesson without an exercise", teaches="nothing",
                           events="trace_pipe", columns=["pid"])
    plain.folder.mkdir()
    monkeypatch.setattr(lessons, "load_all", lambda path=None: [plain])
    return plain
