"""Which lessons a learner has run and which exercises they have passed: one small JSON file.

The file lives in the learner's state directory:
    $XDG_STATE_HOME/bcc-lessons/progress.json, or ~/.local/state/bcc-lessons/progress.json
Under sudo it is the invoking user's (SUDO_USER), not root's, and owned by them, so that
`sudo python3 -m runner check lesson1` and `python3 -m runner progress` see the same file.

It is written atomically (a temporary file renamed over the old one) with mode 0600. Deleting
it, or `python3 -m runner reset`, starts again. A file that cannot be read back (edited by hand,
cut short) is set aside as progress.json.broken with a warning, and progress starts afresh; a
directory that cannot be written costs one warning, never the command the learner ran.

Under sudo root writes in the learner's folders, so it never follows a link there: a state folder (or
one on the way from the home) that is a symbolic link, or someone else's, costs one warning and is left
alone. A home that does not exist (HOME=/nonexistent) is not created, nor, under sudo, XDG_STATE_HOME.
"""

import contextlib
import datetime
import json
import os
import pwd
import stat
import sys
from pathlib import Path

from .errors import EnvironmentNotReady
from .language import _

VERSION = 1
APP = "bcc-lessons"
FILE = "progress.json"


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
    return state_dir() / FILE


def empty():
    return {"version": VERSION, "lessons": {}}


def _valid(state):
    return (isinstance(state, dict) and state.get("version") == VERSION and isinstance(state.get("lessons"), dict)
            and all(isinstance(v, dict) for v in state["lessons"].values()))


class _Refused(Exception):
    """A state folder we will not use; str() is the sentence for the learner."""


def _start(user):
    """(folder, names below it, who may own that folder): the walk starts in a folder it never creates."""
    base = os.environ.get("XDG_STATE_HOME")
    if base and Path(base).is_absolute():
        if user is None:  # the learner's own choice, made like mkdir -p as XDG asks
            return Path("/"), Path(base).parts[1:] + (APP,), None
        return Path(base), (APP,), (user.pw_uid,)  # named by the learner, it may be a link to anywhere: theirs only
    if user is None:
        return Path.home(), (".local", "state", APP), None
    return Path(user.pw_dir), (".local", "state", APP), (user.pw_uid, 0)


def _vet(fd, folder, owners):
    uid = os.fstat(fd).st_uid
    if owners and uid not in owners:
        raise _Refused(_("Your progress is not kept under sudo: {folder} belongs to another user (uid {uid}); "
                         "remove it, or set XDG_STATE_HOME to a folder of yours.").format(folder=folder, uid=uid))


def _open_below(parent, name, folder, user, create):
    """Open (or make) the folder `name` in `parent`; under sudo never through a link, and the learner's or root's."""
    made = False
    try:
        link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        if not create:
            return None
        os.mkdir(name, 0o700, dir_fd=parent)
        made, link = True, False
    if user and link:
        raise _Refused(_("Your progress is not kept under sudo: {folder} is a symbolic link; "
                         "remove it, or set XDG_STATE_HOME to a folder of yours.").format(folder=folder))
    # O_NOFOLLOW: the learner may have put a link here since the look above (or since our mkdir).
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | (os.O_NOFOLLOW if user else 0), dir_fd=parent)
    try:
        if made:  # the learner's, 0700 whatever the umask
            if user:
                os.fchown(fd, user.pw_uid, user.pw_gid)
            os.fchmod(fd, 0o700)
        _vet(fd, folder, (user.pw_uid, 0) if user else None)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _state_folder(create):
    """A descriptor on the state folder, or None when it is not there (and create is false).

    Under sudo, root works in folders the learner owns, and the learner can swap any of them (or the temporary file)
    for a symbolic link between two of root's steps, a look and a chown or a write. So each folder is opened below
    the one before by descriptor, without following links, and every later step goes through the descriptor, never
    a path: what was checked is what gets written.
    """
    user = sudo_user()
    folder, below, owners = _start(user)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:  # a home that is not there (HOME=/nonexistent) is not made, by root least of all
        if create:
            raise _Refused(_("Your progress is not kept: {folder} does not exist; set XDG_STATE_HOME to a folder "
                             "you can write.").format(folder=folder)) from None
        fd = None
    try:
        if fd is not None:
            _vet(fd, folder, owners)
        for name in below:
            if fd is None:
                break
            folder = folder / name
            parent, fd = fd, _open_below(fd, name, folder, user, create)
            os.close(parent)
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def load():
    """(state, warning): the saved progress, or an empty one with a sentence saying why it was reset."""
    path = state_path()
    try:
        with _state_folder(create=False) as dir_fd:
            if dir_fd is None:
                return empty(), None
            nofollow = os.O_NOFOLLOW if sudo_user() else 0  # root does not read through the learner's link
            with open(FILE, "rb", opener=lambda name, flags: os.open(name, flags | nofollow, dir_fd=dir_fd)) as f:
                text = f.read()
            try:
                state = json.loads(text)
            except ValueError:
                state = None
            if _valid(state):
                return state, None
            try:
                os.replace(FILE, FILE + ".broken", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                kept = _("the unreadable file was kept as {path}.broken").format(path=path)
            except OSError:
                kept = _("it could not be moved aside")
    except _Refused as refused:
        return empty(), str(refused)
    except (FileNotFoundError, NotADirectoryError):
        return empty(), None
    except OSError as err:
        return empty(), _("Could not read your progress file {path} ({error}); showing a fresh start.").format(
            path=path, error=err.strerror)
    # TRANSLATORS: {kept} is one of "the unreadable file was kept as ....broken" or "it could not be moved aside"
    return empty(), _("Your progress file {path} was unreadable, so progress starts again from a clean state "
                      "({kept}).").format(path=path, kept=kept)


def save(state):
    """Write atomically with mode 0600; returns None, or one sentence when it could not."""
    user = sudo_user()
    try:
        with _state_folder(create=True) as dir_fd:
            # A fresh name, created here and never through a link, and given to the learner by its descriptor: a path
            # could point elsewhere by the time root chowns it.
            tmp = f".progress-{os.urandom(8).hex()}.tmp"
            try:
                with open(tmp, "x", opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW, 0o600,
                                                                       dir_fd=dir_fd)) as f:
                    if user is not None:
                        os.fchown(f.fileno(), user.pw_uid, user.pw_gid)
                    os.fchmod(f.fileno(), 0o600)
                    json.dump(state, f, indent=2, sort_keys=True)
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
    except _Refused as refused:
        return str(refused)
    except OSError as err:
        return _("Could not save your progress in {folder} ({error}); "
                 "set XDG_STATE_HOME to a directory you can write to keep it.").format(folder=state_dir(),
                                                                                      error=err.strerror or err)
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
    return [w for w in dict.fromkeys((warning, problem)) if w]  # a refused folder is one warning, not two


def reset():
    """Forget everything; raises EnvironmentNotReady with one sentence if the file cannot be removed."""
    path = state_path()
    try:
        with _state_folder(create=False) as dir_fd:
            if dir_fd is None:
                return False
            os.unlink(FILE, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except _Refused as refused:
        raise EnvironmentNotReady(str(refused), fix=_("Reset without sudo: python3 -m runner reset")) from None
    except OSError as err:
        raise EnvironmentNotReady(_("Could not delete your progress file {path} ({error}).").format(
            path=path, error=err.strerror), fix=_("Delete it yourself: rm {path}").format(path=path))
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
        print(_("warning: {sentence}").format(sentence=warning), file=sys.stderr)
