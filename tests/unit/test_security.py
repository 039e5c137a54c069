"""Security: no shell commands, private state files, a loopback notebook with a token, doctor on loose permissions."""

import ast
import io
import os
import stat
from pathlib import Path

import pytest

from runner import notebook, permissions, progress
from runner.errors import UsageError
from tests.support import ROOT

RUNNER_FILES = sorted((ROOT / "runner").rglob("*.py"))


def calls(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def name_of(func):
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return getattr(func, "id", getattr(func, "attr", ""))


@pytest.mark.parametrize("path", RUNNER_FILES, ids=lambda p: p.name)
def test_the_runner_never_runs_a_shell_command(path):
    """Commands are argv lists: nothing a learner types (a lesson, --probe, --pid, a path) reaches a shell."""
    for call in calls(path):
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        assert name_of(call.func) not in ("os.system", "os.popen", "subprocess.getoutput",
                                          "subprocess.getstatusoutput"), f"{where} runs a shell"
        for keyword in call.keywords:
            assert not (keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                        and keyword.value.value is False)), f"{where}: shell=..."
        if name_of(call.func).split(".")[-1] in ("run", "Popen", "call", "check_call", "check_output") and call.args:
            assert not isinstance(call.args[0], (ast.JoinedStr, ast.BinOp)), f"{where}: a command built as a string"


def test_state_files_and_directories_are_private_whatever_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    old = os.umask(0)  # the most permissive umask a learner could have
    try:
        assert progress.record("lesson1", ran=True) == []
    finally:
        os.umask(old)
    path = progress.state_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "state", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_the_notebook_server_gets_a_fresh_token_and_loopback_only(monkeypatch, tmp_path):
    started = []

    class Server:
        def __init__(self, argv, env, cwd):
            started.append((argv, env))

        def poll(self):
            return None

        def wait(self, timeout=None):
            return 0

    # Imported before Popen is replaced: a module that does `from subprocess import Popen` on import (jupyter_client)
    # would keep the fake for the rest of the session, and the notebook tests after this one would start nothing.
    for module in ("ipykernel", "ipywidgets", "jupyterlab"):  # what serve() imports
        pytest.importorskip(module)
    monkeypatch.setattr(notebook.subprocess, "Popen", Server)
    monkeypatch.setattr(notebook.server, "ensure_kernelspec", lambda *a, **k: None)
    monkeypatch.setattr(notebook.server, "CLASSROOM_DIR", tmp_path)
    monkeypatch.setattr(notebook.server, "ensure_lab_settings", lambda *a, **k: None)
    monkeypatch.setattr(notebook.server.os, "geteuid", lambda: 0)  # serve() runs as root only
    monkeypatch.setattr(notebook.server, "wait_until_guarded", lambda *a, **k: True)  # the live 403 check: tests/notebooks
    tokens = set()
    for _ in range(2):
        printed = io.StringIO()
        assert notebook.serve(address="127.0.0.1", port=8123, stream=printed) == 0
        argv, env = started[-1]
        token = env["JUPYTER_TOKEN"]
        assert len(token) >= 24 and token not in tokens, "a fresh, long token each time"
        tokens.add(token)
        assert "--ServerApp.ip=127.0.0.1" in argv and not any("token" in a.lower() for a in argv)
        assert f"--ServerApp.root_dir={tmp_path}" in argv and list(tmp_path.glob("lesson1_*.ipynb"))  # copies
        assert f"http://127.0.0.1:8123/lab?token={token}" in printed.getvalue()
    for address in ("0.0.0.0", "::", "192.168.1.10"):
        with pytest.raises(UsageError):
            notebook.serve(address=address, port=8123)
    assert len(started) == 2, "a refused address starts nothing"


def test_doctor_warns_when_code_run_as_root_is_writable_by_others(tmp_path, monkeypatch):
    monkeypatch.setattr(permissions.os, "geteuid", lambda: 0)
    tight, loose = tmp_path / "tight", tmp_path / "loose dir"
    tight.mkdir(mode=0o755)
    loose.mkdir()
    os.chmod(tight, 0o755)
    os.chmod(loose, 0o777)
    assert permissions.check_permissions([tight]).status == "ok"
    finding = permissions.check_permissions([tight, loose, tmp_path / "absent"])
    assert finding.status == "warn" and str(loose) in finding.detail and str(tight) not in finding.detail
    assert finding.fix == f"chmod go-w '{loose}'"
    os.chmod(loose, 0o775)  # group-writable is enough to warn
    assert permissions.check_permissions([loose]).status == "warn"
    monkeypatch.setattr(permissions.os, "geteuid", lambda: 1000)
    assert permissions.check_permissions([loose]) is None, "not root: a learner's own files, nothing to warn about"


def test_doctor_checks_bcc_the_repository_and_its_venv():
    paths = permissions.trusted_paths()
    assert ROOT in paths and ROOT / ".venv" in paths
    try:
        import bcc
    except ImportError:
        return
    assert Path(bcc.__file__).parent in paths
