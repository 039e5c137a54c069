"""python3 -m runner notebook: loopback only, a token, root only, Jupyter's config ignored; no server is started here.

(tests/notebooks/test_server_security.py starts real servers: config, signals, runtime files.)
"""

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runner import notebook
from runner.errors import ENVIRONMENT, EnvironmentNotReady, UsageError
from runner.lessons import ROOT
from tests.support import runner


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.10", "10.1.2.3", "::ffff:127.0.0.1"])
def test_notebook_refuses_to_listen_beyond_loopback(address):
    with pytest.raises(UsageError, match="run any code on this machine"):
        notebook.check_loopback(address)


def resolving(monkeypatch, names):
    """socket.getaddrinfo as if /etc/hosts (or DNS) said `names` {name: [address, ...]}; numbers stay numbers."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in names:
            return real(host, port, family, type, proto, flags)
        if not names[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port or 0, 0, 0) if ":" in a else (a, port or 0)) for a in names[host]]
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("name, addresses", [
    ("classroom.example", ["192.0.2.10"]),          # a name for another machine
    ("localhost", ["10.1.2.3"]),                    # /etc/hosts edited: localhost is not loopback here
    ("dual.example", ["127.0.0.1", "192.0.2.7"]),   # one loopback address is not enough: Jupyter binds them all
    ("localhost", ["::1", "2001:db8::1"]),
])
def test_a_name_is_refused_unless_every_address_it_resolves_to_is_loopback(monkeypatch, name, addresses):
    resolving(monkeypatch, {name: addresses})
    with pytest.raises(UsageError) as refused:
        notebook.check_loopback(name)
    message = str(refused.value)
    assert message.startswith(f"Refusing to serve the notebooks on {name}")
    assert "run any code on this machine" in message
    assert [a for a in addresses if not ipaddress.ip_address(a).is_loopback][0] in message  # which address, said
    assert message.count(". ") == 0 and "ssh -L" in refused.value.fix  # one sentence, and the tunnel as the fix


def test_a_name_that_resolves_to_nothing_is_refused(monkeypatch):
    resolving(monkeypatch, {"nosuch.invalid": []})
    with pytest.raises(UsageError, match="Refusing to serve the notebooks on nosuch.invalid: it resolves to no "):
        notebook.check_loopback("nosuch.invalid")


def test_a_loopback_name_binds_the_loopback_address_it_resolved_to_not_the_name(monkeypatch):
    resolving(monkeypatch, {"localhost": ["::1", "127.0.0.1"], "lo6.example": ["::1"]})
    assert notebook.check_loopback("localhost") == "127.0.0.1"  # Jupyter is given a number: nothing to resolve again
    assert notebook.check_loopback("lo6.example") == "::1"


def test_notebook_cli_refuses_0_0_0_0_with_exit_2_and_the_ssh_fix():
    proc = runner("notebook", "--ip", "0.0.0.0", timeout=60)
    assert proc.returncode == 2
    assert "Refusing to serve the notebooks on 0.0.0.0" in proc.stderr and "ssh -L" in proc.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1"])
def test_notebook_accepts_loopback(address):
    assert notebook.check_loopback(address) == address


def test_localhost_is_accepted_as_the_loopback_address_it_resolves_to_here():
    assert ipaddress.ip_address(notebook.check_loopback("localhost")).is_loopback


def test_server_command_binds_loopback_and_keeps_the_token_out_of_argv():
    argv = notebook.server_command("127.0.0.1", 8123)
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=8123" in argv
    assert f"--ServerApp.root_dir={notebook.NOTEBOOKS_DIR}" in argv
    assert not any("token" in a.lower() for a in argv)  # JUPYTER_TOKEN, not argv: ps shows argv to everyone
    assert ("--allow-root" in argv) == (os.geteuid() == 0)
    # what a Jupyter config could weaken is given on the command line, which outranks every config file
    for flag in ("--ServerApp.allow_remote_access=False", "--KernelManager.ip=127.0.0.1",
                 "--PasswordIdentityProvider.hashed_password=", "--PasswordIdentityProvider.password_required=False",
                 "--PasswordIdentityProvider.allow_password_change=False", "--ServerApp.port_retries=0"):
        assert flag in argv, flag


REAL_GUARD = notebook.server.wait_until_guarded  # kept before fake_server replaces it


class FakeServer:
    """What serve() starts, recorded: it writes its runtime files as Jupyter does, and stops when signalled."""
    started = []
    exits_with = None  # an exit code: the server stops at once, before answering

    def __init__(self, argv, env, cwd):
        self.argv, self.env, self.returncode, self.pid = argv, env, self.exits_with, 4242
        runtime = Path(env["JUPYTER_RUNTIME_DIR"])
        runtime.mkdir(parents=True)
        for name in ("jpserver-4242.json", "jpserver-4242-open.html"):
            (runtime / name).write_text("{}")
        FakeServer.started.append(self)

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self.returncode = 0
        return self.returncode

    def send_signal(self, signum):
        self.returncode = -signum


@pytest.fixture
def fake_server(monkeypatch, tmp_path):
    """serve() as root, with its server faked: no Jupyter starts, nothing is written outside tmp_path."""
    for module in ("ipykernel", "ipywidgets", "jupyterlab"):  # imported before Popen is faked (see test_security)
        pytest.importorskip(module)
    FakeServer.started, FakeServer.exits_with = [], None
    monkeypatch.setattr(notebook.server.os, "geteuid", lambda: 0)
    monkeypatch.setattr(notebook.subprocess, "Popen", FakeServer)
    monkeypatch.setattr(notebook.server, "ensure_kernelspec", lambda *a, **k: None)
    monkeypatch.setattr(notebook.server, "ensure_lab_settings", lambda *a, **k: None)
    monkeypatch.setattr(notebook.server, "CLASSROOM_DIR", tmp_path / "served")
    monkeypatch.setattr(notebook.server, "LAB_STATE_DIR", tmp_path / "lab")
    checked = []

    def guarded(proc, address, port, token, *rest, **options):  # the live check is tests/notebooks' (a real server)
        checked.append((address, port, token))
        return True
    monkeypatch.setattr(notebook.server, "wait_until_guarded", guarded)
    return checked


def test_the_server_ignores_every_jupyter_config_and_setting_in_the_environment(fake_server, monkeypatch, tmp_path):
    import io
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "their-config"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "more-config"))
    monkeypatch.setenv("JUPYTER_TOKEN", "their-token")
    monkeypatch.setenv("JUPYTER_SERVER_ALLOW_UNAUTHENTICATED_ACCESS", "1")
    monkeypatch.setenv("JUPYTER_GATEWAY_URL", "http://192.0.2.1:8888")
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path / "their-settings"))
    printed = io.StringIO()
    assert notebook.serve(address="127.0.0.1", port=free_tcp_port(), stream=printed) == 0
    (server,) = FakeServer.started
    env = server.env
    jupyter = {k: v for k, v in env.items() if k.startswith("JUPYTER")}
    assert set(jupyter) == {"JUPYTER_TOKEN", "JUPYTER_NO_CONFIG", "JUPYTER_RUNTIME_DIR"}, jupyter
    assert env["JUPYTER_NO_CONFIG"] == "1"  # no config file anywhere is read: not ~/.jupyter, not .venv/etc/jupyter
    assert env["JUPYTER_TOKEN"] != "their-token" and len(env["JUPYTER_TOKEN"]) >= 24
    assert not os.path.exists(env["JUPYTER_RUNTIME_DIR"]), "the private runtime folder outlived the server"
    assert f"--LabApp.user_settings_dir={tmp_path / 'lab' / 'user-settings'}" in server.argv
    assert f"--LabApp.workspaces_dir={tmp_path / 'lab' / 'workspaces'}" in server.argv
    (checked,) = fake_server
    assert checked[2] == env["JUPYTER_TOKEN"]  # checked (403 without it) before the URL was printed
    assert f"/lab?token={env['JUPYTER_TOKEN']}" in printed.getvalue()


def test_a_second_start_gets_another_token(fake_server):
    import io
    for _ in range(2):
        notebook.serve(address="127.0.0.1", port=free_tcp_port(), stream=io.StringIO())
    first, second = (s.env["JUPYTER_TOKEN"] for s in FakeServer.started)
    assert first != second


def free_tcp_port():
    return notebook.free_port("127.0.0.1")


class Answering:
    """An HTTP server on 127.0.0.1 that answers like a Jupyter whose token is `token` (None: answers everyone)."""

    def __init__(self, token):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                allowed = token is None or self.headers.get("Authorization") == f"token {token}"
                self.send_response(200 if allowed else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Running:
    def __init__(self, code=None):
        self.returncode = code

    def poll(self):
        return self.returncode


def test_the_check_passes_only_when_requests_without_the_token_are_refused():
    guarded = Answering("the-token")
    try:
        assert REAL_GUARD(Running(), "127.0.0.1", guarded.port, "the-token", timeout=10) is True
        with pytest.raises(EnvironmentNotReady, match="HTTP 403 without its token and 403 with it"):
            REAL_GUARD(Running(), "127.0.0.1", guarded.port, "another-token", timeout=10)
    finally:
        guarded.close()


def test_a_server_that_answers_without_the_token_is_stopped_and_its_url_never_printed(fake_server, monkeypatch):
    import io
    open_to_all = Answering(None)
    monkeypatch.setattr(notebook.server, "wait_until_guarded", REAL_GUARD)
    monkeypatch.setattr(notebook.server, "check_port", lambda address, port: port)  # the fake server holds it
    printed = io.StringIO()
    try:
        with pytest.raises(EnvironmentNotReady) as refused:
            notebook.serve(address="127.0.0.1", port=open_to_all.port, stream=printed)
    finally:
        open_to_all.close()
    message = str(refused.value)
    assert message.startswith("JupyterLab answered /api/kernels with HTTP 200 without its token")
    assert "so the runner stopped it" in message and message.count(". ") == 0
    (server,) = FakeServer.started
    assert server.returncode == -signal.SIGTERM, "the server was not stopped"
    assert "token=" not in printed.getvalue() and printed.getvalue() == ""
    assert not Path(server.env["JUPYTER_RUNTIME_DIR"]).parent.exists(), "its runtime files (the token) are left"


def test_a_server_that_stops_before_answering_is_one_sentence(fake_server, monkeypatch):
    import io
    FakeServer.exits_with = 1
    monkeypatch.setattr(notebook.server, "wait_until_guarded", REAL_GUARD)
    printed = io.StringIO()
    with pytest.raises(EnvironmentNotReady, match=r"JupyterLab stopped before it served the notebooks \(exit code 1\)"):
        notebook.serve(address="127.0.0.1", port=free_tcp_port(), stream=printed)
    assert printed.getvalue() == ""


def test_the_browser_opens_only_after_the_check_on_jupyters_own_page_not_a_url_with_the_token(fake_server,
                                                                                              monkeypatch):
    import io
    import webbrowser
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append((url, list(fake_server))))
    notebook.serve(address="127.0.0.1", port=free_tcp_port(), open_browser=True, stream=io.StringIO())
    (server,) = FakeServer.started
    assert "--ServerApp.open_browser=False" in server.argv  # not Jupyter's own: it would open before the check
    ((url, checked_before),) = opened
    page = Path(server.env["JUPYTER_RUNTIME_DIR"]) / "jpserver-4242-open.html"
    assert url == page.as_uri() and checked_before, (url, checked_before)


def test_a_server_that_does_not_stop_is_forced_after_its_kernels_got_sigterm(tmp_path):
    """stop_server(): SIGTERM; after the timeout SIGTERM to each child (a notebook kernel detaches on it), SIGKILL."""
    child_said = tmp_path / "child"
    code = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "subprocess.Popen([sys.executable, '-c', 'import signal, sys, time\\n"
            "signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], \"w\").write(\"SIGTERM\"), sys.exit(0)))\\n"
            "print(flush=True)\\ntime.sleep(60)', sys.argv[1]])\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(child_said)])
    import time
    deadline = time.monotonic() + 10
    while not notebook.server.children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the child's handler is set
    started = time.monotonic()
    assert notebook.server.stop_server(proc, timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 8
    assert child_said.read_text() == "SIGTERM"


def test_a_port_in_use_is_a_usage_error_before_anything_starts(fake_server):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(UsageError, match=f"Port {busy.getsockname()[1]} is already in use on 127.0.0.1"):
            notebook.serve(address="127.0.0.1", port=busy.getsockname()[1])
    assert FakeServer.started == []


def test_not_root_is_one_sentence_and_exit_3_before_anything_starts(fake_server, monkeypatch):
    monkeypatch.setattr(notebook.server.os, "geteuid", lambda: 1000)
    with pytest.raises(EnvironmentNotReady) as refused:
        notebook.serve(address="127.0.0.1", port=8123)
    assert refused.value.code == ENVIRONMENT == 3
    assert str(refused.value).count(". ") == 0 and "root" in str(refused.value)
    assert "sudo" in refused.value.fix
    assert FakeServer.started == []


def as_a_learner():
    """argv prefix that runs a command as an unprivileged user (nobody) when the tests run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is missing: cannot run the runner as a non-root user")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_runner_notebook_not_as_root_says_it_needs_root_and_exits_3():
    env = dict(os.environ, HOME="/nonexistent", BCC_LESSONS_NO_REEXEC="1")
    env.pop("XDG_STATE_HOME", None)
    proc = subprocess.run([*as_a_learner(), sys.executable, "-m", "runner", "notebook"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    assert "Unexpected error" not in proc.stderr and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("fix: "), proc.stderr
    assert "root" in lines[0] and lines[0].count(". ") == 0 and "sudo" in lines[1]
    assert "http://" not in proc.stdout, "a URL for a server that never started"


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


def test_a_chinese_runner_opens_on_the_chinese_notebooks_whose_kernels_speak_chinese(fake_server, monkeypatch):
    import io

    from runner import language
    monkeypatch.delenv("LANGUAGE", raising=False)
    printed = io.StringIO()
    with language.speaking("zh"):  # what --lang zh (or LANG=zh_CN.UTF-8) did before serve()
        assert notebook.serve(address="127.0.0.1", port=free_tcp_port(), stream=printed) == 0
    (server,) = FakeServer.started
    assert server.env["LANGUAGE"] == "zh_CN"  # the kernels inherit it; a zh notebook also says lang='zh' itself
    assert f"/lab/tree/zh?token={server.env['JUPYTER_TOKEN']}" in printed.getvalue()
    served = Path([a for a in server.argv if a.startswith("--ServerApp.root_dir=")][0].split("=", 1)[1])
    assert sorted(p.name for p in served.glob("zh/*.ipynb")) == sorted(p.name for p in (ROOT / "notebooks").glob(
        "zh/*.ipynb")) != []
