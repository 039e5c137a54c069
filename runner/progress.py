"""Which lessons a learner has run and which exercises they have passed: one small JSON file.

The file lives in the learner's state directory:
    $XDG_STATE_HOME/bcc-lessons/progress.json, or ~/.local/state/bcc-lessons/progress.json
Under sudo it is the invoking user's (SUDO_USER), not root's, and owned by them, so that
`sudo python3 -m runner check lesson1` and `python3 -m runner progress` see the same file.

It is written atomically (a temporary file renamed over the old one) with mode 0600. Deleting
it, or `python3 -m runner reset`, starts again. A file that cannot be read back (edited by hand,
cut short) is set aside as progress.json.broken with a warning, and progress starts afresh; a
directory that cannot be written costs one warning, never the command the learner ran.
"""

import contextlib
import datetime
import json
import os
import pwd
import sys
import tempfile
from pathlib import Path

from .errors import EnvironmentNotReady

VERSION = 1
APP = "bcc-lessons"


def sudo_user():
    """(pw entry) of the user who ran sudo, or None when not under sudo (or sudo'ed from root)."""
    name = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not name or name == "root":
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def state_dir():
    user = sudo_user()
    base = os.environ.get("XDG_STATE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / APP
    home = Path(user.pw_dir) if user else Path.home()
    return home / ".local" / "state" / APP


def state_path():
    return state_dir() / "progress.json"


def empty():
    return {"version": VERSION, "lessons": {}}


def _valid(state):
    return (isinstance(state, dict) and state.get("version") == VERSION and isinstance(state.get("lessons"), dict)
            and all(isinstance(v, dict) for v in state["lessons"].values()))


def load(path=None):
    """(state, warning): the saved progress, or an empty one with a sentence saying why it was reset."""
    path = Path(path or state_path())
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return empty(), None
    except OSError as err:
        return empty(), f"Could not read your progress file {path} ({err.strerror}); showing a fresh start."
    try:
        state = json.loads(text)
    except ValueError:
        state = None
    if _valid(state):
        return state, None
    broken = path.with_name(path.name + ".broken")
    try:
        os.replace(path, broken)
        kept = f"the unreadable file was kept as {broken}"
    except OSError:
        kept = "it could not be moved aside"
    return empty(), f"Your progress file {path} was unreadable, so progress starts again from a clean state ({kept})."


def _own(path):
    """Under sudo, give what we created back to the learner."""
    user = sudo_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _make_dirs(directory):
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)
        _own(d)


def save(state, path=None):
    """Write atomically with mode 0600; returns None, or one sentence when it could not."""
    path = Path(path or state_path())
    try:
        _make_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".progress-", suffix=".tmp")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            _own(tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as err:
        return (f"Could not save your progress in {path.parent} ({err.strerror or err}); "
                "set XDG_STATE_HOME to a directory you can write to keep it.")
    return None


def _now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def record(lesson_id, ran=False, attempt=False, passed=False, solution_seen=False):
    """Note what just happened to one lesson; returns a list of warning sentences (never raises)."""
    state, warning = load()
    entry = state["lessons"].setdefault(lesson_id, {})
    if attempt:
        entry["attempts"] = entry.get("attempts", 0) + 1
    for key, happened in (("ran", ran), ("passed", passed), ("solution_seen", solution_seen)):
        if happened:
            entry.setdefault(key, _now())  # when it first happened
    problem = save(state)
    return [w for w in (warning, problem) if w]


def reset():
    """Forget everything; raises EnvironmentNotReady with one sentence if the file cannot be removed."""
    path = state_path()
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as err:
        raise EnvironmentNotReady(f"Could not delete your progress file {path} ({err.strerror}).",
                                  fix=f"Delete it yourself: rm {path}")
    return True


def status(lessons, has_exercise, state):
    """One dict per lesson: id, title, ran, exercise ("passed", "not yet", or None), done."""
    rows = []
    for lesson in lessons:
        entry = state["lessons"].get(lesson.id, {})
        checked = bool(has_exercise(lesson))
        exercise = ("passed" if entry.get("passed") else "not yet") if checked else None
        done = exercise == "passed" if checked else bool(entry.get("ran"))
        rows.append({"lesson": lesson.id, "title": lesson.title, "ran": bool(entry.get("ran")),
                     "exercise": exercise, "attempts": entry.get("attempts", 0),
                     "solution_seen": bool(entry.get("solution_seen")), "done": done})
    return rows


def next_lesson(rows):
    return next((row for row in rows if not row["done"]), None)


def note_run(name):
    """After `python3 -m runner lessonN` ended well: remember it; a warning, never an error, if that fails."""
    from . import lessons
    try:
        lesson_id = lessons.find(name).id
    except Exception:
        return
    for warning in record(lesson_id, ran=True):
        print(f"warning: {warning}", file=sys.stderr)
