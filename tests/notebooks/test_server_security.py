"""`python3 -m runner notebook` for real: a Jupyter config cannot weaken it, and no way of stopping it leaves anything.

Each test starts the runner as a teacher would (its own session, a throw-away HOME) and finds
every process it led to by a marker in their environment, so a server or kernel that outlived
the runner is found wherever it was reparented. Starting JupyterLab and a kernel loads no BPF;
only the test marked bpf loads a lesson (run it under flock /tmp/bcc-lessons-bpf.lock).
"""

import http.client
import ipaddress
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runner.notebook import UNATTENDED_ENV, free_port
from tests.support import ROOT, kernel_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runner notebook runs as root only (sudo make test)")
MARK = "BCC_LESSONS_TEST_MARK"


def jupyter_installed():
    for module in ("ipykernel", "ipywidgets", "jupyterlab"):
        pytest.importorskip(module)


def environ(pid):
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def marked(marker):
    """{pid: cmdline} of every live process (zombies excluded) that carries `marker` in its environment."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and environ(entry).get(MARK) == marker and state(entry) not in (None, "Z"):
            found[int(entry)] = cmdline(entry)
    return found


def request(port, path, token=None, method="GET", body=None, host=None):
    """(status, body) of one HTTP request to 127.0.0.1:port, the token (if any) in the Authorization header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"token {token}"} if token else {}
    if host:
        headers["Host"] = host
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def listening(pid):
    """Local addresses ("ip:port") of the TCP sockets process `pid` listens on (read from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                if width == 8:
                    ip = ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    words = [address[i:i + 8] for i in range(0, 32, 8)]
                    ip = str(ipaddress.IPv6Address(b"".join(bytes.fromhex(w)[::-1] for w in words)))
                found.append(f"{ip}:{int(port, 16)}")
    return found


class Notebook:
    """`python3 -m runner notebook --port P` started as a teacher would, in its own session, with a fresh HOME."""

    def __init__(self, tmp_path, *flags, env=None):
        jupyter_installed()
        self.marker, self.port, self.home = secrets.token_hex(8), free_port(), tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        run_env = {k: v for k, v in os.environ.items() if k != UNATTENDED_ENV and not k.startswith("JUPYTER")}
        run_env.update(HOME=str(self.home), PYTHONUNBUFFERED="1", **{MARK: self.marker}, **(env or {}))
        self.log_path = tmp_path / "runner.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "runner", "notebook", "--port", str(self.port), *flags],
                                     cwd=ROOT, env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.token = self.server = None
        self.runtime_dirs = {self.home / ".local" / "share" / "jupyter" / "runtime"}  # Jupyter's default one

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def output(self):
        return self.log_path.read_text()

    def ready(self, timeout=90):
        """Wait for the printed URL and for the server to answer with its token; returns the token."""
        deadline = time.monotonic() + timeout
        while self.token is None:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"runner notebook printed no URL (exit {self.proc.poll()}):\n"
                                     f"{self.output()[-3000:]}")
            if "/lab?token=" in line:
                self.token = line.strip().split("/lab?token=", 1)[1]
        while True:  # a runner that prints its URL before the server answers: wait for the server
            try:
                if request(self.port, "/api/status", self.token)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server never answered:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        (self.server,) = [p for p, c in marked(self.marker).items() if "--ServerApp.port=" in c]
        runtime = environ(self.server).get("JUPYTER_RUNTIME_DIR")
        if runtime:
            self.runtime_dirs.add(Path(runtime))
        return self.token

    def start_kernel(self, timeout=60):
        """A bcc-lessons kernel started through the REST API, as a notebook opening would: (kernel id, pid)."""
        status, body = request(self.port, "/api/kernels", self.token, "POST", {"name": "bcc-lessons"})
        assert status == 201, (status, body)
        kernel_id = json.loads(body)["id"]
        deadline = time.monotonic() + timeout
        while True:
            kernels = [p for p, c in marked(self.marker).items() if "ipykernel_launcher" in c and kernel_id in c]
            if kernels and self.connection_file(kernel_id).exists():
                return kernel_id, kernels[0]
            assert time.monotonic() < deadline, f"kernel {kernel_id} did not start:\n{self.output()[-3000:]}"
            time.sleep(0.2)

    def connection_file(self, kernel_id):
        for folder in self.runtime_dirs:
            if (folder / f"kernel-{kernel_id}.json").exists():
                return folder / f"kernel-{kernel_id}.json"
        return Path("/nonexistent")

    def runtime_files(self):
        return sorted(str(p) for folder in self.runtime_dirs if folder.is_dir() for p in folder.glob("jpserver-*"))

    def left(self):
        """What is still there: processes carrying the marker, and jpserver-* files."""
        return marked(self.marker), self.runtime_files()

    def wait_all_gone(self, since, timeout=15):
        """Seconds from `since` until no marked process and no jpserver-* file is left (fails after `timeout`)."""
        while True:
            processes, files = self.left()
            if not processes and not files:
                return time.monotonic() - since
            if time.monotonic() - since > timeout:
                raise AssertionError(f"{timeout} s after the signal, still there: processes {processes}, "
                                     f"runtime files {files}\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def close(self):
        """Whatever a failed test left: every marked process, SIGTERM first (a kernel detaches on it), then SIGKILL."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for pid in marked(self.marker):
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while marked(self.marker) and time.monotonic() < deadline:
                time.sleep(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture
def start(tmp_path):
    started = []

    def starter(*flags, env=None):
        started.append(Notebook(tmp_path, *flags, env=env))
        return started[-1]
    yield starter
    for notebook in started:
        notebook.close()


WEAKENING = {
    # what issue 17 measured: the token removed, kernels on every interface
    "jupyter_server_config.py": 'c.IdentityProvider.token = ""\nc.KernelManager.ip = "0.0.0.0"\n'
                                'c.ServerApp.allow_remote_access = True\nc.ServerApp.disable_check_xsrf = True\n',
}


def test_a_jupyter_config_that_removes_the_token_and_widens_the_kernels_address_is_ignored(start, tmp_path):
    config = tmp_path / "their-config"
    config.mkdir()
    for name, text in WEAKENING.items():
        (config / name).write_text(text)
    # the same in ~/.jupyter (HOME), and a lab config on JUPYTER_CONFIG_PATH that opens every interface
    (tmp_path / "home" / ".jupyter").mkdir(parents=True)
    (tmp_path / "home" / ".jupyter" / "jupyter_server_config.json").write_text(
        json.dumps({"IdentityProvider": {"token": ""}, "ServerApp": {"allow_remote_access": True}}))
    (tmp_path / "more-config").mkdir()
    (tmp_path / "more-config" / "jupyter_lab_config.py").write_text('c.ServerApp.ip = "0.0.0.0"\n'
                                                                   'c.IdentityProvider.token = ""\n')
    notebook = start(env={"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_CONFIG_PATH": str(tmp_path / "more-config")})
    token = notebook.ready()
    assert request(notebook.port, "/api/kernels")[0] == 403, "answered without the token"
    assert request(notebook.port, "/api/kernels", method="POST", body={"name": "bcc-lessons"})[0] == 403
    assert not [c for c in marked(notebook.marker).values() if "ipykernel" in c], "a kernel started without the token"
    assert request(notebook.port, "/api/kernels", token)[0] == 200
    # allow_remote_access stays off: a page whose DNS name was rebound to 127.0.0.1 is refused even with the token
    assert request(notebook.port, "/api/kernels", token, host=f"evil.example:{notebook.port}")[0] == 403
    assert all(a.startswith("127.0.0.1:") for a in listening(notebook.server)), listening(notebook.server)
    _, kernel = notebook.start_kernel()
    deadline = time.monotonic() + 30
    while len(listening(kernel)) < 5 and time.monotonic() < deadline:  # shell, iopub, stdin, control, heartbeat
        time.sleep(0.2)
    addresses = listening(kernel)
    assert len(addresses) >= 5, f"the kernel listens on {addresses}"
    assert all(a.startswith("127.0.0.1:") for a in addresses), f"the kernel listens on {addresses}"
    # the runner's own settings still work: no "get notified about official Jupyter news?" box
    status, body = request(notebook.port, "/lab/api/settings/@jupyterlab/apputils-extension:notification", token)
    defaults = {k: v.get("default") for k, v in json.loads(body)["schema"]["properties"].items()}  # overrides.json's
    assert status == 200 and defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    os.kill(notebook.proc.pid, signal.SIGTERM)
    notebook.wait_all_gone(time.monotonic())


STOPS = {"SIGTERM": (signal.SIGTERM, 143), "SIGHUP": (signal.SIGHUP, 129), "SIGINT": (signal.SIGINT, 130),
         "SIGKILL": (signal.SIGKILL, -signal.SIGKILL)}


@pytest.mark.parametrize("name", list(STOPS))
def test_stopping_the_runner_by_a_signal_ends_jupyterlab_and_its_kernels_and_leaves_no_runtime_file(start, name):
    signum, code = STOPS[name]
    notebook = start()
    token = notebook.ready()
    notebook.start_kernel()
    assert notebook.runtime_files(), "no jpserver-* file found while the server runs: the test looks in the wrong place"
    before = marked(notebook.marker)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(notebook.proc.pid, signum)  # Ctrl-C: the terminal signals the whole foreground process group
    else:
        os.kill(notebook.proc.pid, signum)
    seconds = notebook.wait_all_gone(sent)
    assert notebook.proc.wait(timeout=10) == code, notebook.output()[-3000:]
    with pytest.raises(OSError):  # connection refused: the old token opens nothing
        request(notebook.port, "/api/kernels", token)
    private = [d for d in notebook.runtime_dirs if d != notebook.home / ".local" / "share" / "jupyter" / "runtime"]
    assert not any(d.exists() for d in private), "the server's private runtime folder is left"
    print(f"{name}: {len(before)} processes (runner, server, kernel) gone {seconds:.2f} s after the signal")


def test_ip_localhost_is_resolved_through_etc_hosts_and_refused_when_it_is_not_loopback(tmp_path):
    """/etc/hosts replaced in a mount namespace of its own: localhost -> 10.1.2.3, classroom.example -> 192.0.2.10."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--mount", "true"]).returncode != 0:
        pytest.skip("unshare --mount is not available here")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 localhost\n192.0.2.10 classroom.example\n127.0.0.1 lo.example\n")
    for name, address in (("localhost", "10.1.2.3"), ("classroom.example", "192.0.2.10")):
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               'mount --bind "$1" /etc/hosts && shift && exec "$@"', "sh", str(hosts),
                               sys.executable, "-m", "runner", "notebook", "--ip", name],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2, (name, proc.returncode, proc.stdout, proc.stderr[-2000:])
        assert f"Refusing to serve the notebooks on {name}" in proc.stderr and address in proc.stderr
        assert "http://" not in proc.stdout


@pytest.mark.bpf
def test_a_lesson_loaded_in_a_kernel_is_detached_when_the_runner_is_killed(start):
    """SIGKILL of the runner: the server gets SIGTERM (PR_SET_PDEATHSIG), shuts its kernels down, they detach."""
    from jupyter_client import BlockingKernelClient
    from tests.notebooks.test_notebooks import held_programs, wait_gone
    _, events_before = kernel_state()
    notebook = start()
    notebook.ready()
    kernel_id, kernel = notebook.start_kernel()
    client = BlockingKernelClient(connection_file=str(notebook.connection_file(kernel_id)))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive("from runner import notebook\nlesson = notebook.Controller('lesson1')\n"
                                           "lesson.load()", timeout=120, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
    held = held_programs(kernel)
    assert held, "lesson.load() attached nothing"
    sent = time.monotonic()
    os.kill(notebook.proc.pid, signal.SIGKILL)
    seconds = notebook.wait_all_gone(sent)
    wait_gone(held, events_before)
    print(f"SIGKILL of the runner: server and kernel gone after {seconds:.2f} s, programs {sorted(held)} detached")
