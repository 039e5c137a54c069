"""Which lessons exist and what each one needs: read from lessons/lessons.toml.

No BPF import here: `list` and `show` work without root and without bcc.
"""

import importlib.util
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LessonFailed, UsageError

ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = ROOT / "lessons"
METADATA = LESSONS_DIR / "lessons.toml"

EVENT_SOURCES = ("trace_pipe", "perf:", "table")


@dataclass
class Lesson:
    number: int
    name: str
    title: str
    teaches: str
    events: str
    columns: list
    prefers: list = field(default_factory=list)
    fallback: str = ""
    workload: dict = field(default_factory=dict)
    hint: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def id(self):
        return f"lesson{self.number}"

    @property
    def folder(self):
        return LESSONS_DIR / f"lesson{self.number}_{self.name}"

    @property
    def glue_path(self):
        return self.folder / f"{self.name}.py"

    @property
    def program_path(self):
        return self.folder / f"{self.name}.c"

    @property
    def readme_path(self):
        return self.folder / "README.md"

    def intro(self):
        """The README's opening paragraph: the narration the runner prints before tracing."""
        text = self.readme_path.read_text()
        body = text.split("\n## ", 1)[0]
        paragraphs = [p.strip() for p in body.split("\n\n") if p.strip() and not p.startswith("#")]
        return paragraphs[0] if paragraphs else ""

    def import_glue(self):
        """Import the lesson's own Python file (e.g. hello.py) as a module."""
        spec = importlib.util.spec_from_file_location(f"lesson_{self.name}", self.glue_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


_KNOWN = {"number", "name", "title", "teaches", "events", "columns", "prefers", "fallback", "workload", "hint"}


def load_all(path=METADATA):
    """All lessons, in order; a clear error when the metadata is missing or broken."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LessonFailed(f"The lesson list {path} is missing.", fix="Restore it with: git checkout -- lessons/lessons.toml")
    except tomllib.TOMLDecodeError as err:
        raise LessonFailed(f"The lesson list {path} is not valid TOML ({err}).", fix="Fix the line it names, or restore it with git checkout.")
    entries = data.get("lesson", [])
    if not entries:
        raise LessonFailed(f"The lesson list {path} has no [[lesson]] entries.", fix="Restore it with: git checkout -- lessons/lessons.toml")
    lessons = []
    for entry in entries:
        missing = {"number", "name", "title", "teaches", "events", "columns"} - entry.keys()
        if missing:
            raise LessonFailed(f"A lesson entry in {path} lacks {', '.join(sorted(missing))}.", fix="Add the missing keys (see the comment at the top of the file).")
        if not entry["events"].startswith(EVENT_SOURCES):
            raise LessonFailed(f"Lesson {entry['number']} has an unknown events source {entry['events']!r}.", fix="Use trace_pipe, perf:<table> or table.")
        known = {k: v for k, v in entry.items() if k in _KNOWN}
        lessons.append(Lesson(**known, extra={k: v for k, v in entry.items() if k not in _KNOWN}))
    return sorted(lessons, key=lambda lesson: lesson.number)


_NUMBERED = re.compile(r"^(?:lesson[_-]?)?0*(\d+)(?:_.*)?$")


def find(name, lessons=None):
    """Resolve what a learner typed (lesson3, lesson03, 3, Lesson3, lesson3_bpf_hash, bpf_hash)."""
    lessons = lessons if lessons is not None else load_all()
    typed = name.strip().lower().rstrip("/")
    typed = typed.removeprefix("lessons/")
    match = _NUMBERED.match(typed)
    for lesson in lessons:
        if (match and int(match.group(1)) == lesson.number) or typed == lesson.name:
            return lesson
    known = ", ".join(lesson.id for lesson in lessons)
    raise UsageError(f"There is no lesson called {name!r}.", fix=f"Choose one of: {known} (python -m runner list shows them all).")
