"""Which lessons exist and everything the runner knows about each: read from lessons/lessons.toml.

A lesson is its folder plus its entry there; nothing else in runner/ names a lesson.
The entry is validated as it is read: an unknown key, a value of the wrong type, a
missing file or a number used twice is one sentence naming the lesson and the key.
What only the compiled program can tell (that events = "perf:<table>" names one of its
BPF_PERF_OUTPUT tables) is checked as soon as the glue's load() returns.
No BPF import here: `list` and `show` work without root and without bcc.
"""

import contextlib
import functools
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

from .errors import EnvironmentNotReady, LessonFailed, UsageError
from .fields import Fields
from .language import N_, _, current

ROOT = Path(__file__).resolve().parent.parent
DIR_ENV = "BCC_LESSONS_DIR"  # another lessons folder (the tests' temporary lessons use it)


def lessons_dir():
    return Path(os.environ.get(DIR_ENV) or ROOT / "lessons")


# the line under a README's title that links to the other language's edition: never narrated, never in a notebook
LANGUAGE_LINK = re.compile(r"^\[(中文|English)\]\(README(\.zh)?\.md\)")
EVENT_SOURCES = ("trace_pipe", "perf:", "ringbuf:", "table")
# perf:<the BPF_PERF_OUTPUT's C name>, ringbuf:<the BPF_RINGBUF_OUTPUT's C name>
_EVENTS = re.compile(r"trace_pipe|table|(perf|ringbuf):[A-Za-z_][A-Za-z0-9_]*")
GLUE_CALLS = {"trace_pipe": "record", "perf": "record", "ringbuf": "record", "table": "snapshot"}  # called in the glue
OPTIONS = {"pid": "--pid", "probe": "--probe", "pages": "--pages"}  # the runner's own flags a lesson may accept
FLAG_TYPES = {"int": int, "float": float, "str": str, "bool": bool}  # a lesson's own flags: --name VALUE

# Record keys every lesson may use: header, width and printf format, as BCC's tools print them.
# A lesson declares any other column with its own header, width and format (see lessons.toml).
COMMON_COLUMNS = {
    "time": ("TIME(s)", 18, "%.9f"),
    "comm": ("COMM", 16, "%s"),
    "pid": ("PID", 7, "%d"),
    "ppid": ("PPID", 7, "%d"),
    "tid": ("TID", 7, "%d"),
    "cpu": ("CPU", 4, "%d"),
    "count": ("COUNT", 8, "%d"),
    "message": ("MESSAGE", 0, "%s"),
}
IDS = {"pid", "tid", "ppid", "uid", "cpu"}  # numbers that name things: a summary never adds them up


class Exercise(Fields):
    edit: list                     # the learner's files (watch re-checks when they are saved)
    workload: dict                 # the check's workload parameters (default: the lesson's)
    duration: float = None         # stop the check's run after S seconds (default: when the workload is done)
    interval: float = 1.0          # table lessons: read the map every S seconds
    traces_workload_start: bool = False  # the check's workload starts after the probes attach (see Lesson's)


class Flag(Fields):
    name: str          # --name on the command line, name= for the glue's load()
    type: str          # int, float, str or bool (a switch)
    help: str
    default: object = None


