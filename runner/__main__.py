"""python3 -m runner: run the bcc-lessons guided, one lesson at a time.

Argument parsing only; each command lives in the module named for it.
"""

import os
import sys


def project_python():
    """The checkout's .venv Python when another one runs this (python3, a pyenv python, sudo's PATH): the documented
    `python3 -m runner` then runs with what the set-up installed (rich, tomli, the system's bcc). None otherwise.
    os.path, not pathlib: nothing is imported before the Ctrl-C guard below."""
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), ".venv")
    python = os.path.join(venv, "bin", "python")
    if os.environ.get("BCC_LESSONS_NO_REEXEC") or not os.path.exists(python):
        return None
    return None if os.path.realpath(sys.prefix) == os.path.realpath(venv) else python


COMMANDS = ("list", "doctor", "show", "run", "format", "macros", "flamegraph")
EXERCISE_COMMANDS = ("exercise", "check", "watch", "hint", "solution", "progress", "next", "reset")  # runner/learner.py
COMMANDS += EXERCISE_COMMANDS
COMMANDS += ("notebook",)
LESSON_COMMANDS = ("run", "check", "watch")  # the ones that load a lesson's program on this machine


def loads_bpf(argv):
    """Whether this command line runs a lesson on this machine: libbcc then loads while the runner starts
    (runner/libbcc.py). The first word that is not an option (nor --lang's value) is the command, or a lesson (run)."""
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--lang")]
    return (bool(words) and (words[0] in LESSON_COMMANDS or words[0] not in COMMANDS)
            and "--kernel" not in argv  # it runs in a VM
            and not any(a.startswith(("--h", "-h")) for a in argv))


# Ctrl-C while Python is still starting the runner (os and sys come with the interpreter; everything else is
# imported here): nothing to undo, and no traceback to show.
try:
    _PYTHON = project_python() if __name__ == "__main__" else None
    if _PYTHON:
        os.environ["BCC_LESSONS_NO_REEXEC"] = "1"  # once: the .venv's Python does not look again
        os.execv(_PYTHON, [_PYTHON, "-m", "runner", *sys.argv[1:]])
    import json  # before libbcc starts loading: its C part (_json) would wait for the loader's lock

    if __name__ == "__main__" and loads_bpf(sys.argv[1:]):
        from . import libbcc
        libbcc.load_early()
    import argparse
    import contextlib
    import errno
    import math

    from . import errors, language, lessons, render
    from .language import N_, _
except KeyboardInterrupt:
    sys.exit(130)

EXAMPLES = N_("""\
examples:
    python3 -m runner                     # the lessons, and whether this machine runs them live
    python3 -m runner doctor              # what this machine can do, each problem with its fix
    python3 -m runner show lesson1        # read lesson1's text and code (no root needed)
    python3 -m runner show lesson3 --macros   # the BPF_* macros its program uses, as your bcc defines them
    python3 -m runner macros BPF_HASH     # how the installed bcc defines a macro (no names: the list of them)
    sudo python3 -m runner lesson1        # run lesson1: compile, attach, workload, events
    sudo python3 -m runner lesson1 --events 3 --json   # 3 events as JSON lines, then a summary
    sudo python3 -m runner 2 --duration 10 --no-workload  # trace your own activity for 10 s
    python3 -m runner format tcp:tcp_send_reset --c   # a tracepoint's record as a C struct for BCC
    sudo python3 -m runner check lesson1  # check your exercise against the kernel (watch: on every save)
    python3 -m runner exercise lesson1    # start lesson1's exercise: your copy of its files, and the task
    python3 -m runner hint lesson1        # stuck? (solution lesson1 shows the solution, after asking)
    python3 -m runner progress            # lessons and exercises done (next: what to do now; reset: forget)
    sudo python3 -m runner notebook       # the lessons as classroom notebooks in JupyterLab (127.0.0.1, token)
    sudo python3 -m runner lesson4 --kernel 6.12      # the same lesson inside a VM on Debian's 6.12 kernel (kprobes)

exit codes:
    0  ok (also when you end a trace with Ctrl-C)
    1  the lesson failed (compile error, verifier rejection, attach failure)
    2  usage error (unknown lesson, bad flag)
    3  environment not ready (not root, bcc or headers missing, tracefs unmounted):
       the message says the fix; python3 -m runner doctor checks everything
    129  SIGHUP (the terminal closed): everything was detached, then the runner stopped
    130  Ctrl-C before the lesson was loaded (nothing was attached yet), or during a check
    143  SIGTERM: everything was detached, then the runner stopped
""")



