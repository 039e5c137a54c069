"""Progress: a small state file, from a clean state, after corruption, and where it cannot be written."""

import json
import os
import pwd
import stat
from pathlib import Path

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
    state_home.mkdir()  # under sudo XDG_STATE_HOME is used only if it is already the learner's (see below)
    os.chown(state_home, user.pw_uid, user.pw_gid)
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


# Under sudo: root writes in a folder the learner owns, so nothing there may lead root to a file that is not theirs.

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def snapshot(folder):
    """Every entry below `folder` with its owner, mode and content: to show that root left it alone."""
    seen = {}
    for path in sorted([folder, *folder.rglob("*")]):
        st = os.lstat(path)
        seen[str(path)] = (st.st_uid, st.st_mode, path.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return seen


@pytest.fixture
def learner(tmp_path, monkeypatch):
    """Under sudo as `nobody`, with a home of their own in tmp_path (nobody's real one, /nonexistent, is not there)."""
    real, getpwnam = pwd.getpwnam("nobody"), pwd.getpwnam
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, real.pw_uid, real.pw_gid)
    fake = pwd.struct_passwd((real.pw_name, real.pw_passwd, real.pw_uid, real.pw_gid, real.pw_gecos, str(home),
                              real.pw_shell))
    monkeypatch.setattr(progress.pwd, "getpwnam", lambda name: fake if name == "nobody" else getpwnam(name))
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    return fake


def learners_dirs(user, relative):
    """Make the folders of `relative` below the learner's home, theirs; returns the last one."""
    path = Path(user.pw_dir)
    for name in Path(relative).parts:
        path = path / name
        path.mkdir(mode=0o700)
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


@pytest.fixture
def root_folder(tmp_path):
    """A folder only root may change, with a progress.json of its own (unreadable, so load() would move it aside)."""
    folder = tmp_path / "root-only"
    folder.mkdir(mode=0o755)
    (folder / "progress.json").write_text("root's own file")
    os.chmod(folder / "progress.json", 0o600)
    return folder