class Lesson(Fields):
    number: int
    name: str
    title: str
    teaches: str
    events: str
    columns: list                  # record keys shown as columns, in order
    home: Path = None              # the folder lessons live in
    prefers: list = []
    fallback: str = ""
    bcc_fallbacks: dict = {}  # "table.HashTable.call" -> sentence said where bcc lacks it
    workload: dict = None          # parameters of the folder's workload.py run(); None: the lesson has none
    options: list = []   # of OPTIONS
    flags: list = []     # the lesson's own: [Flag], given to load() as name=value
    formats: dict = {}   # column key -> (header, width, format)
    ids: set = set()         # record keys that name things (never summed)
    histogram: str = ""
    flamegraph: str = ""           # a title: snapshot() rows carry "stack" (folded, root first) and "count"
    needs_pid: bool = False        # load() attaches to one process: the learner's --pid, or the held workload's
    traces_workload_start: bool = False  # the workload starts after the probes attach: they see its own start
    hint: str = ""
    exercise: Exercise = None

    @property
    def id(self):
        return f"lesson{self.number}"

    @property
    def folder(self):
        return self.home / f"lesson{self.number}_{self.name}"

    @property
    def glue_path(self):
        return self.folder / f"{self.name}.py"

    @property
    def program_path(self):
        return self.folder / f"{self.name}.c"

    @property
    def readme_path(self):
        return self.folder / "README.md"

    @property
    def text_path(self):
        """The lesson's text in the runner's language: README.zh.md in Chinese, where the lesson has one."""
        zh = self.folder / "README.zh.md"
        return zh if current() == "zh" and zh.exists() else self.readme_path

    @property
    def workload_path(self):
        return self.folder / "workload.py"

    def column(self, key):
        """(header, width, format) of a column."""
        return self.formats.get(key) or COMMON_COLUMNS.get(key) or (key.upper(), 12, "%s")

    def missing_bcc_calls(self):
        """The BCC calls this lesson would rather use that the installed bcc lacks: {call: sentence}.

        Tried on the real module (an attribute lookup), not guessed from its version.
        """
        import importlib
        missing = {}
        for call, sentence in self.bcc_fallbacks.items():
            module, _dot, attribute = call.partition(".")
            try:
                found = importlib.import_module(f"bcc.{module}")
            except ModuleNotFoundError as err:
                if err.name != f"bcc.{module}":
                    raise  # bcc itself: the doctor's and the run's own check says that
                raise LessonFailed(_("{lesson}'s bcc_fallbacks names {call}, but BCC has no module bcc.{module}.")
                                   .format(lesson=self.id, call=repr(call), module=module),
                                   fix=_("Fix the key in lessons.toml: module.Class.call of BCC's Python module, e.g. "
                                         "table.HashTable.items_lookup_batch.")) from None
            for name in attribute.split("."):
                found = getattr(found, name, None)
            if found is None:
                missing[call] = sentence
        return missing

    def names_a_thing(self, key):
        return key in IDS or key in self.ids

    def intro(self):
        """The README's opening paragraph: the narration the runner prints before tracing."""
        try:
            text = self.text_path.read_text(encoding="utf-8")
        except OSError as err:
            raise LessonFailed(_("{lesson}'s text {path} cannot be read ({reason}).").format(
                lesson=self.id, path=self.readme_path, reason=err.strerror),
                fix=_("Restore it with: git checkout -- {path}").format(path=self.readme_path)) from None
        except UnicodeDecodeError as err:
            raise LessonFailed(_("{lesson}'s text {path} is not UTF-8 text (byte {byte} is not).").format(
                lesson=self.id, path=self.readme_path, byte=err.start),
                fix=_("Save it as UTF-8, or restore it with: git checkout -- {path}").format(
                    path=self.readme_path)) from None
        body = text.split("\n## ", 1)[0]
        paragraphs = [p.strip() for p in body.split("\n\n")
                      if p.strip() and not p.startswith("#") and not LANGUAGE_LINK.match(p.strip())]
        return paragraphs[0] if paragraphs else ""

    @property
    def output_table(self):
        """The table events = "perf:<table>" or "ringbuf:<table>" names, or None for the other sources."""
        return self.events.split(":", 1)[1] if self.events.startswith(("perf:", "ringbuf:")) else None

    def import_glue(self, folder=None):
        """Import the lesson's own Python file (<name>.py), from its folder or another one, as a module.

        The module's load() is wrapped by _checked_load(): what it loaded is checked against lessons.toml, and an
        attach that failed for a --pid is explained by that process.
        """
        path = Path(folder or self.folder) / self.glue_path.name
        spec = importlib.util.spec_from_file_location(f"lesson_{self.name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        calls = {"load": N_("{lesson}'s glue {path} has no function {name}(), which the runner calls to compile and "
                            "attach the program.")}
        calls[GLUE_CALLS[self.events.split(":")[0]]] = N_("{lesson}'s glue {path} has no function {name}(), which the "
                                                          "runner calls for events = \"{events}\" in lessons.toml.")
        if self.histogram and self.events != "table":  # a map lesson's rows may be the histogram's buckets instead
            calls["histogram"] = N_("{lesson}'s glue {path} has no function {name}(), which the runner calls for the "
                                    "histogram lessons.toml declares.")
        for name, sentence in calls.items():
            if not callable(getattr(module, name, None)):
                raise LessonFailed(_(sentence).format(lesson=self.id, path=path, name=name, events=self.events),
                                   fix=_("Define {name}() in {file}, as the lesson's own {glue} does.").format(
                                       name=name, file=path.name, glue=self.glue_path.name))
        module.load = self._checked_load(module.load, path.with_name(self.program_path.name))
        return module

    def _checked_load(self, load, program):
        lesson = self

        @functools.wraps(load)
        def checked(*args, **kwargs):
            try:
                loaded = load(*args, **kwargs)
            except Exception as err:
                pid = kwargs.get("pid")
                if pid is None or "Failed to attach" not in str(err):
                    raise
                from . import targets
                said = targets.unprobeable(pid)
                if said is None:
                    raise
                raise said from err
            lesson._check_output_table(loaded, program)
            return loaded
        return checked

    def _check_output_table(self, loaded, program):
        """events = "perf:<table>" (or "ringbuf:<table>"): the loaded program declares that BPF_PERF_OUTPUT (or
        BPF_RINGBUF_OUTPUT, or a BPF_PERF_OUTPUT of that name where the kernel has no ring buffer), or nothing stays
        loaded and one sentence says so. Only the compiled program knows its tables, so this is the first moment."""
        table = self.output_table
        try:
            b = loaded[0]
        except (TypeError, IndexError, KeyError):
            return  # not (b, probes): the run says so where it uses them
        if table is None or not hasattr(b, "__getitem__"):
            return
        try:
            found = b[table]
        except KeyError:
            found = None
        ring = self.events.startswith("ringbuf:")
        if found is not None and (hasattr(found, "open_perf_buffer") or ring and hasattr(found, "open_ring_buffer")):
            return
        with contextlib.suppress(Exception):
            b.cleanup()
        shown = _shown(program)
        macro = "BPF_RINGBUF_OUTPUT" if ring else "BPF_PERF_OUTPUT"
        kind = _("ring buffer") if ring else _("perf buffer")
        if found is None:
            # TRANSLATORS: {kind} is "ring buffer" or "perf buffer"; {program} the lesson's C file
            message = _("{lesson} reads its events from the {kind} {name} (events = \"{events}\" in lessons.toml), "
                        "and {program} declares no {macro}({table}).")
        else:
            # TRANSLATORS: {kind} is "ring buffer" or "perf buffer"; {program} the lesson's C file; {type} a BCC class
            message = _("{lesson} reads its events from the {kind} {name} (events = \"{events}\" in lessons.toml), "
                        "and {program} has {table} as a {type}, not a {macro}({table}).")
        if ring:
            fix = _("Declare {macro}({table}) in {file} and ringbuf_output() or ringbuf_reserve()/ringbuf_submit() the "
                    "events to it, or name the program's own {macro} in the lesson's events key in lessons.toml.")
        else:
            fix = _("Declare {macro}({table}) in {file} and perf_submit() the events to it, or name the program's own "
                    "{macro} in the lesson's events key in lessons.toml.")
        raise LessonFailed(message.format(lesson=self.id, kind=kind, name=repr(table), events=self.events,
                                          program=shown, macro=macro, table=table, type=type(found).__name__),
                           fix=fix.format(macro=macro, table=table, file=program.name))


