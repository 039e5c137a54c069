"""The learner's commands around exercises: exercise, check, watch, hint, solution, progress, next, reset.

Only `check` and `watch` import the BPF side (runner/verify.py); the others work without root and bcc.
"""

import difflib
import json
import sys
from pathlib import Path

from . import exercises, lessons, progress
from .errors import LessonFailed, UsageError


def _warn(sentences):
    for sentence in sentences:
        print(f"warning: {sentence}", file=sys.stderr)


def shown(path):
    try:
        return Path(path).resolve().relative_to(lessons.ROOT)
    except ValueError:
        return Path(path)


def _prepared(lesson, restart=False):
    """Make the learner's copy where it is missing, and say so."""
    written = exercises.prepare(lesson, restart=restart)
    if written:
        where = shown(exercises.folder(lesson))
        print(f"Copied the lesson's {', '.join(written)} into {where}/: your copy to edit"
              + (" (your previous files are kept as *.previous)." if restart else "."))
    return written


def cmd_exercise(args):
    lesson = exercises.require(args.lesson)
    _prepared(lesson, restart=args.restart)
    files = ", ".join(str(shown(p)) for p in exercises.learner_files(lesson))
    print(f"{exercises.task(lesson)}: the task is in {shown(exercises.text(lesson))}.")
    print(f"  edit:     {files}")
    print(f"  check it: sudo python3 -m runner check {lesson.id}   (or watch {lesson.id} to re-check on save)")
    return 0


def _title(lesson):
    """The exercise's title for check's first line, and a warning where its task README cannot give it: the check
    itself needs only the learner's files and check.py, so a missing task costs its title, not the check's results."""
    try:
        return exercises.task(lesson), []
    except LessonFailed as err:
        return None, [f"{str(err)[0].lower()}{str(err)[1:].rstrip('.')}, so the check ran without its title; "
                      f"{err.fix[0].lower()}{err.fix[1:]}"]


def cmd_check(args):
    from . import verify
    lesson = exercises.require(args.lesson)
    if args.dir:
        directory = Path(args.dir)
    else:
        directory = exercises.folder(lesson)
        if not args.json:
            _prepared(lesson)
        else:
            exercises.prepare(lesson)
    results, summary = verify.run(lesson, directory)
    passed = bool(results) and all(r.passed for r in results)
    warnings = progress.record(lesson.id, attempt=True, passed=passed)
    if args.json:
        print(json.dumps({"lesson": lesson.id, "exercise": str(directory), "passed": passed,
                          "results": [r.to_json() for r in results], "summary": summary}))
        _warn(warnings)
        return 0 if passed else 1
    files = ", ".join(str(shown(p)) for p in exercises.learner_files(lesson, directory))
    title, missing = _title(lesson)
    warnings = missing + warnings
    print(f"Checking {lesson.id}'s exercise{f' ({title})' if title else ''}: {files}")
    for r in results:
        print(f"  {'ok  ' if r.passed else 'FAIL'}  {r.message}")
        if r.details:
            print("\n".join("        " + line for line in r.details.rstrip().splitlines()))
        if r.fix and not r.passed:
            print(f"        fix: {r.fix}")
    failed = sum(not r.passed for r in results)
    if passed:
        print(f"\nPassed: the exercise of {lesson.id} is done. What comes next: python3 -m runner next")
    else:
        print(f"\nNot yet: {failed} of {len(results)} checks failed. Stuck? python3 -m runner hint {lesson.id}")
    _warn(warnings)
    return 0 if passed else 1


def cmd_watch(args):
    from . import watch
    lesson = exercises.require(args.lesson)
    directory = Path(args.dir) if args.dir else exercises.folder(lesson)
    if not args.dir:
        _prepared(lesson)
    argv = [sys.executable, "-m", "runner", "check", lesson.id]
    if args.dir:
        argv += ["--dir", str(directory.resolve())]
    return watch.watch(exercises.learner_files(lesson, directory), argv, cwd=lessons.ROOT, interval=args.interval)


