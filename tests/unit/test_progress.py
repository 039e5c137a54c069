"""Progress: a small state file, from a clean state, after corruption, and where it cannot be written."""

import json
import os
import pwd
import stat

import pytest

from runner import lessons, progress
from runner.__main__ import main


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Every test gets its own state directory; never the real user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SUDO_USER", raising=False)
    return tmp_path / "state"


def test_the_state_file_lives_under_xdg_state_home_or_local_state(state_home, monkeypatch):
    assert progress.state_path() == state_home / "bcc-lessons" / "progress.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert progress.state_path() == progress.Path.home() / ".local/state/bcc-lessons/progress.json"


def test_under_sudo_the_state_file_is_the_invoking_users(monkeypatch):
    user = pwd.getpwnam("nobody")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert progress.state_path() == progress.Path(user.pw_dir) / ".local/state/bcc-lessons/progress.json"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_under_sudo_the_files_created_belong_to_the_invoking_user(state_home, monkeypatch):
    user = pwd.getpwnam("nobody")
    monkeypatch.setenv("SUDO_USER", "nobody")
    assert progress.record("lesson1", ran=True) == []
    for path in (state_home, state_home / "bcc-lessons", progress.state_path()):
        assert (path.stat().st_uid, path.stat().st_gid) == (user.pw_uid, user.pw_gid), path


def test_clean_state_nothing_done_and_next_is_the_first_lesson(capsys):
    state, warning = progress.load()
    assert warning is None and state == progress.empty()
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "0 of" in out and "lesson1" in out
    assert main(["next"]) == 0
    assert "Next: lesson1" in capsys.readouterr().out
    assert not progress.state_path().exists(), "reading progress must not create the file"


def test_recording_is_atomic_private_json_and_moves_next_on():
    all_lessons = lessons.load_all()
    first, second = all_lessons[0], all_lessons[1]
    assert progress.record(first.id, ran=True, attempt=True, passed=True) == []
    path = progress.state_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["progress.json"], "no temporary file left behind"
    saved = json.loads(path.read_text())
    assert saved["lessons"][first.id]["attempts"] == 1 and saved["lessons"][first.id]["passed"]
    from runner import exercises
    rows = progress.status(all_lessons, exercises.has_exercise, saved)
    assert rows[0]["done"] and progress.next_lesson(rows)["lesson"] == second.id


def test_a_run_counts_a_lesson_without_exercise_as_done(tmp_path, monkeypatch):
    from runner import exercises
    from tests.unit.test_exercises import lesson_without_exercise
    plain = lesson_without_exercise(tmp_path, monkeypatch)
    progress.note_run(plain.id)
    state, _ = progress.load()
    (row,) = [r for r in progress.status(lessons.load_all(), exercises.has_exercise, state) if r["lesson"] == plain.id]
    assert row["ran"] and row["done"] and row["exercise"] is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1, "lessons": []}', '{"version": 99, "lessons": {}}',
                                     "", "\x00\x01"])
def test_a_corrupted_state_file_resets_with_a_warning_and_nothing_crashes(content, capsys):
    path = progress.state_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert main(["progress"]) == 0
    captured = capsys.readouterr()
    assert "clean state" in captured.err and "Traceback" not in captured.err
    assert path.with_name("progress.json.broken").read_text() == content, "the broken file is kept for the curious"
    assert main(["next"]) == 0 and "Next: lesson1" in capsys.readouterr().out
    assert progress.record("lesson1", ran=True) == []
    assert json.loads(path.read_text())["lessons"]["lesson1"]["ran"]


def test_an_unwritable_state_directory_is_one_warning_not_a_crash(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file where the directory should be
    (warning,) = progress.record("lesson1", passed=True)
    assert warning.startswith("Could not save your progress") and "XDG_STATE_HOME" in warning
    progress.note_run("lesson1")
    assert capsys.readouterr().err.count("warning: Could not save") == 1
    assert main(["progress"]) == 0 and main(["next"]) == 0
    assert main(["reset"]) == 0  # nothing there to forget


def test_reset_forgets_and_says_so(capsys):
    assert main(["reset"]) == 0
    assert "no progress to forget" in capsys.readouterr().out
    progress.record("lesson1", passed=True)
    assert main(["reset"]) == 0
    assert "forgotten" in capsys.readouterr().out and not progress.state_path().exists()
    assert main(["next"]) == 0 and "Next: lesson1" in capsys.readouterr().out


def test_reset_that_cannot_delete_is_an_environment_error(capsys):
    progress.state_path().mkdir(parents=True)  # a directory where the file should be: unlink() fails
    assert main(["reset"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: Could not delete your progress file") and "fix: " in err and "Traceback" not in err


def test_progress_json_lists_every_lesson(capsys):
    assert main(["progress", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["lesson"] for r in data["lessons"]] == [l.id for l in lessons.load_all()]
    assert data["state_file"] == str(progress.state_path())
