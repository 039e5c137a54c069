"""The command line as a learner meets it: exit codes, one-sentence errors, never a traceback."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from runner.__main__ import loads_bpf, normalize
from tests.support import ROOT, runner


def test_no_arguments_lists_the_lessons():
    proc = runner()
    assert proc.returncode == 0
    assert "lesson1" in proc.stdout and "Hello world" in proc.stdout


def test_help_documents_exit_codes_and_examples():
    proc = runner("--help")
    assert proc.returncode == 0
    for text in ("exit codes:", "0  ok", "1  the lesson failed", "2  usage error", "3  environment not ready", "examples:"):
        assert text in proc.stdout


@pytest.mark.parametrize("args, says", [
    (["lesson99"], "There is no lesson called 'lesson99'"),
    (["show", "nope"], "There is no lesson called 'nope'"),
    (["lesson1", "--duration", "0"], "must be greater than 0"),
    (["lesson1", "--duration", "-3"], "must be greater than 0"),
    (["lesson1", "--events", "0"], "must be greater than 0"),
    (["lesson1", "--events", "many"], "is not a number"),
    (["lesson1", "--frobnicate"], "unrecognized arguments"),
    (["doctor", "--frobnicate"], "unrecognized arguments"),
])
def test_usage_errors_exit_2_with_one_sentence_and_no_traceback(args, says):
    proc = runner(*args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unknown_lesson_names_the_fix():
    proc = runner("lesson99")
    assert "fix: Choose one of: lesson1" in proc.stderr


@pytest.mark.parametrize("argv, expected", [
    ([], ["list"]),
    (["lesson1"], ["run", "lesson1"]),
    (["--debug", "3", "--json"], ["--debug", "run", "3", "--json"]),
    (["doctor", "--json"], ["doctor", "--json"]),
    (["--help"], ["--help"]),
])
def test_a_lesson_name_alone_means_run(argv, expected):
    assert normalize(argv) == expected


def as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


needs_root_to_drop = pytest.mark.skipif(os.geteuid() != 0, reason="dropping to the nobody user needs root; "
                                        "as a normal user these commands already run without root")


def run_as_nobody(*args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=as_nobody, env=env, timeout=60)


@needs_root_to_drop
def test_list_and_show_need_no_root():
    assert run_as_nobody("list").returncode == 0
    proc = run_as_nobody("show", "lesson1")
    assert proc.returncode == 0, proc.stderr
    assert "bpf_trace_printk" in proc.stdout and "def load(" in proc.stdout


@needs_root_to_drop
def test_running_a_lesson_without_root_exits_3_and_says_sudo():
    proc = run_as_nobody("lesson1")
    assert proc.returncode == 3
    assert "needs root" in proc.stderr and "fix: run with sudo" in proc.stderr
    assert "Traceback" not in proc.stderr


def doctor_with(tmp_path, *python_flags, pythonpath=None):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *python_flags, "-m", "runner", "doctor", "--json"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)


def test_doctor_names_the_unrelated_pypi_bcc_when_it_shadows_bcc(tmp_path):
    fake = tmp_path / "bcc"
    fake.mkdir()
    (fake / "__init__.py").write_text('"""A lattice library that happens to be called bcc."""\n')
    proc = doctor_with(tmp_path, pythonpath=tmp_path)
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    bcc = next(f for f in report["findings"] if f["name"] == "bcc")
    assert report["ready"] is False and bcc["status"] == "missing"
    assert "unrelated PyPI package 'bcc'" in bcc["detail"] and bcc["fix"].startswith("pip uninstall -y bcc")


def test_doctor_says_how_to_install_bcc_when_it_is_missing(tmp_path):
    # a bcc that does not import, as in a venv made without --system-site-packages
    (tmp_path / "bcc").mkdir()
    (tmp_path / "bcc" / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'bcc\'", name="bcc")\n')
    proc = doctor_with(tmp_path, pythonpath=tmp_path)
    assert proc.returncode == 3, proc.stderr
    bcc = next(f for f in json.loads(proc.stdout)["findings"] if f["name"] == "bcc")
    assert bcc["status"] == "missing" and "comes from the OS, not from pip" in bcc["detail"]
    assert "python3-bpfcc" in bcc["fix"]


def test_without_a_toml_parser_the_runner_says_what_to_install(monkeypatch, capsys, tmp_path):
    import shutil
    import sys

    from runner import lessons
    from runner.__main__ import main
    shutil.copytree(lessons.ROOT / "lessons", tmp_path / "lessons")
    shutil.rmtree(tmp_path / "lessons" / "__pycache__", ignore_errors=True)  # no parsed copy kept from a run before
    monkeypatch.setenv(lessons.DIR_ENV, str(tmp_path / "lessons"))
    monkeypatch.setitem(sys.modules, "tomllib", None)  # None: the import fails, as on Python 3.9 without tomli
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert main(["list"]) == 3
    err = capsys.readouterr().err
    assert "needs tomllib (Python 3.11 and later) or the tomli package" in err and "sudo make setup" in err


def test_the_lesson_list_is_parsed_once_and_then_read_from_its_kept_copy(monkeypatch, tmp_path):
    import sys

    from runner import lessons
    toml = tmp_path / "lessons.toml"
    toml.write_text((lessons.ROOT / "lessons" / "lessons.toml").read_text())
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    first = lessons.parsed(toml)
    kept = tmp_path / "__pycache__" / "lessons.toml.json"
    assert kept.exists()
    monkeypatch.setitem(sys.modules, "tomllib", None)  # the kept copy needs no TOML parser
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert lessons.parsed(toml) == first
    toml.write_text(toml.read_text().replace('title = "Hello world', 'title = "Hello kernel', 1))
    with pytest.raises(lessons.EnvironmentNotReady):  # changed: parsed again, which needs the parser
        lessons.parsed(toml)
    monkeypatch.delitem(sys.modules, "tomllib")
    monkeypatch.delitem(sys.modules, "tomli")
    changed = lessons.parsed(toml)
    assert changed != first and changed["lesson"][0]["title"].startswith("Hello kernel")


def test_the_documented_python3_runs_the_runner_with_the_checkouts_venv():
    """The docs say `python3 -m runner`: another Python than the .venv's (here the system's, which has no rich and,
    before 3.11, no tomli) hands over to the .venv's, which the set-up filled."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    other = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if Path(p).exists()), None)
    if not venv_python.exists() or other is None:
        pytest.skip("needs the set-up's .venv and a system python3")
    env = {k: v for k, v in os.environ.items() if k != "BCC_LESSONS_NO_REEXEC"}
    proc = subprocess.run([other, "-m", "runner", "doctor", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    findings = {f["name"]: f for f in json.loads(proc.stdout)["findings"]}
    assert str(venv_python) in findings["python"]["detail"], findings["python"]


def test_a_reader_that_stops_early_ends_the_runner_quietly():
    proc = subprocess.run(f"{sys.executable} -m runner doctor --json | head -c 10", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert "Unexpected error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# A Ctrl-C that lands in one of the runner's start-up imports: the module every import would be at that moment.
# CI's Debian 13 (Python 3.13, whose site does not import pathlib) once met one in `from pathlib import Path`.
INTERRUPT_AT_IMPORT = """
import runpy, sys
AT = sys.argv[1]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            raise KeyboardInterrupt
for name in [n for n in sys.modules if n == AT or n.startswith(AT + ".")]:
    del sys.modules[name]  # as on a Python whose site did not import it
sys.meta_path.insert(0, Interrupt())
sys.argv = ["runner", "list"]
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["pathlib", "argparse", "json", "runner.errors", "runner.lessons", "runner.render"])
def test_ctrl_c_while_the_runner_imports_exits_130_without_a_traceback(module):
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_AT_IMPORT, module], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "BCC_LESSONS_NO_REEXEC": "1"})
    assert (proc.returncode, proc.stderr) == (130, ""), proc.stderr


# -- issue 17: inputs without bounds and odd lesson names ------------------------------------------------------

def parse_only(argv, capsys):
    """Parse argv as main() does, and nothing more (no lesson runs, no BPF): (exit code, stderr)."""
    from runner.__main__ import build_parser
    try:
        build_parser().parse_known_args(normalize(argv))
    except SystemExit as exit:
        return exit.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


def most_pages():
    """The largest perf buffer libbcc maps: page_size * (pages + 1) must fit in its int (1 GiB of pages per CPU)."""
    return (1 << 30) // os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("argv, code, says", [
    (["lesson1", "--duration", "nan"], 2, "argument -d/--duration: must be a finite number of seconds, not nan"),
    (["lesson1", "--duration", "inf"], 2, "argument -d/--duration: must be a finite number of seconds, not inf"),
    (["lesson1", "--duration=-inf"], 2, "must be a finite number of seconds, not -inf"),
    (["lesson1", "--duration", "-inf"], 2, "argument -d/--duration: expected one argument"),  # argparse: an option
    (["lesson1", "--duration", "1e308"], 2, "must be at most 86400 seconds (a day), not 1e308; leave --duration out"),
    (["lesson1", "--duration", "86401"], 2, "must be at most 86400 seconds (a day), not 86401"),
    (["lesson1", "--duration", "0"], 2, "must be greater than 0, not 0"),
    (["lesson1", "--duration", "soon"], 2, "'soon' is not a number"),
    (["lesson3", "--interval", "nan"], 2, "argument --interval: must be a finite number of seconds, not nan"),
    (["lesson3", "--interval", "inf"], 2, "argument --interval: must be a finite number of seconds, not inf"),
    (["lesson3", "--interval", "1e308"], 2, "argument --interval: must be at most 3600 seconds (an hour), not 1e308"),
    (["lesson3", "--interval", "0.001"], 2, "argument --interval: must be at least 0.01 seconds, not 0.001"),
    (["lesson3", "--interval", "-1"], 2, "must be greater than 0, not -1"),
    (["watch", "lesson1", "--interval", "nan"], 2, "argument --interval: must be a finite number of seconds, not nan"),
    (["watch", "lesson1", "--interval", "inf"], 2, "argument --interval: must be a finite number of seconds, not inf"),
    (["watch", "lesson1", "--interval", "0"], 2, "must be greater than 0, not 0"),
    (["watch", "lesson1", "--interval", "1e9"], 2, "must be at most 3600 seconds (an hour), not 1e9"),
    (["lesson2", "--pages", "3"], 2, f"argument --pages: must be a power of two from 1 to {most_pages()}, not 3"),
    (["lesson2", "--pages", "1000000"], 2, f"must be a power of two from 1 to {most_pages()}, not 1000000"),
    (["lesson2", "--pages", str(most_pages() * 2)], 2, f"must be a power of two from 1 to {most_pages()}"),
    (["lesson2", "--pages", str(1 << 20)], 2, f"must be a power of two from 1 to {most_pages()}, not 1048576"),
    (["lesson2", "--pages", "0"], 2, f"must be a power of two from 1 to {most_pages()}, not 0"),
    (["lesson2", "--pages", "-8"], 2, f"must be a power of two from 1 to {most_pages()}, not -8"),
    (["lesson2", "--pages", "eight"], 2, "'eight' is not a number"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_numbers_that_cannot_mean_a_time_or_a_buffer_are_usage_errors(argv, code, says, capsys):
    got, err = parse_only(argv, capsys)
    assert got == code
    assert says in err, err


@pytest.mark.parametrize("argv", [
    ["lesson1", "--duration", "86400"], ["lesson1", "--duration", "0.5"], ["lesson3", "--interval", "0.01"],
    ["lesson3", "--interval", "3600"], ["watch", "lesson1", "--interval", "0.2"], ["lesson2", "--pages", "1"],
    ["lesson2", "--pages", "64"], ["lesson2", "--pages", str(most_pages())],
], ids=" ".join)
def test_numbers_within_the_documented_ranges_are_accepted(argv, capsys):
    assert parse_only(argv, capsys) == (0, "")


def test_run_help_documents_the_ranges():
    text = " ".join(runner("run", "--help").stdout.split())
    assert "a power of two from 1 to" in text and "at most 86400 (a day)" in text and "0.01 to 3600" in text


@pytest.mark.parametrize("name, code, says", [
    ("lesson-1", 2, "There is no lesson called 'lesson-1'."),
    ("lesson_1", 2, "There is no lesson called 'lesson_1'."),
    ("lesson\uff11", 2, "There is no lesson called 'lesson\uff11'."),   # full-width 1
    ("\uff11", 2, "There is no lesson called '\uff11'."),
    ("lesson\u0663", 2, "There is no lesson called 'lesson\u0663'."),   # Arabic-Indic 3
    ("lesson1_bpf_hash", 2, "There is no lesson called 'lesson1_bpf_hash'."),  # lesson 3's name with lesson 1's number
    ("lesson3_hello", 2, "There is no lesson called 'lesson3_hello'."),
    ("lesson1_hello", 0, "bpf_trace_printk"),   # the real folder names are accepted
    ("lesson3_bpf_hash", 0, "BPF_HASH"),
    ("lessons/lesson3_bpf_hash/", 0, "BPF_HASH"),
    ("lesson01", 0, "bpf_trace_printk"),
])
def test_odd_lesson_names_are_refused_and_folder_names_accepted(name, code, says):
    proc = runner("show", name)
    assert proc.returncode == code, proc.stderr
    assert says in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 2:
        assert "fix: Choose one of: lesson1" in proc.stderr


@needs_root_to_drop
@pytest.mark.parametrize("args", [["format", "sched:sched_switch"], ["format", "--list", "sched"],
                                  ["format", "sched:sched_switch", "--c"]], ids=" ".join)
def test_reading_a_live_tracepoint_without_root_says_it_needs_root(args):
    proc = run_as_nobody(*args)
    assert proc.returncode == 3, proc.stderr
    assert "Reading this kernel's tracepoints needs root" in proc.stderr
    assert "fix: Run it with sudo" in proc.stderr and "--file" in proc.stderr
    assert "Traceback" not in proc.stderr and "Unexpected error" not in proc.stderr


@needs_root_to_drop
def test_a_saved_format_file_needs_no_root():
    saved = ROOT / "tests" / "unit" / "fixtures" / "formats" / "tcp_send_reset-5.15.format"
    proc = run_as_nobody("format", "--file", saved, "--c")
    assert proc.returncode == 0, proc.stderr
    assert "struct tcp_send_reset_args {" in proc.stdout


@pytest.mark.parametrize("argv", [
    ["lesson1"], ["lesson3", "--events", "2", "--json", "--interval", "0.5"], ["run", "lesson6", "--pid", "1", "-q"],
    ["lesson7", "--pages", "4", "--rate", "9"], ["lesson1", "-n", "x"], ["lesson1", "--pages", "3"], ["run"],
])
def test_the_run_command_parses_alike_with_its_parser_alone(argv, capsys):
    """A lesson's run builds only the run command's parser (start-up); it must read the same line as the full one."""
    from runner.__main__ import build_parser
    results = []
    for only in (None, "run"):
        try:
            args, rest = build_parser(only=only).parse_known_args(normalize(argv))
            results.append((vars(args), rest, None))
        except SystemExit as exit:
            results.append((None, None, (exit.code, capsys.readouterr().err)))
    assert results[0] == results[1]


@pytest.mark.parametrize("argv, loads", [
    (["lesson7"], True), (["7", "--events", "1"], True), (["run", "lesson7"], True), (["check", "lesson1"], True),
    (["watch", "lesson1"], True), (["--lang", "zh", "lesson7"], True), (["--debug", "lesson7", "--json"], True),
    ([], False), (["list"], False), (["show", "lesson7"], False), (["--lang", "zh", "show", "lesson1"], False),
    (["doctor"], False), (["lesson7", "--help"], False), (["-h"], False), (["lesson4", "--kernel", "6.12"], False),
    (["exercise", "lesson1"], False), (["notebook"], False), (["format", "sched:sched_switch"], False),
])
def test_libbcc_loads_early_for_the_commands_that_run_a_lesson_here(argv, loads):
    assert loads_bpf(argv) is loads


LOAD_EARLY = """
import sys, threading
from runner import libbcc
libbcc.LIBRARY = sys.argv[1].encode()
libbcc.load_early()
next(t for t in threading.enumerate() if t.name == "libbcc-load").join(30)
maps = lambda: [line.split()[-1] for line in open("/proc/self/maps") if "libbcc.so" in line]
early = maps()
try:
    import bcc
except ImportError:
    print("no bcc")
    raise SystemExit
print(len(early), bool(early) and set(early) == set(maps()), bcc.lib._name)
"""


def test_load_early_loads_the_libbcc_that_bccs_own_import_then_uses():
    proc = subprocess.run([sys.executable, "-c", LOAD_EARLY, "libbcc.so.0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "no bcc":
        pytest.skip("BCC's Python module is not installed here, so there is no libbcc to load")
    mapped, same, name = proc.stdout.split()
    assert int(mapped) > 0 and same == "True", proc.stdout  # loaded by the thread; bcc's import mapped nothing new
    assert name == "libbcc.so.0"


def test_load_early_without_the_library_says_nothing_and_leaves_the_import_to_say_it():
    proc = subprocess.run([sys.executable, "-c", LOAD_EARLY, "libbcc-not-installed.so.0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.split()[:1] in (["0"], ["no"]), proc.stdout



def test_a_runner_that_ends_while_libbcc_loads_ends_cleanly(tmp_path):
    """A runner that ends a few ms after it started loading libbcc (here: bcc's Python module does not import):
    Python 3.13 died of SIGSEGV or SIGABRT in the loader's exit code, 8 times in 30, when the loading thread was a
    daemon that Python's exit did not wait for."""
    shadow = tmp_path / "bcc"
    shadow.mkdir()
    (shadow / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'bcc\'", name="bcc")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    codes = [subprocess.run([sys.executable, "-m", "runner", "lesson1"], cwd=ROOT, capture_output=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=60).returncode for _ in range(20)]
    assert codes == [3] * 20  # root: bcc is not importable; anyone else: not root. Either way, said and ended