def _shown(path):
    """A file as the learner names it: relative to the repository, or absolute outside it."""
    try:
        return Path(path).relative_to(ROOT)
    except ValueError:
        return Path(path)


# -- reading and checking lessons.toml -------------------------------------------------------------------

REQUIRED = {"number": int, "name": str, "title": str, "teaches": str, "events": str, "columns": list}
OPTIONAL = {"prefers": list, "fallback": str, "bcc_fallbacks": dict, "workload": dict, "options": list, "ids": list, "histogram": str,
            "hint": str, "exercise": dict, "needs_pid": bool, "flamegraph": str,
            "traces_workload_start": bool}
RESERVED_FLAGS = {"duration", "events", "json", "quiet", "no_workload", "no_code", "pages", "interval", "pid", "probe",
                  "kernel", "debug", "help", "lesson"}
EXERCISE_KEYS = {"edit": list, "workload": dict, "duration": (int, float), "interval": (int, float),
                 "traces_workload_start": bool}
COLUMN_KEYS = {"key": str, "header": str, "width": int, "format": str}
FLAG_KEYS = {"name": str, "type": str, "help": str, "default": object}
FLAG_DEFAULTS = {"int": (int, N_("a whole number")), "float": ((int, float), N_("a number")),
                 "str": (str, N_("a string")), "bool": (bool, N_("true or false"))}