def number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text} is not a number").format(text=repr(text))) from None


def positive(kind):
    def parse(text):
        value = number(kind, text)
        if value <= 0:
            raise argparse.ArgumentTypeError(_("must be greater than 0, not {text}").format(text=text))
        return value
    return parse


DAY, HOUR = 86400, 3600
LEAST_INTERVAL = 0.01  # seconds: a map printed more often than this is a flood, and a watch a busy loop


def seconds(most, named, least=None, beyond=""):
    """A time in seconds: finite (nan and inf mean nothing here), greater than 0, at least `least`, at most `most`."""
    def parse(text):
        value = number(float, text)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(_("must be a finite number of seconds, not {text}").format(text=text))
        if value <= 0:
            raise argparse.ArgumentTypeError(_("must be greater than 0, not {text}").format(text=text))
        if least is not None and value < least:
            raise argparse.ArgumentTypeError(_("must be at least {least:g} seconds, not {text}").format(
                least=least, text=text))
        if value > most:
            raise argparse.ArgumentTypeError(_("must be at most {most} seconds ({named}), not {text}").format(
                most=most, named=_(named), text=text) + (_(beyond) if beyond else ""))
        return value
    return parse


duration_s = seconds(DAY, N_("a day"),
                     beyond=N_("; leave --duration out to trace until the workload is done, or until Ctrl-C"))
interval_s = seconds(HOUR, N_("an hour"), least=LEAST_INTERVAL)

# The largest perf buffer, in pages per CPU: libbcc's perf_reader_mmap() computes page_size * (page_cnt + 1) in
# an int, so with 4 KiB pages 2^19 pages overflow it (mmap fails) and 2^20 wrap round to a single page (a buffer
# without room: 0 events, 0 lost); the kernel's own limit (rb_alloc's page array) is near 2^19 pages too. 1 GiB
# per CPU is the largest power of two that fits, whatever the page size. BCC itself wants a power of two.
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MOST_PAGES = (1 << 30) // PAGE_SIZE


def pages_per_cpu(text):
    value = number(int, text)
    if not 1 <= value <= MOST_PAGES or value & (value - 1):
        raise argparse.ArgumentTypeError(_("must be a power of two from 1 to {most}, not {text}").format(
            most=MOST_PAGES, text=text))
    return value


def add_exercise_parsers(sub):
    """exercise, check, watch, hint, solution, progress, next, reset: their work is in learner.py."""
    raw = Formatter
    p = sub.add_parser("exercise", help=_("start a lesson's exercise: your copy of its files, and the task"),
                       formatter_class=raw,
                       epilog=_("examples:\n    python3 -m runner exercise lesson1            # copy the lesson's .c and .py "
                              "into its exercise/ folder\n"
                              "    python3 -m runner exercise lesson1 --restart  # start over (keeps yours as *.previous)"))
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("--restart", action="store_true", help=_("copy the lesson's files again over yours"))
    p = sub.add_parser("check", help=_("check your exercise against the real kernel"), formatter_class=raw,
                       epilog=_("examples:\n    sudo python3 -m runner check lesson1          # passed or not, and why\n"
                              "    sudo python3 -m runner check lesson1 --json   # the same as one JSON object\n"
                              "    sudo python3 -m runner check 1 --dir ~/my-try  # your files in another folder\n\n"
                              "exit codes: 0 passed, 1 not yet, 2 usage error, 3 environment not ready"))
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("-j", "--json", action="store_true", help=_("one JSON object: the results and the run's summary"))
    p.add_argument("--dir", metavar="DIR", help=_("check the files in DIR instead of the lesson's exercise/ folder"))

    p = sub.add_parser("watch", help=_("re-check your exercise each time you save it (Ctrl-C ends)"),
                       formatter_class=raw, epilog=_("example:\n    sudo python3 -m runner watch lesson1"))
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("--dir", metavar="DIR", help=_("watch and check the files in DIR instead"))
    p.add_argument("--interval", type=interval_s, default=0.5, metavar="S",
                   help=_("look for changes every S seconds, {least:g} to {most} (default 0.5)").format(
                       least=LEAST_INTERVAL, most=HOUR))

    p = sub.add_parser("hint", help=_("a hint for a lesson's exercise"), formatter_class=raw,
                       epilog=_("example:\n    python3 -m runner hint lesson1"))
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))

    p = sub.add_parser("solution", help=_("show the reference solution of an exercise (asks first)"),
                       formatter_class=raw, epilog=_("examples:\n    python3 -m runner solution lesson1\n"
                                                   "    python3 -m runner solution lesson1 --yes   # do not ask"))
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("-y", "--yes", action="store_true", help=_("show it without asking"))
    p.add_argument("--write", action="store_true", help=_("also put the solution's files in the exercise folder"))

    p = sub.add_parser("progress", help=_("which lessons and exercises are done"), formatter_class=raw,
                       epilog=_("examples:\n    python3 -m runner progress\n    python3 -m runner progress --json"))
    p.add_argument("-j", "--json", action="store_true", help=_("the same as JSON"))
    sub.add_parser("next", help=_("the next unfinished lesson and what to do there"), formatter_class=raw,
                   epilog=_("example:\n    python3 -m runner next"))
    sub.add_parser("reset", help=_("forget all progress (deletes the progress file)"), formatter_class=raw,
                   epilog=_("example:\n    python3 -m runner reset"))


