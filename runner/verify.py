"""Is the learner's exercise done? Their files, run through the run engine against the real kernel, judged by check.py.

The learner's folder (the exercise folder, or --dir) holds their copy of the lesson's program
and glue. The check is an ordinary session.Run with the exercise's workload, whose events and
summary are collected instead of printed and handed to the exercise's check(events, summary),
which returns [(passed, sentence), ...].
"""

import functools
import importlib.util
import traceback
from pathlib import Path

from . import doctor, exercises, session, signals
from .errors import LessonFailed, RunnerError, Terminated, UsageError
from .fields import Fields
from .language import _


class Result(Fields):
    passed: bool
    message: str
    details: str = ""
    fix: str = ""

    def to_json(self):
        return {k: v for k, v in self.asdict().items() if v or k == "passed"}


FAILED = object()  # the key of a record that stands for what the learner's record() raised instead of returning


class Collect(session.Sink):
    """A check's sink: the events and the notes, kept. A record standing for the learner's record() failing (see
    guard_record()) raises that failure here, in Python, where the check can say it."""

    def __init__(self):
        self.events, self.notes = [], []

    def note(self, text):
        self.notes.append(text)

    def event(self, record):
        if isinstance(record, dict) and FAILED in record:
            raise record[FAILED]
        self.events.append(record)


def guard_record(glue):
    """The learner's record(), made to return what it raises (SystemExit too) as a record of its own.

    A perf buffer's events reach record() from BCC's C code (a ctypes callback), where an exception raised is printed,
    with its traceback, and dropped: the check would go on without the events, and a sys.exit() would be lost.
    """
    record = getattr(glue, "record", None)
    if record is None:
        return

    @functools.wraps(record)
    def guarded(*args, **kwargs):
        try:
            return record(*args, **kwargs)
        except (KeyboardInterrupt, Terminated):
            raise
        except BaseException as err:
            return {FAILED: err}
    glue.record = guarded


def _learners_frame(err, directory):
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).parent == Path(directory)]
    return frames[-1] if frames else None


def where(err, directory):
    """`Type: message (file:line)`, naming the deepest frame in the learner's folder."""
    frame = _learners_frame(err, directory)
    place = f" ({frame.filename}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {err}{place}"


def exited(err, directory):
    """A learner's sys.exit(N) as a LessonFailed: the call, in which of their functions (or at import), and where."""
    frame = _learners_frame(err, directory)
    call = "sys.exit()" if err.code is None else f"sys.exit({err.code!r})"
    if frame is None:
        when = _("while the check ran")
        fix = _("Take the sys.exit() out of your files (raise an exception to stop on a problem), then check again.")
    elif frame.name == "<module>":
        when = _("as it was imported")
        fix = _("Keep what runs when the file is imported to definitions; main() runs only alone.")
    else:
        when = _("in {function}()").format(function=frame.name)
        fix = _("The check calls your {function}() and needs it to return: take the sys.exit() out (raise an "
                "exception to stop on a problem), then check again.").format(function=frame.name)
    place = f" ({frame.filename}:{frame.lineno})" if frame else ""
    return LessonFailed(_("Your Python file called {call} {when}{place}.").format(call=call, when=when, place=place),
                        fix=fix)


def load_checker(lesson):
    path = exercises.folder(lesson) / "check.py"
    spec = importlib.util.spec_from_file_location(f"check_{lesson.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_learners(engine, directory):
    """engine.load(), with the learner's own Python errors said as theirs."""
    try:
        engine.load()
    except SyntaxError as err:
        raise LessonFailed(_("Your Python file {file}:{line} has a syntax error: {error}.").format(
            file=err.filename, line=err.lineno, error=err.msg),
                           details=(err.text or "").rstrip(), fix=_("Fix that line, then check again.")) from None
    except (RunnerError, KeyboardInterrupt, Terminated):
        raise
    except SystemExit as err:  # at import, or in load() (which runs in a thread of its own: handed back as it was)
        raise exited(err, directory) from None
    except Exception as err:
        raise LessonFailed(_("Your Python file failed as it was imported: {error}.").format(error=where(err, directory)),
                           fix=_("Fix the line named, then check again.")) from None


def run(lesson, directory=None):
    """Run the learner's files in `directory` (default: the exercise folder); returns (results, summary).

    An interrupted check (Ctrl-C, SIGTERM, SIGHUP) is no result: KeyboardInterrupt or Terminated propagates.
    """
    directory = Path(directory or exercises.folder(lesson)).resolve()
    absent = exercises.missing(lesson, directory)
    if absent:
        raise UsageError(_("The exercise folder {folder} lacks {files}.").format(folder=directory,
                                                                                 files=", ".join(absent)),
                         fix=_("Make your copy of the lesson's files there: python3 -m runner exercise {lesson}")
                         .format(lesson=lesson.id))
    doctor.require_basics()
    meta = lesson.exercise
    options = session.RunOptions(duration=meta.duration, workload_params=meta.workload, interval=meta.interval,
                                 glue_folder=directory, show_code=False, histogram=False, ctrl_c_ends_trace=False,
                                 interruptible_load=True, workload_early=not meta.traces_workload_start)
    sink = Collect()
    engine = session.Run(lesson, options, sink)
    with signals.terminated_by_signals():
        try:
            _load_learners(engine, directory)
            guard_record(engine.glue)
            summary = engine.trace()
        except LessonFailed as err:  # compile error, verifier rejection, attach failure, the learner's Python
            return [Result(False, str(err), err.details or "", err.fix or "")], engine.summary
        except (RunnerError, KeyboardInterrupt, Terminated):
            raise  # not root, bcc missing, a file missing, or interrupted: not the program's fault
        except SystemExit as err:  # the learner's record() or snapshot() called sys.exit(): theirs, not the check's
            failed = exited(err, directory)
            return [Result(False, str(failed), fix=failed.fix)], engine.summary
        except Exception as err:
            return [Result(False, _("Your program failed while it ran: {error}.").format(error=where(err, directory)),
                           fix=_("Fix the line named, then check again."))], engine.summary
        finally:
            engine.close()
    results = [Result(True, _("Your program compiled, passed the verifier and was attached ({probes}).").format(
        probes=engine.describe_probes()))]
    work = summary.get("workload")
    if not work or not work.get("ops"):
        results.append(Result(False, _("The workload did not report what it did, so there is nothing to judge."),
                              fix=_("Check again; if it keeps failing, run python3 -m runner doctor.")))
        return results, summary
    try:
        judged = list(load_checker(lesson).check(sink.events, summary))
    except Exception as err:
        results.append(Result(False, _("The exercise's checker failed on your program's events ({error}).").format(
            error=f"{type(err).__name__}: {err}"), fix=_("Your events may lack a field the lesson's record() gives; "
                                                         "if your files follow the task, report this.")))
        return results, summary
    results += [Result(bool(ok), sentence) for ok, sentence in judged]
    return results, summary