KINDS = {int: N_("a whole number"), str: N_("a string"), list: N_("a list"), dict: N_("a table")}  # else a number
SCALARS = (str, int, float, bool)  # a workload parameter: one of these, or a list of them
_NAME = re.compile(r"[a-z0-9_]+")  # the folder lesson<number>_<name>, as find() reads it
_CALL = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")  # bcc_fallbacks: module.Class.call
# One printf conversion, as the columns print with `format % value` (after %% is taken out): flags, width, precision.
_FORMAT = re.compile(r"[^%]*%[-#0 +]*[0-9]*(\.[0-9]*)?[hlL]?[diouxXeEfFgGcrsa][^%]*")


class _Entry:
    """One [[lesson]] table, and the sentences that name it when something is wrong."""

    def __init__(self, entry, path, index):
        self.entry, self.path = entry, path
        number, name = entry.get("number"), entry.get("name")
        # TRANSLATORS: who the sentences below speak of: an entry of lessons.toml, by its number and name
        self.label = _("lesson {number}").format(number=number) if isinstance(number, int) else \
            _("the lesson entry number {index}").format(index=index + 1)
        if isinstance(name, str):
            self.label += f" ({name})"

    def fail(self, sentence, fix):
        """sentence: what is wrong, said of the lesson ("has number = 0, which should be 1 or more.")."""
        # TRANSLATORS: {lesson} is "lesson N (name)", {sentence} what is wrong with it ("lacks the key 'title'.")
        raise LessonFailed(_("{path}: {lesson} {sentence}").format(path=self.path, lesson=self.label,
                                                                   sentence=sentence), fix=fix)

    def typed(self, key, value, kind, where=""):
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            want = _(KINDS.get(kind, N_("a number")))
            # TRANSLATORS: this and the sentences like it follow a lesson's name ("lesson N (name) has ..."); {where}
            # is empty or a table's name with a dot, e.g. "columns."
            self.fail(_("has {where}{key} = {value}, which should be {want}.").format(
                where=where, key=key, value=repr(value), want=want), _("Fix that line of lessons.toml."))
        return value

    def strings(self, key, items, where=""):
        for item in items:
            if not isinstance(item, str):
                self.fail(_("has {where}{key} entry {item}, which should be a string.").format(
                    where=where, key=key, item=repr(item)), _("Fix that line of lessons.toml (quote it)."))
        return list(items)

    def parameters(self, key, table):
        """A workload's parameters: each a string, a number, true or false, or a list of them (workload.py's flags)."""
        for name, value in table.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, SCALARS) for v in values):
                self.fail(_("has {key}.{name} = {value}, which should be a string, a number, true or false, or a list "
                            "of them.").format(key=key, name=name, value=repr(value)),
                          _("The workload's run() gets each as a command-line flag: fix that line of lessons.toml."))
        return table

    def at_least(self, key, value, least, where=""):
        if value < least:
            self.fail(_("has {where}{key} = {value}, which should be {least} or more.").format(
                where=where, key=key, value=repr(value), least=least), _("Fix that line of lessons.toml."))

    def known(self, table, keys, where=""):
        for key in table:
            if key not in keys:
                self.fail(_("has an unknown key {where}{key}.").format(where=where, key=repr(key)),
                          _("Use one of {keys} (the comment at the top of lessons.toml says what each means).").format(
                              keys=", ".join(sorted(keys))))


