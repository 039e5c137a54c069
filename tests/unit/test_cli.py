"""The command line as a learner meets it: exit codes, one-sentence errors, never a traceback."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from runner.__main__ import normalize
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


def test_without_a_toml_parser_the_runner_says_what_to_install(monkeypatch, capsys):
    import sys

    from runner.__main__ import main
    monkeypatch.setitem(sys.modules, "tomllib", None)  # None: the import fails, as on Python 3.9 without tomli
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert main(["list"]) == 3
    err = capsys.readouterr().err
    assert "needs tomllib (Python 3.11 and later) or the tomli package" in err and "sudo make setup" in err


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