class _OneCommand:
    """The subcommands of a parser that will parse one known command: that one's parser, and for the others a stand-in
    taking their arguments unread (argparse builds a parser per command: 3 ms of a lesson's start-up for 16)."""

    def __init__(self, sub, command):
        self.sub, self.command = sub, command

    def add_parser(self, name, **kwargs):
        return self.sub.add_parser(name, **kwargs) if name == self.command else _Unbuilt()


class _Unbuilt:
    def add_argument(self, *args, **kwargs):
        return self

    def add_mutually_exclusive_group(self, *args, **kwargs):
        return self


def build_parser(only=None):
    """The command line's parser; only="run": with that command's subparser alone (not for --help, which lists all)."""
    parser = argparse.ArgumentParser(prog="python3 -m runner", description=_("Guided, live BCC lessons."),
                                     epilog=_(EXAMPLES), formatter_class=Formatter)
    parser.add_argument("--debug", action="store_true", help=_("show Python tracebacks for errors"))
    parser.add_argument("--lang", choices=sorted(language.LANGUAGES), default=None,
                        help=_("the runner's language: en or zh (default: the locale's, e.g. LANG=zh_CN.UTF-8 speaks "
                               "Chinese)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        sub = _OneCommand(sub, only)

    sub.add_parser("list", help=_("the lessons, one line each (the default)"),
                   epilog=_("example:\n    python3 -m runner list"), formatter_class=Formatter)

    p = sub.add_parser("doctor", help=_("check this machine: root, bcc, headers, tracefs, probe types"),
                       epilog=_("examples:\n    sudo python3 -m runner doctor\n    sudo python3 -m runner doctor --json"),
                       formatter_class=Formatter)
    p.add_argument("-j", "--json", action="store_true", help=_("one JSON object with every finding"))

    p = sub.add_parser("show", help=_("print a lesson's text and code"),
                       epilog=_("examples:\n    python3 -m runner show lesson1\n"
                              "    python3 -m runner show lesson3 --macros   # its BPF_* macros, as your bcc defines them"),
                       formatter_class=Formatter)
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("--macros", action="store_true",
                   help=_("instead: the BPF_* macros its C program uses, as the installed bcc's libbcc defines them"))

    p = sub.add_parser("macros", help=_("how the installed bcc defines BPF_HASH, BPF_PERF_OUTPUT, ... (read from libbcc)"),
                       epilog=_(MACROS_EXAMPLES), formatter_class=Formatter)
    p.add_argument("names", nargs="*", metavar="NAME", help=_("BPF_HASH, or just hash; none: list the BPF_* macros"))
    p.add_argument("--libbcc", metavar="PATH", help=_("read another libbcc file (e.g. another bcc version's) instead"))

    p = sub.add_parser("run", help=_("run a lesson (also: python3 -m runner LESSON)"),
                       epilog=_("examples:\n    sudo python3 -m runner lesson1\n"
                              "    sudo python3 -m runner lesson1 --events 3 --json\n"
                              "    sudo python3 -m runner lesson1 --duration 30 --no-workload  # your own forks"),
                       formatter_class=Formatter)
    p.add_argument("lesson", help=_("lesson1, 1, lesson01 or the lesson's name"))
    p.add_argument("-d", "--duration", type=duration_s, metavar="S",
                   help=_("trace for S seconds, at most {most} (a day); default: until the workload is done, or "
                          "Ctrl-C with --no-workload").format(most=DAY))
    p.add_argument("-n", "--events", type=positive(int), metavar="N", help=_("stop after N events"))
    p.add_argument("-j", "--json", action="store_true", help=_("one JSON object per event, then a summary object"))
    p.add_argument("-q", "--quiet", action="store_true", help=_("no narration, no code: just the events and the summary"))
    p.add_argument("--no-workload", action="store_true", help=_("do not start the lesson's workload; trace what you do"))
    p.add_argument("--no-code", action="store_true", help=_("do not print the BPF program before running it"))
    p.add_argument("--pages", type=pages_per_cpu, default=None, metavar="N",
                   help=_("perf buffer size in pages of {kib} KiB per CPU, a power of two from 1 to {most} (default 8; "
                          "try 1 to see lost events); for a lesson whose program sizes its ring buffer, the size of "
                          "its one ring (default: the lesson's own)").format(kib=PAGE_SIZE // 1024, most=MOST_PAGES))
    p.add_argument("--interval", type=interval_s, default=1.0, metavar="S",
                   help=_("for map lessons: read and print the map every S seconds, {least:g} to {most} "
                          "(default 1)").format(least=LEAST_INTERVAL, most=HOUR))
    p.add_argument("--pid", type=positive(int), metavar="PID",
                   help=_("trace only this process (lessons that take a pid, e.g. lesson6); implies --no-workload"))
    p.add_argument("--flamegraph", metavar="PATH",
                   help=_("for a profiling lesson: where to write its SVG flame graph, and the folded stacks beside it "
                        "as PATH with .folded (default: lessonN.svg in the current folder)"))
    p.add_argument("--probe", metavar="BINARY:FUNCTION",
                   help=_("the program function to probe (lessons that take one, e.g. lesson6)"))
    p.add_argument("--kernel", metavar="K", help=_("run the lesson inside a VM on Debian's kernel K (6.1 or 6.12, both "
                   "with kprobes), downloaded on first use; --kernel list shows them"))
    p = sub.add_parser("format", help=_("read a tracepoint's format file: fields, or a C struct / ctypes for BCC"),
                       epilog=_(FORMAT_EXAMPLES), formatter_class=Formatter)
    p.add_argument("tracepoint", nargs="?", help=_("category:event, e.g. tcp:tcp_send_reset"))
    p.add_argument("-f", "--file", metavar="PATH", help=_("parse a saved format file (from any kernel) instead"))
    p.add_argument("-l", "--list", action="store_true", help=_("list this kernel's tracepoints (filtered by TRACEPOINT)"))
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("-j", "--json", action="store_true", help=_("the parsed fields as JSON"))
    shape.add_argument("--c", action="store_true", help=_("a C struct for attach_tracepoint(), fixed-width types only"))
    shape.add_argument("--ctypes", action="store_true", help=_("a ctypes.Structure with the same layout"))
    p = sub.add_parser("flamegraph", help=_("draw folded stacks (a;b;c 12 a line, as BCC's stack tools and the "
                       "sampling lessons write them) as an SVG flame graph"),
                       epilog=_("example:\n    python3 -m runner flamegraph stacks.folded -o stacks.svg"),
                       formatter_class=Formatter)
    p.add_argument("folded", help=_("a file of folded stacks"))
    p.add_argument("-o", "--output", metavar="SVG", help=_("where to write the SVG (default: the file's name with .svg)"))
    p.add_argument("--title", default=None, help=_("the title above the graph"))
    add_exercise_parsers(sub)
    p = sub.add_parser("notebook", help=_("JupyterLab on the lesson notebooks, on 127.0.0.1 with a token"),
                       epilog=_(NOTEBOOK_EXAMPLES), formatter_class=Formatter)
    p.add_argument("--port", type=positive(int), metavar="N", help=_("port to listen on (default: a free one)"))
    p.add_argument("--ip", default="127.0.0.1", metavar="ADDR",
                   help=_("loopback only (127.0.0.1, ::1, localhost): other addresses are refused, see the README"))
    p.add_argument("--browser", action="store_true", help=_("also open a browser on this machine"))
    return parser


NOTEBOOK_EXAMPLES = N_("""\
examples:
    sudo .venv/bin/python -m runner notebook             # prints http://127.0.0.1:PORT/lab?token=...
    sudo .venv/bin/python -m runner notebook --port 8888 # a fixed port, e.g. for an SSH tunnel:
    ssh -L 8888:127.0.0.1:8888 you@lab-machine          #   (on your laptop) then open the printed URL
    sudo .venv/bin/python -m runner notebook --lang zh   # the Chinese notebooks (notebooks/zh/)
""")


MACROS_EXAMPLES = N_("""\
examples:
    python3 -m runner macros                     # the BPF_* macros the installed bcc defines
    python3 -m runner macros BPF_HASH            # BPF_HASH, its helpers, and what it expands to (BPF_TABLE)
    python3 -m runner macros percpu_hash array   # BPF_PERCPU_HASH and BPF_ARRAY
    python3 -m runner show lesson3 --macros      # the macros a lesson's program uses

BCC compiles its helpers.h into libbcc (no file of it is installed): these are read from the libbcc that BCC's
Python module loads, so they are your bcc version's own. No root needed; nothing is loaded into the kernel.
""")


FORMAT_EXAMPLES = N_("""\
examples:
    python3 -m runner format sched:sched_process_exec       # offset, size, sign and type of each field
    python3 -m runner format tcp:tcp_send_reset --c         # a C struct that compiles against any headers
    python3 -m runner format --file saved/format --json     # a format file saved on another kernel
    python3 -m runner format --list tcp                     # tracepoints whose name contains "tcp"
""")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """The examples as written; the help as wide as the terminal. argparse asks shutil for that width every time a
    parser adds an argument, and shutil imports bz2 and lzma: 2 ms of every run's start-up. os tells the same."""

    def __init__(self, prog, **kwargs):
        if kwargs.get("width") is None:
            try:
                columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 80
            kwargs["width"] = (columns or 80) - 2  # as argparse does
        super().__init__(prog, **kwargs)


def normalize(argv):
    """`python3 -m runner lesson1 ...` means `run lesson1 ...`; no command means `list`."""
    args = list(argv)
    position = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if position is None:
        if not any(a in ("-h", "--help") for a in args):
            args.append("list")
    elif args[position] not in COMMANDS:
        args.insert(position, "run")
    return args


def cmd_list(args):
    from .doctor import capabilities
    caps = capabilities()
    for lesson in lessons.load_all():
        unknown = [m for m in lesson.prefers if caps.get(m) is None]
        missing = [m for m in lesson.prefers if caps.get(m) is False]
        how = _("live") if not missing else (_("fallback") if lesson.fallback else _("unavailable"))
        note = _(" (this kernel has no {mechanisms})").format(mechanisms=", ".join(missing)) if missing else ""
        if unknown:
            how, note = _("live?"), _(" (run as root to check this machine)")
        print(f"{lesson.id:<9} {render.pad(lesson.title, 44)} {how}{note}")
        print(f"{'':<9} " + _("teaches: {what}").format(what=lesson.teaches))
    print("\n" + _("Run one with: sudo python3 -m runner lesson1   (python3 -m runner show lesson1 to read it first)"))
    return 0


def cmd_doctor(args):
    from . import doctor
    findings = doctor.examine()
    if args.json:
        print(json.dumps(doctor.as_json(findings), indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "warn", "missing": "FAIL"}
        for f in findings:
            print(f"[{marks[f.status]}] {f.name:<12} {f.detail}")
            if f.fix and f.status != "ok":
                print(f"{'':<7}{'':<13}" + _("fix: {fix}").format(fix=f.fix))
        print("\n" + (_("Ready for the lessons.") if doctor.ready(findings) else
                      _("Not ready: fix the FAIL lines above, in order.")))
    return 0 if doctor.ready(findings) else errors.ENVIRONMENT


def cmd_show(args):
    lesson = lessons.find(args.lesson)
    if args.macros:
        from . import macros
        return macros.show_lesson(lesson)
    out = render.Output(lesson)
    out.markdown(lesson.text_path.read_text(encoding="utf-8"))
    out.code(lesson.program_path)
    out.code(lesson.glue_path)
    return 0


def lesson_flags(lesson, words):
    """The lesson's own flags (its `options` tables in lessons.toml) among `words`: {name: value} for its load()."""
    parser = argparse.ArgumentParser(prog=f"python3 -m runner {lesson.id}", add_help=False, formatter_class=Formatter)
    for flag in lesson.flags:
        if flag.type == "bool":
            parser.add_argument(f"--{flag.name.replace('_', '-')}", dest=flag.name, action="store_true",
                                help=flag.help)
        else:
            parser.add_argument(f"--{flag.name.replace('_', '-')}", dest=flag.name, type=lessons.FLAG_TYPES[flag.type],
                                default=flag.default, metavar=flag.type.upper(), help=flag.help)
    given, unknown = parser.parse_known_args(words)
    if unknown:
        own = ", ".join(f"--{f.name.replace('_', '-')}" for f in lesson.flags)
        message = _("{lesson} got unrecognized arguments: {arguments}.").format(lesson=lesson.id,
                                                                              arguments=" ".join(unknown))
        raise errors.UsageError(message, fix=_("python3 -m runner run --help lists the flags; {lesson} also takes {flags}.")
                                .format(lesson=lesson.id, flags=own) if own else
                                _("python3 -m runner run --help lists the flags."))
    return {k: v for k, v in vars(given).items() if v is not None}


def run_options(args, lesson):
    """The command line's flags as the run engine's options."""
    from . import session, targets
    load_args = dict(targets.params(args), **lesson_flags(lesson, args.rest))
    return session.RunOptions(duration=args.duration, events=args.events, pages=args.pages, interval=args.interval,
                              workload=not args.no_workload and args.pid is None,  # --pid: the learner's process
                              load_args=load_args, show_code=not args.no_code, interruptible_load=True,
                              flamegraph=args.flamegraph)


def cmd_run(args):
    if args.kernel:
        from . import vm
        if args.kernel != "list":
            lessons.find(args.lesson)  # an unknown lesson is a usage error before any VM boots
        return vm.run_lesson(args.kernel, args.argv)
    from . import session
    lesson = lessons.find(args.lesson)
    options = run_options(args, lesson)
    return session.run(lesson, options, render.Output(lesson, json_mode=args.json, quiet=args.quiet))


def cmd_flamegraph(args):
    from pathlib import Path

    from . import flamegraph
    source = Path(args.folded)
    try:
        stacks = flamegraph.read_folded(source.read_text())
    except OSError as err:
        raise errors.UsageError(_("{path} cannot be read ({reason}).").format(path=source, reason=err.strerror),
                                fix=_("Give a file of folded stacks, such as a sampling lesson writes, e.g. "
                                      "stacks.folded")) from err
    except ValueError as err:
        raise errors.UsageError(_("{path} is not folded stacks: {reason}.").format(path=source, reason=err),
                                fix=_("Each line is frames joined by ; then a space and a count: main;hot 12")) from err
    out = Path(args.output) if args.output else source.with_suffix(".svg")
    try:
        out.write_text(flamegraph.svg(stacks, title=args.title))
    except OSError as err:
        raise errors.UsageError(_("{path} cannot be written ({reason}).").format(path=out, reason=err.strerror),
                                fix=_("Give another path with -o.")) from err
    print(_("{path}: {samples} samples in {stacks} stacks; open it in a browser.").format(
        path=out, samples=sum(stacks.values()), stacks=len(stacks)))
    return 0


def cmd_format(args):
    from lessons import formats
    try:
        return _format(formats, args)
    except formats.FormatError as err:
        raise errors.UsageError(str(err), fix=err.fix) from err
    except formats.NoTracefs as err:
        raise errors.EnvironmentNotReady(str(err), fix=err.fix) from err


def _format(formats, args):
    if args.list:
        found = formats.list_tracepoints(pattern=args.tracepoint or "")
        print("\n".join(found) if found else _("No tracepoint matches {pattern}.").format(pattern=repr(args.tracepoint)))
        return 0
    if args.file:
        fmt = formats.parse_file(args.file)
    elif args.tracepoint:
        fmt = formats.read(args.tracepoint)
    else:
        raise errors.UsageError(_("Name a tracepoint or a saved format file."),
                                fix=_("e.g. python3 -m runner format tcp:tcp_send_reset, or --file PATH"))
    if args.json:
        print(json.dumps(fmt.to_json(), indent=2))
    elif args.c:
        print(formats.c_struct(fmt), end="")
    elif args.ctypes:
        print(formats.ctypes_source(fmt), end="")
    else:
        print(formats.table(fmt))
    return 0


def cmd_macros(args):
    from . import macros
    return macros.show(args.names, libbcc=args.libbcc)


def cmd_notebook(args):
    from . import notebook
    return notebook.serve(address=args.ip, port=args.port, open_browser=args.browser)


def main(argv=None):
    code = _main(argv)
    session = sys.modules.get(f"{__package__}.session")
    if session is not None and session.ABANDONED:  # a signal came while BCC compiled: end now (session.ABANDONED)
        with contextlib.suppress(OSError, ValueError):
            print(_("Stopped while BCC compiled and loaded the program: nothing of it stays in the kernel."),
                  file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv):
    if sys.stdout is None:  # started with standard output closed (>&-)
        _error(errors.UsageError(_("Standard output is closed, so the runner has nowhere to print."),
                                 fix=_("Run it again with its output going to the terminal, a file or a pipe.")))
        return errors.USAGE
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # accepted wherever it is typed, before the command or after the lesson
    argv = [a for a in argv if a != "--debug"]
    lang, argv = language.take(argv)  # also accepted anywhere
    language.use(lang)  # before the parser: its help is in that language too
    argv = normalize(argv)
    asks_help = any(a.startswith("--h") or a.startswith("-") and not a.startswith("--") and "h" in a for a in argv)
    parser = build_parser(only="run" if argv[:1] == ["run"] and not asks_help else None)
    args, args.rest = parser.parse_known_args(argv)  # rest: a lesson's own flags, read once it is known
    if args.rest and args.command != "run":
        parser.error(_("unrecognized arguments: {arguments}").format(arguments=" ".join(args.rest)))
    args.debug = debug
    args.argv = argv + (["--debug"] if debug else []) + (["--lang", lang] if lang else [])  # for --kernel: the same command again, inside the VM
    command = {"list": cmd_list, "doctor": cmd_doctor, "show": cmd_show, "run": cmd_run, "format": cmd_format,
               "macros": cmd_macros, "flamegraph": cmd_flamegraph, "notebook": cmd_notebook}.get(args.command)
    try:
        if command is None:  # imported only for these commands: a lesson run does not pay for them
            from . import learner
            command = learner.HANDLERS[args.command]
        code = command(args)
        if args.command == "run" and code == 0:
            from . import progress
            progress.note_run(args.lesson)  # for python3 -m runner progress and next
        sys.stdout.flush()  # a full disk is said here, not as an error Python ignores at exit
        return code
    except errors.RunnerError as err:
        if args.debug:
            raise
        _error(err)
        return err.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): nothing more to say, and no one to say it to
        _drop_stdout()
        return 0
    except errors.Terminated as term:  # SIGTERM held during cleanup, delivered once it was done
        return 128 + term.signum
    except OSError as err:
        if args.debug or err.errno not in OUTPUT_ERRNOS:
            return _unexpected(err, args)
        _drop_stdout()
        from . import signals
        if signals.hung_up():  # the terminal closed: SIGHUP, then every write fails (EIO); nobody is left to tell
            return 128 + signals.signal.SIGHUP
        _error(errors.EnvironmentNotReady(_("Could not write the output ({reason}).").format(reason=err.strerror),
                                          fix=_("Send it where it can be written: a file with room, a pipe (| less), "
                                                "or the terminal.")))
        return errors.LESSON_FAILED
    except Exception as err:
        return _unexpected(err, args)


# A write to stdout failed: a full disk or quota (> /dev/full), a file too big, a terminal gone (EIO, ENXIO), an
# output not open for writing (EBADF: 1<&0). A run detached before the error got here.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.ENXIO, errno.EBADF}


def _drop_stdout():
    """What is left in stdout's buffer goes nowhere: no second error when Python flushes it at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _error(err):
    try:
        render.error(err)
    except OSError:  # stderr is gone too (a closed terminal): the exit code says it
        pass


def _unexpected(err, args):
    if args.debug:
        raise err
    _error(errors.LessonFailed(_("Unexpected error: {error}.").format(error=err),
                               fix=_("Run again with --debug to see the traceback, and report it if the lesson's "
                                     "files are unchanged.")))
    return errors.LESSON_FAILED


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C just before main() handles it, or just after
        sys.exit(130)