def _columns(e, raw):
    keys, formats = [], {}
    for item in raw:
        if isinstance(item, str):
            keys.append(item)
            continue
        e.typed("columns entry", item, dict)
        e.known(item, COLUMN_KEYS, "columns.")
        for key, kind in COLUMN_KEYS.items():
            if key not in item:
                e.fail(_("declares a column without {key}: {item}.").format(key=repr(key), item=repr(item)),
                       _("Give each declared column key, header, width and format, e.g. {example}.").format(
                           example='{ key = "ms", header = "MS", width = 10, format = "%.3f" }'))
            e.typed(key, item[key], kind, "columns.")
        e.at_least("width", item["width"], 0, "columns.")
        if not _FORMAT.fullmatch(item["format"].replace("%%", "")):
            e.fail(_("has columns.format = {format}, which should be one printf conversion such as %d, %s or %.3f.")
                   .format(format=repr(item["format"])),
                   _("The column {key} prints as format % value: give it one conversion (%% for a percent sign).")
                   .format(key=repr(item["key"])))
        keys.append(item["key"])
        formats[item["key"]] = (item["header"], item["width"], item["format"])
    return keys, formats


def _sentences(e, table):
    for key, sentence in table.items():
        if not _CALL.fullmatch(key):
            e.fail(_("has bcc_fallbacks key {key}, which should name module.Class.call (a call of BCC's Python "
                     "module).").format(key=repr(key)),
                   _("e.g. \"table.HashTable.items_lookup_batch\" = \"the sentence said where bcc lacks it\""))
        e.typed(f"bcc_fallbacks.{key!r}", sentence, str)
    return dict(table)


