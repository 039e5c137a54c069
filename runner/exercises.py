"""An exercise's files: the learner's copy of the lesson, and the reference solution.

A lesson's `exercise/` folder holds the task (README.md), the check (check.py) and the
solution as a diff against the lesson's own files (solution.patch): nothing in it repeats
the lesson. `prepare()` copies the lesson's program and glue into that folder for the
learner to edit (under sudo, owned by the learner); those copies are the learner's, not
the repository's (.gitignore). `solution()` applies the patch to fresh copies with git
(or patch), so the solution is kept once and always matches the lesson it changes.
Nothing here imports bcc.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import lessons, progress
from .errors import EnvironmentNotReady, LessonFailed, UsageError
from .language import _, current

PATCH = "solution.patch"


def folder(lesson):
    return lesson.folder / "exercise"


def has_exercise(lesson):
    return (folder(lesson) / "check.py").is_file()


def require(name):
    lesson = lessons.find(name)
    if not has_exercise(lesson):
        have = ", ".join(l.id for l in lessons.load_all() if has_exercise(l)) or "none yet"
        raise UsageError(_("Lesson {number} has no exercise yet.").format(number=lesson.number),
                         fix=_("Lessons with an exercise: {lessons}. The lesson's README ends with things to try.")
                         .format(lessons=have))
    return lesson


def text(lesson):
    """The exercise's README in the runner's language: README.zh.md in Chinese, where it has one."""
    zh = folder(lesson) / "README.zh.md"
    return zh if current() == "zh" and zh.exists() else folder(lesson) / "README.md"


def task(lesson):
    """The exercise README's title, e.g. "Exercise 1: say who called clone()"."""
    path = text(lesson)
    try:
        first = path.read_text(encoding="utf-8").lstrip().splitlines()[0]
    except (OSError, IndexError):
        raise LessonFailed(_("The exercise's task {path} is missing or empty.").format(path=path),
                           fix=_("Restore it with: git checkout -- {path}").format(path=path)) from None
    return first.lstrip("# ").strip()


def copied(lesson):
    """The lesson's files the learner's copy holds: its program and its glue (which loads the program beside it)."""
    return [lesson.program_path.name, lesson.glue_path.name]


def learner_files(lesson, directory=None):
    """The files the learner is asked to change, in `directory` (default: the exercise folder)."""
    directory = Path(directory or folder(lesson))
    return [directory / name for name in lesson.exercise.edit]


def missing(lesson, directory=None):
    directory = Path(directory or folder(lesson))
    return [name for name in copied(lesson) if not (directory / name).is_file()]


def _write_owned(path, text):
    """Create or replace `path` with `text`, owned by the learner under sudo, and never through a link.

    Root writes in the learner's folder here: the text goes to a new file beside `path` (O_EXCL, O_NOFOLLOW, in
    the folder opened without following a link), which is renamed over it, so a symbolic or hard link planted at
    `path` is replaced, never written through or handed over.
    """
    path = Path(path)
    folder_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{path.name}-{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder_fd)
        try:
            with os.fdopen(fd, "w") as f:
                user = progress.sudo_user()
                if user is not None:
                    os.fchown(f.fileno(), user.pw_uid, user.pw_gid)
                f.write(text)
            os.rename(tmp, path.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder_fd)
            raise
    finally:
        os.close(folder_fd)


def prepare(lesson, restart=False):
    """Copy the lesson's files the learner has not got yet (all of them with restart); returns the names written.

    restart keeps the learner's previous files as <name>.previous beside the new copies.
    """
    target = folder(lesson)
    written = []
    for name in copied(lesson):
        path = target / name
        if path.is_symlink():
            raise UsageError(_("{path} is a symbolic link; the exercise copies only to plain files.").format(path=path),
                             fix=_("Remove the link ({path}), then run python3 -m runner exercise {lesson} again.")
                             .format(path=path, lesson=lesson.id))
        if path.exists() and not restart:
            continue
        try:
            if path.exists():
                _write_owned(path.with_name(name + ".previous"), path.read_text())
            _write_owned(path, (lesson.folder / name).read_text())
        except OSError as err:
            raise EnvironmentNotReady(_("Could not write your copy {path} ({reason}).").format(
                path=path, reason=err.strerror),
                                      fix=_("Make the exercise folder writable for you, or run with sudo.")) from None
        written.append(name)
    return written


def _apply(patch, directory):
    """Apply a unified diff inside `directory` with git apply, or patch where git is missing."""
    for argv in (["git", "apply", "--whitespace=nowarn", str(patch)],
                 ["patch", "-p1", "--quiet", "--no-backup-if-mismatch", "-i", str(patch)]):
        if shutil.which(argv[0]) is None:
            continue
        # GIT_DIR: a folder that is no repository, so git applies the diff as patch would, wherever /tmp is
        done = subprocess.run(argv, cwd=directory, capture_output=True, text=True,
                              env=dict(os.environ, GIT_DIR=str(directory / ".no-git")))
        if done.returncode != 0:
            raise LessonFailed(_("The solution {patch} no longer applies to the lesson's files.").format(patch=patch),
                               details=(done.stderr or done.stdout).strip(),
                               fix=_("The lesson changed after its solution was written: report it."))
        return
    raise EnvironmentNotReady(_("Showing the solution needs git or patch, and neither is installed."),
                              fix=_("sudo apt install git (or patch), then run this again."))


def solution(lesson, into=None):
    """The reference solution as files: {name: text} of the files it changes (written to `into` if given)."""
    patch = folder(lesson) / PATCH
    if not patch.is_file():
        raise LessonFailed(_("Lesson {number}'s exercise has no {patch}.").format(number=lesson.number, patch=PATCH),
                           fix=_("Restore it with: git checkout -- {path}").format(path=patch))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in copied(lesson):
            shutil.copyfile(lesson.folder / name, tmp / name)
        _apply(patch.resolve(), tmp)
        changed = {name: (tmp / name).read_text() for name in copied(lesson)
                   if (tmp / name).read_text() != (lesson.folder / name).read_text()}
        if into is not None:
            for name in copied(lesson):
                _write_owned(Path(into) / name, (tmp / name).read_text())
    return changed
