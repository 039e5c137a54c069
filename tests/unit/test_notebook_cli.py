"""python3 -m runner notebook: loopback only, a token, --allow-root as root; no server is started here."""

import json
import os
import shutil
import subprocess
import sys

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


def _run_and_save(path, source_of_first_code=None):
    """What JupyterLab writes after Run All and an autosave: outputs, counts, widget state, cell metadata."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 3
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["Still attached\n"]}]
            cell["metadata"]["scrolled"] = True
            if source_of_first_code is not None:
                cell["source"] = [source_of_first_code]
                source_of_first_code = None
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path.write_text(json.dumps(nb, indent=2))


def test_a_notebook_run_and_saved_in_jupyterlab_still_passes_the_check_but_an_edited_cell_does_not(tmp_path):
    build = [sys.executable, str(ROOT / "notebooks" / "build.py"), "--out", str(tmp_path), "lesson1"]
    subprocess.run(build, check=True, capture_output=True)
    (path,) = tmp_path.glob("lesson1_*.ipynb")
    _run_and_save(path)
    assert subprocess.run([*build, "--check"], capture_output=True, text=True).returncode == 0
    _run_and_save(path, source_of_first_code="print('changed')\n")
    proc = subprocess.run([*build, "--check"], capture_output=True, text=True)
    assert proc.returncode == 1 and "differs from its README" in proc.stderr


def test_the_server_serves_copies_keeps_a_teachers_saved_runs_and_refreshes_a_changed_lesson(tmp_path):
    from runner.notebook import server
    built, served = tmp_path / "built", tmp_path / "served"
    built.mkdir()
    shutil.copy(next((ROOT / "notebooks").glob("lesson1_*.ipynb")), built)
    (original,) = built.glob("*.ipynb")
    server.classroom_copies(built, served)
    (copy,) = served.glob("*.ipynb")
    assert copy.read_text() == original.read_text()
    _run_and_save(copy)
    saved = copy.read_text()
    server.classroom_copies(built, served)
    assert copy.read_text() == saved and original.read_text() != saved  # the run is kept; notebooks/ untouched
    _run_and_save(original, source_of_first_code="print('lesson changed')\n")
    server.classroom_copies(built, served)
    assert copy.read_text() == original.read_text()
    assert copy.with_suffix(".previous.ipynb").read_text() == saved


def test_the_server_turns_off_jupyters_news_box_and_keeps_other_settings(tmp_path):
    from runner.notebook import server
    path = server.lab_overrides(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    server.ensure_lab_settings(tmp_path)
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}


def test_the_notebooks_own_kernel_is_named_in_its_counts():
    from runner.notebook.controller import Controller
    c = Controller("lesson3")
    c._add({"interval": 1, "comm": "python", "pid": os.getpid(), "count": 43, "slept_ms": 6967.5})
    c._add({"interval": 1, "comm": "bcc-workload", "pid": 4242, "count": 60, "slept_ms": 1201.0})
    comms = {r["pid"]: r["comm"] for r in c.count_rows()}
    assert comms == {os.getpid(): "python (this notebook)", 4242: "bcc-workload"}
