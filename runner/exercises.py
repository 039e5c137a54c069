"""Exercises: check the learner's program against the real kernel, give a hint, show the solution.

A lesson has an exercise when its folder holds `exercise/` (see lessons/lessons.toml):
    exercise/README.md        the task
    exercise/<name>.c, .py    the learner's copy of the lesson's files, which they edit
    exercise/check.py         check(events, summary) -> [(passed, sentence), ...]: the expected behaviour
    exercise/.solution/       the reference solution: the files that differ from the starting ones

`check` runs the learner's files through the same session as `python -m runner lessonN` (load
with captured compiler output, the lesson's event source, its workload, cleanup), collects the
events and the summary instead of printing them, and hands them to check.py. Nothing here
imports bcc: `hint`, `solution`, `progress` and `next` work without root.
"""

import argparse
import dataclasses
import difflib
import importlib.util
import json
import sys
import traceback
from pathlib import Path

from . import lessons, progress, render
from .errors import LessonFailed, RunnerError, UsageError

HIDDEN = ".solution"
NOT_LEARNERS = {"README.md", "check.py"}


@dataclasses.dataclass
class Exercise:
    lesson: lessons.Lesson
    edit: list            # the files the learner changes (watch re-checks when they are saved)
    workload: dict        # what runs during the check (default: the lesson's own workload)
    duration: float = None
    interval: float = 1.0

    @property
    def folder(self):
        return self.lesson.folder / "exercise"

    @property
    def readme_path(self):
        return self.folder / "README.md"

    @property
    def checker_path(self):
        return self.folder / "check.py"

    @property
    def solution_dir(self):
        return self.folder / HIDDEN

    def task(self):
        """The README's title, e.g. "Exercise 1: say who called clone()"."""
        first = self.readme_path.read_text().lstrip().splitlines()[0]
        return first.lstrip("# ").strip()

    def learner_files(self, directory=None):
        """The files the learner may change, in `directory` (default: the exercise folder)."""
        directory = Path(directory or self.folder)
        return [directory / name for name in self.edit]

    def solution_files(self):
        return sorted(p for p in self.solution_dir.iterdir() if p.is_file())


def of(lesson):
    """The lesson's Exercise, or None when its folder has no exercise/."""
    folder = lesson.folder / "exercise"
    if not (folder / "check.py").is_file():
        return None
    meta = lesson.extra.get("exercise", {})
    return Exercise(lesson=lesson, edit=list(meta.get("edit", [lesson.program_path.name])),
                    workload=dict(meta.get("workload", lesson.workload)), duration=meta.get("duration"),
                    interval=meta.get("interval", 1.0))


def all_exercises():
    return [e for e in map(of, lessons.load_all()) if e is not None]


def require(name):
    lesson = lessons.find(name)
    exercise = of(lesson)
    if exercise is None:
        have = ", ".join(e.lesson.id for e in all_exercises()) or "none yet"
        raise UsageError(f"Lesson {lesson.number} has no exercise yet.",
                         fix=f"Lessons with an exercise: {have}. The lesson's README ends with things to try.")
    return exercise


# -- running the learner's program ---------------------------------------------------------


class _InFolder(lessons.Lesson):
    """The lesson, with its files read from another folder (the learner's exercise copy)."""

    directory = None

    @property
    def folder(self):
        return self.directory

    def import_glue(self):
        try:
            return super().import_glue()
        except SyntaxError as err:
            raise LessonFailed(f"Your Python file {err.filename}:{err.lineno} has a syntax error: {err.msg}.",
                               details=(err.text or "").rstrip(), fix="Fix that line, then check again.")
        except FileNotFoundError as err:
            raise UsageError(f"The exercise folder {self.directory} lacks {Path(err.filename).name}.",
                             fix="Copy it back from the lesson's exercise folder (git checkout -- lessons/).")
        except Exception as err:
            raise LessonFailed(f"Your Python file failed as it was imported: {where(err, self.directory)}.",
                               fix="Fix the line named, then check again.")


def where(err, directory):
    """`Type: message (file:line)`, naming the deepest frame in the learner's folder."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).parent == Path(directory)]
    place = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {err}{place}"


class _Collect(render.Output):
    """A session's output, kept instead of printed: the events, the summary and the notes."""

    def __init__(self):
        super().__init__(json_mode=False, quiet=True, stream=sys.stderr)
        self.events, self.summary_, self.notes = [], None, []

    def say(self, text=""):
        pass

    def ready(self, text):
        pass

    def note(self, text):
        self.notes.append(text)

    def header(self, columns):
        pass

    def interval(self, number, columns, empty=False):
        pass

    def event(self, record, columns):
        self.events.append(record)

    def summary(self, summary):
        self.summary_ = summary