def _lesson(e, home):
    entry = e.entry
    e.known(entry, {**REQUIRED, **OPTIONAL})
    for key, kind in REQUIRED.items():
        if key not in entry:
            e.fail(_("lacks the key {key}.").format(key=repr(key)),
                   _("Add it (the comment at the top of lessons.toml says what each means)."))
        e.typed(key, entry[key], kind)
    for key, kind in OPTIONAL.items():
        if key in entry:
            e.typed(key, entry[key], kind)
    e.at_least("number", entry["number"], 1)
    if not _NAME.fullmatch(entry["name"]):
        e.fail(_("has name = {name}, which should be lower-case letters, digits and _.").format(
                   name=repr(entry["name"])),
               _("The name makes the folder lesson<number>_<name> and the files <name>.c and <name>.py: rename them "
                 "all alike."))
    for key in ("prefers", "ids"):
        e.strings(key, entry.get(key, []))
    if "workload" in entry:
        e.parameters("workload", entry["workload"])
    if entry.get("needs_pid") and "pid" not in entry.get("options", []):
        e.fail(_("has needs_pid = true but does not take the option \"pid\"."),
               _("Add \"pid\" to its options: its load(pid=) gets the learner's --pid, or the pid of the workload the "
                 "runner holds at its start."))
    if not _EVENTS.fullmatch(entry["events"]):
        e.fail(_("has an unknown events source {events}.").format(events=repr(entry["events"])),
               _("Use trace_pipe, perf:<table> (the name in the program's BPF_PERF_OUTPUT(<table>)), ringbuf:<table> "
                 "(its BPF_RINGBUF_OUTPUT(<table>, pages)) or table."))
    options, flags = [], []
    for option in entry.get("options", []):
        if isinstance(option, str):
            if option not in OPTIONS:
                # TRANSLATORS: {options} is the runner's option names joined by " or ": pid or probe or pages
                e.fail(_("accepts an unknown option {option}.").format(option=repr(option)),
                       _("Use {options}, or declare the lesson's own: {example}.").format(
                           options=" or ".join(OPTIONS),
                           example='{ name = "size", type = "int", default = 64, help = "..." }'))
            options.append(option)
            continue
        e.typed("options entry", option, dict)
        e.known(option, FLAG_KEYS, "options.")
        for key in ("name", "type", "help"):
            if key not in option:
                e.fail(_("declares an option without {key}: {option}.").format(key=repr(key), option=repr(option)),
                       _("Give each of the lesson's own options a name, a type (int, float, str or bool) and a help "
                         "sentence."))
            e.typed(key, option[key], str, "options.")
        if option["type"] not in FLAG_TYPES or not re.fullmatch(r"[a-z][a-z0-9_]*", option["name"]) \
                or option["name"] in RESERVED_FLAGS:
            e.fail(_("declares the option {name} of type {type}.").format(name=repr(option["name"]),
                                                                          type=repr(option["type"])),
                   _("Name it in lower case (not one of the runner's own: {reserved}) and type it int, float, str or "
                     "bool.").format(reserved=", ".join(sorted(RESERVED_FLAGS))))
        kind, want = FLAG_DEFAULTS[option["type"]]
        default = option.get("default")
        if default is not None and (not isinstance(default, kind) or isinstance(default, bool) != (kind is bool)):
            e.fail(_("declares the option {name} of type {type} with default = {default}, which should be {want}.")
                   .format(name=repr(option["name"]), type=repr(option["type"]), default=repr(default), want=_(want)),
                   _("Give the default the option's type, or leave it out."))
        flags.append(Flag(option["name"], option["type"], _(option["help"]), option.get("default")))
    keys, formats = _columns(e, entry["columns"])
    meta = dict(entry.get("exercise", {}))
    e.known(meta, EXERCISE_KEYS, "exercise.")
    for key, kind in EXERCISE_KEYS.items():
        if key in meta:
            e.typed(key, meta[key], kind, "exercise.")
    for name in e.strings("edit", meta.get("edit", []), "exercise."):
        if not name or "/" in name or name in (".", ".."):
            e.fail(_("has exercise.edit entry {name}, which should be a file name in the exercise folder.").format(
                name=repr(name)), _("Name a file the learner edits there, e.g. the lesson's <name>.c."))
    if "workload" in meta:
        e.parameters("exercise.workload", meta["workload"])
    for key in ("duration", "interval"):
        if key in meta and not meta[key] > 0:
            e.fail(_("has exercise.{key} = {value}, which should be more than 0 seconds.").format(
                key=key, value=repr(meta[key])), _("Fix that line of lessons.toml."))
    # the sentences in the runner's language (scripts/translations.py puts them in the catalog)
    lesson = Lesson(number=entry["number"], name=entry["name"], title=_(entry["title"]), teaches=_(entry["teaches"]),
                    events=entry["events"], columns=keys, home=home, prefers=list(entry.get("prefers", [])),
                    fallback=_(entry.get("fallback", "")),
                    bcc_fallbacks={k: _(v) for k, v in _sentences(e, entry.get("bcc_fallbacks", {})).items()},
                    workload=entry.get("workload"),
                    options=options, flags=flags, formats=formats, ids=set(entry.get("ids", [])),
                    histogram=entry.get("histogram", ""), flamegraph=_(entry.get("flamegraph", "")),
                    needs_pid=entry.get("needs_pid", False), hint=_(entry.get("hint", "")),
                    traces_workload_start=entry.get("traces_workload_start", False))
    lesson.exercise = Exercise(edit=list(meta.get("edit", [lesson.program_path.name])),
                               workload=dict(meta.get("workload", lesson.workload or {})),
                               duration=meta.get("duration"), interval=meta.get("interval", 1.0),
                               traces_workload_start=meta.get("traces_workload_start", lesson.traces_workload_start))
    needed = [lesson.readme_path, lesson.program_path, lesson.glue_path]
    if lesson.workload is not None:
        needed.append(lesson.workload_path)
    for path in needed:
        if not path.is_file():
            e.fail(_("has no file {path}.").format(path=path),
                   _("Restore it (git checkout -- {path}), or fix the lesson's name and number in lessons.toml (the "
                     "folder is lesson<number>_<name>).").format(path=path))
    _readable(e, lesson.readme_path)
    return lesson


def _readable(e, path):
    """The lesson's text, read as show, run and the notebooks read it: a README they could not read is said here."""
    try:
        path.read_text()
    except OSError as err:
        e.fail(_("cannot read its {file} {path} ({reason}).").format(file=path.name, path=path, reason=err.strerror),
               _("Make it readable (chmod a+r {path}), or restore it (git checkout -- {path}).").format(path=path))
    except UnicodeDecodeError as err:
        e.fail(_("has a {file} that is not UTF-8 text ({path}, byte {byte}).").format(file=path.name, path=path,
                                                                                   byte=err.start),
               _("Save it as UTF-8, or restore it (git checkout -- {path}).").format(path=path))


