"""The learner's commands around exercises: exercise, check, watch, hint, solution, progress, next, reset.

Only `check` and `watch` import the BPF side (runner/verify.py); the others work without root and bcc.
"""

import difflib
import json
import sys
from pathlib import Path

from . import exercises, lessons, progress, render
from .errors import LessonFailed, UsageError
from .language import _


def _warn(sentences):
    for sentence in sentences:
        print(_("warning: {sentence}").format(sentence=sentence), file=sys.stderr)


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
        print((_("Copied the lesson's {files} into {folder}/: your copy to edit (your previous files are kept as "
                 "*.previous).") if restart else _("Copied the lesson's {files} into {folder}/: your copy to edit."))
              .format(files=", ".join(written), folder=where))
    return written


def cmd_exercise(args):
    lesson = exercises.require(args.lesson)
    _prepared(lesson, restart=args.restart)
    files = ", ".join(str(shown(p)) for p in exercises.learner_files(lesson))
    print(_("{task}: the task is in {path}.").format(task=exercises.task(lesson), path=shown(exercises.text(lesson))))
    print(_("  edit:     {files}").format(files=files))
    print(_("  check it: sudo python3 -m runner check {lesson}   (or watch {lesson} to re-check on save)").format(
        lesson=lesson.id))
    return 0


def _title(lesson):
    """The exercise's title for check's first line, and a warning where its task README cannot give it: the check
    itself needs only the learner's files and check.py, so a missing task costs its title, not the check's results."""
    try:
        return exercises.task(lesson), []
    except LessonFailed as err:
        error, fix = str(err).rstrip("."), err.fix
        return None, [_("{error}, so the check ran without its title; {fix}").format(
            error=error[:1].lower() + error[1:], fix=fix[:1].lower() + fix[1:])]


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
    print((_("Checking {lesson}'s exercise ({title}): {files}") if title else
           _("Checking {lesson}'s exercise: {files}")).format(lesson=lesson.id, title=title, files=files))
    for r in results:
        print(f"  {'ok  ' if r.passed else 'FAIL'}  {r.message}")
        if r.details:
            print("\n".join("        " + line for line in r.details.rstrip().splitlines()))
        if r.fix and not r.passed:
            print("        " + _("fix: {fix}").format(fix=r.fix))
    failed = sum(not r.passed for r in results)
    if passed:
        print("\n" + _("Passed: the exercise of {lesson} is done. What comes next: python3 -m runner next").format(
            lesson=lesson.id))
    else:
        print("\n" + _("Not yet: {failed} of {total} checks failed. Stuck? python3 -m runner hint {lesson}").format(
            failed=failed, total=len(results), lesson=lesson.id))
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
        raise UsageError(_("Lesson {number} has no hint.").format(number=lesson.number),
                         fix=_("Read its README: python3 -m runner show {lesson}").format(lesson=lesson.id))
    if exercises.has_exercise(lesson):
        print(f"{exercises.task(lesson)} ({shown(exercises.text(lesson))})\n")
    print(_("Hint: {hint}").format(hint=lesson.hint))
    if not exercises.has_exercise(lesson):
        print("\n" + _("(Lesson {number} has no checked exercise yet; its README ends with things to try.)").format(
            number=lesson.number))
    return 0


def cmd_solution(args):
    lesson = exercises.require(args.lesson)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(_("Showing the solution needs your confirmation, and there is no terminal to ask on."),
                             fix=_("Run python3 -m runner solution {lesson} --yes").format(lesson=lesson.id))
        answer = input(_("Show the reference solution of {lesson}'s exercise? Trying a little longer teaches more; "
                         "python3 -m runner hint helps. [y/N] ").format(lesson=lesson.id))
        if answer.strip().lower() not in ("y", "yes", _("yes")):
            print(_("Nothing shown."))
            return 0
    mine_dir = exercises.folder(lesson)
    for name, text in exercises.solution(lesson).items():
        mine = mine_dir / name
        base = mine if mine.is_file() else lesson.folder / name
        mine_shown = shown(mine)
        diff = "\n".join(difflib.unified_diff(base.read_text().splitlines(), text.splitlines(),
                                              f"your {mine_shown}" if mine.is_file() else f"the lesson's {name}",
                                              f"solution {name}", lineterm=""))
        if mine.is_file():
            said = (_("From your {path} to the solution:") if diff else _("Your {path} is the same as the solution."))
        else:
            said = (_("From the lesson's {path} to the solution:") if diff else
                    _("The lesson's {path} is the same as the solution."))
        print("\n" + said.format(path=mine_shown if mine.is_file() else name) + (f"\n{diff}\n" if diff else "\n"))
    if args.write:
        for name in exercises.copied(lesson):
            if (mine_dir / name).is_file():
                (mine_dir / name).replace(mine_dir / (name + ".previous"))
        exercises.solution(lesson, into=mine_dir)
        print(_("The solution's files are now in {folder}/ (yours are kept as *.previous).").format(
            folder=shown(mine_dir)))
    else:
        print(_("The solution is {patch}, a diff against the lesson's files; python3 -m runner solution {lesson} "
                "--write puts its files in {folder}/ (keeping yours as *.previous).").format(
            patch=shown(mine_dir / exercises.PATCH), lesson=lesson.id, folder=shown(mine_dir)))
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
        exercise = {"passed": _("exercise passed"), "not yet": _("exercise not passed yet"),
                    None: _("no exercise yet")}
        extra = _(" (solution seen)") if row["solution_seen"] else ""
        mark = "[x]" if row["done"] else "[ ]"
        ran = _("ran") if row["ran"] else _("not run")
        print(f"{mark} {row['lesson']:<9} {render.pad(row['title'], 46)} {render.pad(ran, 8)} "
              f"{exercise[row['exercise']]}{extra}")
    done = sum(row["done"] for row in rows)
    print("\n" + _("{done} of {total} lessons done. Saved in {path} (python3 -m runner reset forgets it).").format(
        done=done, total=len(rows), path=progress.state_path()))
    return 0


def cmd_next(args):
    row = progress.next_lesson(_rows())
    if row is None:
        print(_("Every lesson is done. python3 -m runner progress shows them all."))
        return 0
    lesson = lessons.find(row["lesson"])
    print(_("Next: {lesson}, {title}.").format(lesson=lesson.id, title=lesson.title))
    if not row["ran"]:
        print(_("  read it:  python3 -m runner show {lesson}   ({path})").format(lesson=lesson.id,
                                                                               path=shown(lesson.text_path)))
        print(_("  run it:   sudo python3 -m runner {lesson}").format(lesson=lesson.id))
    if exercises.has_exercise(lesson):
        print(_("  then the exercise: {task} ({path})").format(task=exercises.task(lesson),
                                                              path=shown(exercises.text(lesson))))
        print(_("  start it: python3 -m runner exercise {lesson}   (copies the lesson's files for you to edit)").format(
            lesson=lesson.id))
        print(_("  check it: sudo python3 -m runner check {lesson}   (or watch {lesson} to re-check on save)").format(
            lesson=lesson.id))
    return 0


def cmd_reset(args):
    removed = progress.reset()
    path = progress.state_path()
    print((_("Progress forgotten ({path} deleted).") if removed else
           _("There was no progress to forget ({path}).")).format(path=path))
    return 0


HANDLERS = {"exercise": cmd_exercise, "check": cmd_check, "hint": cmd_hint, "solution": cmd_solution,
            "progress": cmd_progress, "next": cmd_next, "reset": cmd_reset, "watch": cmd_watch}
