#!/usr/bin/env python3
"""Write one classroom notebook per lesson, from lessons/lessons.toml and each lesson's README.md.

    python notebooks/build.py            # (re)write notebooks/lesson<N>_<name>.ipynb for every lesson
    python notebooks/build.py --check    # exit 1 if a notebook is missing or its cells differ from what this
                                         # writes (not what running and saving it in JupyterLab changes)
    python notebooks/build.py lesson3    # only that lesson

The Chinese notebooks, notebooks/zh/, are built the same way from each lesson's README.zh.md: its sections
are the English README's, in the same order (tests/unit/test_readme_zh.py), so the code cells go where the
English headings put them, and the cells this script writes itself come from the runner's catalog.

A notebook is the lesson's README, section by section, with short code cells
between them that call runner/notebook.py: show the .c file, load and attach
with the lesson's own glue, Start/Stop with live tables, a summary, detach.
It never holds a copy of the BPF program or of the glue, so a new lesson
(one folder plus one lessons.toml entry) gets its notebook from this script
and nothing else; edit the README, not the notebook, and build again.
Stdlib only, no outputs saved: the file is the same on every machine.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
from runner import language
from runner import lessons as lesson_list  # the checkout is on .venv's path (scripts/setup.sh)
from runner.language import _
from runner.notebook.server import cells_of
from runner.notebook import KERNEL_NAME

DEFAULT_DURATION = 4  # seconds a run traces by default (the slider's start); every workload fits in it
# each language's notebooks: the README they are built from, and their folder
LANGUAGES = {"en": ("README.md", HERE), "zh": ("README.zh.md", HERE / "zh")}


def sections(readme):
    """[(heading or None, text)] split at '## ' headings; the first item is the title and opening (without the
    line that links to the other language's README, which a notebook has no use for)."""
    readme = "\n\n".join(p for p in readme.split("\n\n") if not lesson_list.LANGUAGE_LINK.match(p.strip()))
    parts = ("\n" + readme.strip() + "\n").split("\n## ")
    out = [(None, parts[0].strip())]
    for part in parts[1:]:
        heading = part.split("\n", 1)[0].strip()
        out.append((heading, ("## " + part).strip()))
    return out


def readme_of(lesson, lang):
    return lesson.folder / LANGUAGES[lang][0]


def cells_for(lesson, lang="en"):
    """The notebook's cells, in the README's order, with the runner's code cells where they belong. The English
    README's headings decide where; a Chinese notebook has its README.zh.md's text in the same places."""
    with language.speaking(lang):
        return _cells_for(lesson, lang)


def _cells_for(lesson, lang):
    glue, program = lesson.glue_path.name, lesson.program_path.name
    cells = []

    def md(text):
        cells.append(("markdown", text, []))

    def code(text, tags=()):
        cells.append(("code", text, list(tags)))

    english = sections(lesson.readme_path.read_text(encoding="utf-8"))
    parts = sections(readme_of(lesson, lang).read_text(encoding="utf-8"))
    if len(parts) != len(english):
        raise SystemExit(f"{readme_of(lesson, lang)} has {len(parts) - 1} sections, its English README "
                         f"{len(english) - 1}: they must be the same (tests/unit/test_readme_zh.py)")
    opening = parts[0][1]
    md(opening + "\n\n> " + _("This notebook runs the lesson's own files, `{program}` and `{glue}`, with the runner's "
                               "workload. Run the cells in order (Shift-Enter). The kernel runs as root: the Detach "
                               "cell, closing the notebook or shutting its kernel down detaches everything.").format(
        program=f"lessons/{lesson.folder.name}/{program}", glue=glue))
    placed = {"setup": False, "program": False, "load": False, "run": False, "detach": False}

    def setup():
        code("# " + _("How long Start traces, in seconds (the slider's default). Unattended runs (tests) trace this "
                      "long.") + f"\nduration = {DEFAULT_DURATION}", tags=["parameters"])
        code("from runner import notebook\n\n"
             f"lesson = notebook.Controller({lesson.id!r}, duration=duration, lang={lang!r})")
        placed["setup"] = True

    def show_program():
        code("lesson.show_program()  # " + _("the whole file, as the glue loads it"))
        placed["program"] = True

    def load():
        md(_("### Load and attach\n\nThe next cell calls `load()` from `{glue}`: BCC compiles `{program}`, the "
             "verifier checks it, and the program is attached. It says which probe it used, and why if it had to "
             "fall back.").format(glue=glue, program=program))
        code("lesson.load()")
        placed["load"] = True

    def run():
        what = (_("the lesson's workload (`{path}`)").format(path=f"lessons/{lesson.folder.name}/workload.py")
                if lesson.workload is not None else _("nothing extra"))
        view = (_("a table of the last map read, and the counts summed over the reads, each count with its bar")
                if lesson.events == "table" else
                _("a table of recent events, and the events per process, each count with its bar"))
        if lesson.histogram:
            view += _(", and the histogram ({label}) after each run").format(label=lesson.histogram)
        md(_("### Run it in this notebook\n\n**Start** runs {what} and traces for the slider's duration; the view "
             "below updates while events arrive: {view}. **Stop** ends a run early; the probes stay attached until "
             "the Detach cell. Start again as often as you like.").format(what=what, view=view))
        code("lesson.controls()")
        md(_("The summary of the last run (this output follows each run: it changes when the next one ends):"))
        code("lesson.summary()")
        placed["run"] = True

    def detach():
        md(_("## Detach\n\nThis cell detaches the probes and frees the program: nothing of the lesson stays in the "
             "kernel. Shutting the kernel down (or closing the notebook and its kernel) does the same."))
        code("lesson.detach()")
        placed["detach"] = True

    for (heading, _english), (_heading, text) in zip(english[1:], parts[1:]):
        lowered = heading.lower()
        if lowered.startswith("try it") and not placed["detach"]:
            for step in (setup, show_program, load, run, detach):
                if not placed[step.__name__.replace("show_", "")]:
                    step()
        md(text)
        if not placed["setup"]:
            setup()  # after the opening section ("What you will learn")
        elif not placed["program"] and (program in heading or "kernel side" in lowered):
            show_program()
        elif not placed["load"] and (glue in heading or "python side" in lowered):
            load()
        elif not placed["run"] and lowered.startswith("run it"):
            for step in (show_program, load, run):
                if not placed[step.__name__.replace("show_", "")]:
                    step()
    for step in (setup, show_program, load, run, detach):
        if not placed[step.__name__.replace("show_", "")]:
            step()
    return cells


def notebook(lesson, lang="en"):
    cells = []
    for i, (kind, text, tags) in enumerate(cells_for(lesson, lang)):
        cell = {"cell_type": kind, "id": f"{lesson.id}-{i:02d}", "metadata": {"tags": tags} if tags else {},
                "source": text.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells,
            "metadata": {"kernelspec": {"name": KERNEL_NAME, "display_name": "bcc-lessons (root, .venv)",
                                        "language": "python"},
                         "language_info": {"name": "python"},
                         "bcc_lessons": {"lesson": lesson.id, "generated_by": "notebooks/build.py",
                                         "source": f"lessons/{lesson.folder.name}/{LANGUAGES[lang][0]}",
                                         "lang": lang}},
            "nbformat": 4, "nbformat_minor": 5}


def path_for(lesson, folder=HERE, lang="en"):
    return Path(folder) / ("" if lang == "en" else lang) / f"{lesson.folder.name}.ipynb"


def text_for(lesson, lang="en"):
    return json.dumps(notebook(lesson, lang), indent=1, ensure_ascii=False) + "\n"


def buildable(all_lessons):
    """Lessons whose folder has its README, program and glue (one being written may not yet)."""
    return [lesson for lesson in all_lessons
            if lesson.readme_path.exists() and lesson.program_path.exists() and lesson.glue_path.exists()]


def says_the_same(current, built):
    """Same cells (types and sources) and the same kernel: what a lesson's notebook says."""
    try:
        old, new = json.loads(current), json.loads(built)
    except ValueError:
        return False
    return cells_of(old) == cells_of(new) and kernel_of(old) == kernel_of(new)


def kernel_of(nb):
    return nb.get("metadata", {}).get("kernelspec", {}).get("name")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", nargs="*", help="lesson1, 3, bpf_hash... (default: every lesson)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is out of date")
    parser.add_argument("--out", metavar="DIR", type=Path, default=HERE, help="write the notebooks there (default: notebooks/)")
    args = parser.parse_args(argv)
    every = lesson_list.load_all()
    chosen = [lesson_list.find(name, every) for name in args.lesson] if args.lesson else buildable(every)
    stale = []
    for lesson, lang in [(lesson, lang) for lang in LANGUAGES for lesson in chosen
                         if readme_of(lesson, lang).exists() or lang == "en"]:
        path, text = path_for(lesson, args.out, lang), text_for(lesson, lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            if current is not None and says_the_same(current, text):
                continue  # only what running and saving it changes (outputs, metadata) differs
            stale.append(str(path.relative_to(args.out)) + (" is missing" if current is None else
                                                              " differs from its README"))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date: " + "; ".join(stale) + ".\nfix: python notebooks/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