def toml():
    """Python 3.11's tomllib, or the same parser packaged as tomli (requirements.txt installs it before 3.11)."""
    try:
        import tomllib
        return tomllib
    except ModuleNotFoundError:
        pass
    try:
        import tomli
        return tomli
    except ModuleNotFoundError:
        import platform
        raise EnvironmentNotReady(_("Reading lessons/lessons.toml needs tomllib (Python 3.11 and later) or the tomli "
                                    "package, and this Python {version} has neither.").format(
                                        version=platform.python_version()),
                                  fix=_("sudo make setup installs tomli into .venv; run the runner with "
                                        ".venv/bin/python")) from None


def _missing(path):
    return LessonFailed(_("The lesson list {path} is missing.").format(path=path),
                        fix=_("Restore it with: git checkout -- {path}").format(path="lessons/lessons.toml"))


def parsed(path):
    """lessons.toml's data. Reading TOML takes tomllib, 4 ms to import and 2 ms to parse, on every run: so the data
    is kept beside it as JSON (0.1 ms to read), in __pycache__ as Python keeps bytecode, and used while lessons.toml
    has the same size and modification time. Written only where Python writes bytecode, and never needed."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise _missing(path) from None
    stamp = [stat.st_size, stat.st_mtime_ns]
    cache = path.parent / "__pycache__" / (path.name + ".json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kept = json.loads(cache.read_text())
        if kept["stamp"] == stamp:
            return kept["data"]
    tomllib = toml()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:  # removed since its stat()
        raise _missing(path) from None
    except tomllib.TOMLDecodeError as err:
        raise LessonFailed(_("The lesson list {path} is not valid TOML ({error}).").format(path=path, error=err),
                           fix=_("Fix the line it names, or restore it with git checkout."))
    if not sys.dont_write_bytecode:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(exist_ok=True)
            partial = cache.with_name(f"{cache.name}.{os.getpid()}")
            partial.write_text(json.dumps({"stamp": stamp, "data": data}))
            os.replace(partial, cache)  # whole or not at all: another run may be reading it
    return data


def load_all(path=None):
    """All lessons, in order of their numbers; one clear sentence when the metadata is missing or wrong."""
    path = Path(path) if path else lessons_dir() / "lessons.toml"
    data = parsed(path)
    entries = data.get("lesson", [])
    if not entries or not isinstance(entries, list):
        raise LessonFailed(_("The lesson list {path} has no [[lesson]] entries.").format(path=path),
                           fix=_("Restore it with: git checkout -- {path}").format(path="lessons/lessons.toml"))
    lessons, seen = [], {}
    for index, entry in enumerate(entries):
        e = _Entry(entry, path, index)
        lesson = _lesson(e, path.parent)
        if lesson.number in seen:
            e.fail(_("has the number {number}, which lesson {other} already has.").format(number=lesson.number,
                                                                                          other=seen[lesson.number]),
                   _("Give every lesson its own number."))
        seen[lesson.number] = lesson.name
        lessons.append(lesson)
    return sorted(lessons, key=lambda lesson: lesson.number)


# lesson3, lesson03, 3, and the folder's name lesson3_<name>: ASCII digits only (int() would also read ３ and ٣),
# and no separator before the number (lesson-1 reads as lesson minus one; no file or folder is spelt lesson_1).
_NUMBERED = re.compile(r"^(?:lesson)?0*([0-9]+)(?:_([a-z0-9_]+))?$", re.ASCII)


def find(name, lessons=None):
    """Resolve what a learner typed (lesson3, lesson03, 3, Lesson3, lesson3_<name>, <name>); the <name> after a
    number must be that lesson's own (lesson1_bpf_hash is no lesson)."""
    lessons = lessons if lessons is not None else load_all()
    typed = name.strip().lower().rstrip("/")
    if typed.startswith("lessons/"):
        typed = typed[len("lessons/"):]
    match = _NUMBERED.match(typed)
    for lesson in lessons:
        if match and int(match.group(1)) == lesson.number and match.group(2) in (None, lesson.name):
            return lesson
        if typed == lesson.name:
            return lesson
    known = ", ".join(lesson.id for lesson in lessons)
    raise UsageError(_("There is no lesson called {name}.").format(name=repr(name)),
                     fix=_("Choose one of: {lessons} (python3 -m runner list shows them all).").format(lessons=known))