@dataclasses.dataclass
class Result:
    passed: bool
    message: str
    details: str = ""
    fix: str = ""

    def to_json(self):
        return {k: v for k, v in dataclasses.asdict(self).items() if v or k == "passed"}


def load_checker(exercise):
    spec = importlib.util.spec_from_file_location(f"check_{exercise.lesson.name}", exercise.checker_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(exercise, directory=None):
    """Run the learner's files in `directory` (default: the exercise folder); returns (results, summary)."""
    from . import session  # imports the BPF side only when a check actually runs
    directory = Path(directory or exercise.folder).resolve()
    lesson = _InFolder(**{f.name: getattr(exercise.lesson, f.name) for f in dataclasses.fields(exercise.lesson)})
    lesson.directory = directory
    # a check judges the rows; the learner's histogram() may return another shape than the lesson's
    lesson.extra = {k: v for k, v in lesson.extra.items() if k != "histogram"}
    lesson.workload = exercise.workload
    opts = argparse.Namespace(duration=exercise.duration, events=None, no_workload=False, no_code=True, pages=8,
                              interval=exercise.interval, json=False, quiet=True, pid=None, probe=None)
    out = _Collect()
    try:
        session.run(lesson, opts, out)
    except LessonFailed as err:  # compile error, verifier rejection, attach failure, the learner's Python
        return [Result(False, str(err), err.details or "", err.fix or "")], out.summary_
    except RunnerError as err:
        if err.code != LessonFailed.code:
            raise  # not root, bcc missing, a file missing: not the program's fault (exit 2 or 3)
        return [Result(False, str(err), err.details or "", err.fix or "")], out.summary_
    except Exception as err:
        return [Result(False, f"Your program failed while it ran: {where(err, directory)}.",
                       fix="Fix the line named, then check again.")], out.summary_
    summary = out.summary_
    probes = ", ".join(f"{p['mechanism']} {p['target']}" for p in summary["probes"])
    results = [Result(True, f"Your program compiled, passed the verifier and was attached ({probes}).")]
    work = summary.get("workload")
    if not work or not work.get("ops"):
        results.append(Result(False, "The workload did not report what it did, so there is nothing to judge.",
                              fix="Check again; if it keeps failing, run python -m runner doctor."))
        return results, summary
    try:
        judged = list(load_checker(exercise).check(out.events, summary))
    except Exception as err:
        results.append(Result(False, f"The exercise's checker failed on your program's events ({type(err).__name__}: "
                                     f"{err}).", fix="Your events may lack a field the lesson's record() gives; "
                                                     "if your files follow the task, report this."))
        return results, summary
    results += [Result(bool(ok), sentence) for ok, sentence in judged]
    return results, summary


# -- the commands ----------------------------------------------------------------------------


def _warn(sentences):
    for sentence in sentences:
        print(f"warning: {sentence}", file=sys.stderr)


def shown(path):
    try:
        return Path(path).resolve().relative_to(lessons.ROOT)
    except ValueError:
        return Path(path)


def cmd_check(args):
    exercise = require(args.lesson)
    directory = Path(args.dir) if args.dir else exercise.folder
    results, summary = run(exercise, directory)
    passed = bool(results) and all(r.passed for r in results)
    warnings = progress.record(exercise.lesson.id, attempt=True, passed=passed)
    if args.json:
        print(json.dumps({"lesson": exercise.lesson.id, "exercise": str(directory), "passed": passed,
                          "results": [r.to_json() for r in results], "summary": summary}))
        _warn(warnings)
        return 0 if passed else 1
    files = ", ".join(str(shown(p)) for p in exercise.learner_files(directory))
    print(f"Checking {exercise.lesson.id}'s exercise ({exercise.task()}): {files}")
    for r in results:
        print(f"  {'ok  ' if r.passed else 'FAIL'}  {r.message}")
        if r.details:
            print("\n".join("        " + line for line in r.details.rstrip().splitlines()))
        if r.fix and not r.passed:
            print(f"        fix: {r.fix}")
    failed = sum(not r.passed for r in results)
    if passed:
        print(f"\nPassed: the exercise of {exercise.lesson.id} is done. What comes next: python -m runner next")
    else:
        print(f"\nNot yet: {failed} of {len(results)} checks failed. Stuck? python -m runner hint {exercise.lesson.id}")
    _warn(warnings)
    return 0 if passed else 1


def cmd_hint(args):
    lesson = lessons.find(args.lesson)
    exercise = of(lesson)
    if not lesson.hint:
        raise UsageError(f"Lesson {lesson.number} has no hint.", fix=f"Read its README: python -m runner show {lesson.id}")
    if exercise is not None:
        print(f"{exercise.task()} ({shown(exercise.readme_path)})\n")
    print(f"Hint: {lesson.hint}")
    if exercise is None:
        print(f"\n(Lesson {lesson.number} has no checked exercise yet; its README ends with things to try.)")
    return 0


def cmd_solution(args):
    exercise = require(args.lesson)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("Showing the solution needs your confirmation, and there is no terminal to ask on.",
                             fix=f"Run python -m runner solution {exercise.lesson.id} --yes")
        answer = input(f"Show the reference solution of {exercise.lesson.id}'s exercise? Trying a little longer "
                       "teaches more; python -m runner hint helps. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing shown.")
            return 0
    out = render.Output()
    for path in exercise.solution_files():
        out.code(path)
        mine = exercise.folder / path.name
        if mine.is_file():
            diff = difflib.unified_diff(mine.read_text().splitlines(), path.read_text().splitlines(),
                                        f"your {path.name}", f"solution {path.name}", lineterm="")
            text = "\n".join(diff)
            print(f"\nFrom your {shown(mine)} to the solution:\n{text}\n" if text
                  else f"\nYour {shown(mine)} is the same as the solution.\n")
    print(f"The solution's files are in {shown(exercise.solution_dir)}/; copy them over yours to use them.")
    _warn(progress.record(exercise.lesson.id, solution_seen=True))
    return 0


def _rows():
    state, warning = progress.load()
    _warn([warning] if warning else [])
    return progress.status(lessons.load_all(), of, state)


def cmd_progress(args):
    rows = _rows()
    if args.json:
        print(json.dumps({"state_file": str(progress.state_path()), "lessons": rows}, indent=2))
        return 0
    for row in rows:
        exercise = {"passed": "exercise passed", "not yet": "exercise not passed yet", None: "no exercise yet"}
        extra = " (solution seen)" if row["solution_seen"] else ""
        mark = "[x]" if row["done"] else "[ ]"
        print(f"{mark} {row['lesson']:<9} {row['title']:<46} {'ran' if row['ran'] else 'not run':<8} "
              f"{exercise[row['exercise']]}{extra}")
    done = sum(row["done"] for row in rows)
    print(f"\n{done} of {len(rows)} lessons done. Saved in {progress.state_path()} "
          "(python -m runner reset forgets it).")
    return 0


def cmd_next(args):
    row = progress.next_lesson(_rows())
    if row is None:
        print("Every lesson is done. python -m runner progress shows them all.")
        return 0
    lesson = lessons.find(row["lesson"])
    exercise = of(lesson)
    print(f"Next: {lesson.id}, {lesson.title}.")
    if not row["ran"]:
        print(f"  read it:  python -m runner show {lesson.id}   ({shown(lesson.readme_path)})")
        print(f"  run it:   sudo python -m runner {lesson.id}")
    if exercise is not None:
        print(f"  then the exercise: {exercise.task()} ({shown(exercise.readme_path)})")
        print(f"  check it: sudo python -m runner check {lesson.id}   (or watch {lesson.id} to re-check on save)")
    return 0


def cmd_reset(args):
    removed = progress.reset()
    path = progress.state_path()
    print(f"Progress forgotten ({path} deleted)." if removed else f"There was no progress to forget ({path}).")
    return 0


def cmd_watch(args):
    from . import watch
    exercise = require(args.lesson)
    directory = Path(args.dir) if args.dir else exercise.folder
    argv = [sys.executable, "-m", "runner", "check", exercise.lesson.id]
    if args.dir:
        argv += ["--dir", str(directory.resolve())]
    return watch.watch(exercise.learner_files(directory), argv, cwd=lessons.ROOT, interval=args.interval)


# -- the command line ----------------------------------------------------------------------------

HANDLERS = {"check": cmd_check, "hint": cmd_hint, "solution": cmd_solution, "progress": cmd_progress,
            "next": cmd_next, "reset": cmd_reset, "watch": cmd_watch}