def cmd_hint(args):
    lesson = lessons.find(args.lesson)
    if not lesson.hint:
        raise UsageError(f"Lesson {lesson.number} has no hint.", fix=f"Read its README: python3 -m runner show {lesson.id}")
    if exercises.has_exercise(lesson):
        print(f"{exercises.task(lesson)} ({shown(exercises.text(lesson))})\n")
    print(f"Hint: {lesson.hint}")
    if not exercises.has_exercise(lesson):
        print(f"\n(Lesson {lesson.number} has no checked exercise yet; its README ends with things to try.)")
    return 0


def cmd_solution(args):
    lesson = exercises.require(args.lesson)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("Showing the solution needs your confirmation, and there is no terminal to ask on.",
                             fix=f"Run python3 -m runner solution {lesson.id} --yes")
        answer = input(f"Show the reference solution of {lesson.id}'s exercise? Trying a little longer "
                       "teaches more; python3 -m runner hint helps. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing shown.")
            return 0
    mine_dir = exercises.folder(lesson)
    for name, text in exercises.solution(lesson).items():
        mine = mine_dir / name
        base = mine if mine.is_file() else lesson.folder / name
        whose = f"your {shown(mine)}" if mine.is_file() else f"the lesson's {name}"
        diff = "\n".join(difflib.unified_diff(base.read_text().splitlines(), text.splitlines(),
                                              f"{whose}", f"solution {name}", lineterm=""))
        print(f"\nFrom {whose} to the solution:\n{diff}\n" if diff else f"\n{whose[0].upper() + whose[1:]} is the same as "
              "the solution.\n")
    if args.write:
        for name in exercises.copied(lesson):
            if (mine_dir / name).is_file():
                (mine_dir / name).replace(mine_dir / (name + ".previous"))
        exercises.solution(lesson, into=mine_dir)
        print(f"The solution's files are now in {shown(mine_dir)}/ (yours are kept as *.previous).")
    else:
        print(f"The solution is {shown(mine_dir / exercises.PATCH)}, a diff against the lesson's files; "
              f"python3 -m runner solution {lesson.id} --write puts its files in {shown(mine_dir)}/ "
              "(keeping yours as *.previous).")
    _warn(progress.record(lesson.id, solution_seen=True))
    return 0


def _rows():
    state, warning = progress.load()
    _warn([warning] if warning else [])
    return progress.status(lessons.load_all(), exercises.has_exercise, state)


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
          "(python3 -m runner reset forgets it).")
    return 0


def cmd_next(args):
    row = progress.next_lesson(_rows())
    if row is None:
        print("Every lesson is done. python3 -m runner progress shows them all.")
        return 0
    lesson = lessons.find(row["lesson"])
    print(f"Next: {lesson.id}, {lesson.title}.")
    if not row["ran"]:
        print(f"  read it:  python3 -m runner show {lesson.id}   ({shown(lesson.text_path)})")
        print(f"  run it:   sudo python3 -m runner {lesson.id}")
    if exercises.has_exercise(lesson):
        print(f"  then the exercise: {exercises.task(lesson)} ({shown(exercises.text(lesson))})")
        print(f"  start it: python3 -m runner exercise {lesson.id}   (copies the lesson's files for you to edit)")
        print(f"  check it: sudo python3 -m runner check {lesson.id}   (or watch {lesson.id} to re-check on save)")
    return 0


def cmd_reset(args):
    removed = progress.reset()
    path = progress.state_path()
    print(f"Progress forgotten ({path} deleted)." if removed else f"There was no progress to forget ({path}).")
    return 0


HANDLERS = {"exercise": cmd_exercise, "check": cmd_check, "hint": cmd_hint, "solution": cmd_solution,
            "progress": cmd_progress, "next": cmd_next, "reset": cmd_reset, "watch": cmd_watch}