@as_root
def test_under_sudo_progress_in_the_home_is_0600_and_the_learners(learner):
    assert progress.record("lesson1", ran=True) == []
    home = Path(learner.pw_dir)
    path = home / ".local/state/bcc-lessons/progress.json"
    assert progress.state_path() == path and json.loads(path.read_text())["lessons"]["lesson1"]["ran"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and owner(path) == (learner.pw_uid, learner.pw_gid)
    for folder in (home / ".local", home / ".local/state", path.parent):
        assert owner(folder) == (learner.pw_uid, learner.pw_gid), folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert [p.name for p in path.parent.iterdir()] == ["progress.json"]
    assert progress.load() == (json.loads(path.read_text()), None)


@as_root
def test_under_sudo_a_temporary_file_swapped_for_a_link_does_not_give_its_target_away(learner, tmp_path, monkeypatch):
    """The learner owns the folder, so between root's write and its next step they can put a link where the file was."""
    target = tmp_path / "root-owned"
    target.write_text("root's secret")
    target.chmod(0o600)
    fsync = os.fsync

    def fsync_then_swap(fd):
        fsync(fd)
        for tmp in progress.state_dir().glob(".progress-*"):  # what an inotify watcher would do, at the worst moment
            tmp.unlink()
            tmp.symlink_to(target)

    monkeypatch.setattr(progress.os, "fsync", fsync_then_swap)
    progress.record("lesson1", ran=True)
    monkeypatch.setattr(progress.os, "fsync", fsync)
    assert owner(target) == (0, 0) and target.read_text() == "root's secret"
    assert progress.load()[0] == progress.empty(), "root does not read through a link either"
    (warning,) = progress.record("lesson1", ran=True)  # and the next save replaces the link, not its target
    assert warning.startswith("Could not read your progress file") and "symbolic links" in warning, warning
    assert owner(target) == (0, 0) and target.read_text() == "root's secret"
    assert not progress.state_path().is_symlink() and owner(progress.state_path()) == (learner.pw_uid, learner.pw_gid)


@as_root
@pytest.mark.parametrize("link", [".local", ".local/state", ".local/state/bcc-lessons"])
def test_under_sudo_a_state_folder_that_is_a_link_to_a_root_folder_is_refused(link, learner, root_folder, capsys):
    path = Path(learner.pw_dir) / link
    learners_dirs(learner, Path(link).parent)
    path.symlink_to(root_folder)
    os.lchown(path, learner.pw_uid, learner.pw_gid)
    before = snapshot(root_folder)
    (warning,) = progress.record("lesson1", ran=True)
    assert f"{path} is a symbolic link" in warning and "XDG_STATE_HOME" in warning, warning
    assert snapshot(root_folder) == before, "root neither moved, wrote nor chowned anything in the linked folder"
    for command in (lambda: progress.note_run("lesson1"), lambda: main(["next"]), lambda: main(["progress"])):
        assert command() in (None, 0)  # the learner's command still works, with that one sentence
        err = capsys.readouterr().err
        assert err.count("warning: ") == 1 and "symbolic link" in err and "Traceback" not in err, err
    assert snapshot(root_folder) == before


@as_root
def test_under_sudo_reset_does_not_delete_through_a_linked_state_folder(learner, root_folder, capsys):
    link = learners_dirs(learner, ".local/state") / "bcc-lessons"
    link.symlink_to(root_folder)
    before = snapshot(root_folder)
    assert main(["reset"]) == 3
    err = capsys.readouterr().err
    assert f"{link} is a symbolic link" in err and "fix: " in err and "Traceback" not in err, err
    assert snapshot(root_folder) == before


@as_root
@pytest.mark.parametrize("folder", [".local", ".local/state/bcc-lessons"])
def test_under_sudo_a_state_folder_owned_by_another_user_is_refused(folder, learner):
    path = learners_dirs(learner, folder)
    os.chown(path, 4242, 4242)  # someone else's (no such user needed)
    before = snapshot(path)
    (warning,) = progress.record("lesson1", ran=True)
    assert f"{path} belongs to another user" in warning and "XDG_STATE_HOME" in warning, warning
    assert snapshot(path) == before


@as_root
def test_under_sudo_progress_json_that_is_a_link_is_not_read(learner, tmp_path):
    target = tmp_path / "root-owned.json"
    target.write_text(json.dumps({"version": 1, "lessons": {"root-only-secret": {}}}))
    link = learners_dirs(learner, ".local/state/bcc-lessons") / "progress.json"
    link.symlink_to(target)
    state, warning = progress.load()
    assert state == progress.empty() and "Could not read" in warning
    progress.record("lesson1", ran=True)
    assert owner(target) == (0, 0) and "root-only-secret" in target.read_text()


@as_root
def test_under_sudo_xdg_state_home_must_be_the_learners_existing_folder(learner, tmp_path, root_folder, monkeypatch):
    link = learners_dirs(learner, "state-link").parent / "state-link-to-root"
    link.symlink_to(root_folder)
    before = snapshot(root_folder)
    for base, problem in ((link, "belongs to another user"), (tmp_path / "missing", "does not exist")):
        monkeypatch.setenv("XDG_STATE_HOME", str(base))
        (warning,) = progress.record("lesson1", ran=True)
        assert problem in warning, warning
    assert snapshot(root_folder) == before and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("who", ["plain", "sudo"])
def test_a_home_that_does_not_exist_is_not_created(who, tmp_path, monkeypatch, request, capsys):
    gone = tmp_path / "gone"
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    if who == "sudo":
        if os.geteuid() != 0:
            pytest.skip("sudo is faked as root")
        user = request.getfixturevalue("learner")
        os.rmdir(user.pw_dir)
        gone = Path(user.pw_dir)
    else:
        monkeypatch.setenv("HOME", str(gone))
    (warning,) = progress.record("lesson1", ran=True)
    assert f"{gone} does not exist" in warning, warning
    assert not gone.exists()
    assert progress.load() == (progress.empty(), None), "nothing to read is no warning"
    assert main(["next"]) == 0 and main(["reset"]) == 0 and not gone.exists()


@as_root
def test_under_sudo_nobodys_missing_home_is_not_created(monkeypatch):
    """nobody's home is /nonexistent: the one real case of the above."""
    if pwd.getpwnam("nobody").pw_dir != "/nonexistent" or os.path.lexists("/nonexistent"):
        pytest.skip("needs nobody's home to be a missing /nonexistent")
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.delenv("XDG_STATE_HOME")
    (warning,) = progress.record("lesson1", ran=True)
    assert "/nonexistent does not exist" in warning and not os.path.lexists("/nonexistent")
