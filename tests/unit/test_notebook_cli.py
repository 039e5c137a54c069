"""python -m runner notebook: loopback only, a token, --allow-root as root; no server is started here."""

import os

import pytest

from runner import notebook
from runner.errors import UsageError
from runner.lessons import ROOT
from tests.support import runner


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_notebook_refuses_to_listen_beyond_loopback(address):
    with pytest.raises(UsageError, match="run any code on this machine"):
        notebook.check_loopback(address)


def test_notebook_cli_refuses_0_0_0_0_with_exit_2_and_the_ssh_fix():
    proc = runner("notebook", "--ip", "0.0.0.0", timeout=60)
    assert proc.returncode == 2
    assert "Refusing to serve the notebooks on 0.0.0.0" in proc.stderr and "ssh -L" in proc.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_notebook_accepts_loopback(address):
    assert notebook.check_loopback(address) == address


def test_server_command_binds_loopback_and_keeps_the_token_out_of_argv():
    argv = notebook.server_command("127.0.0.1", 8123)
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=8123" in argv
    assert f"--ServerApp.root_dir={notebook.NOTEBOOKS_DIR}" in argv
    assert not any("token" in a.lower() for a in argv)  # JUPYTER_TOKEN, not argv: ps shows argv to everyone
    assert ("--allow-root" in argv) == (os.geteuid() == 0)


def test_notebook_help_ends_with_examples():
    proc = runner("notebook", "--help", timeout=60)
    assert proc.returncode == 0 and "examples:" in proc.stdout and "runner notebook --port" in proc.stdout


def test_kernelspec_uses_this_python_with_the_repository_on_its_path(tmp_path):
    import json
    import sys
    folder = notebook.ensure_kernelspec(prefix=tmp_path)
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["env"]["PYTHONPATH"] == str(ROOT)
