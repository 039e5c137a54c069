"""The Jupyter side: the bcc-lessons kernelspec, and JupyterLab on a loopback address with a token.

`python3 -m runner notebook` calls serve(), as root only (its kernels load BPF). What the server
is, the runner decides, whatever Jupyter's configuration says:
  - no Jupyter config file is read (JUPYTER_NO_CONFIG): not ~/.jupyter, JUPYTER_CONFIG_DIR or
    JUPYTER_CONFIG_PATH, not .venv/etc/jupyter or /etc/jupyter, and no JUPYTER* variable of the
    caller's environment reaches it; the token is the runner's (JUPYTER_TOKEN, never argv), and
    the address, the port, allow_remote_access, the kernels' address (127.0.0.1) and "no password
    login" are command-line flags, which outrank any config file besides;
  - the address is bound only if every address it resolves to is loopback (--ip localhost goes
    through /etc/hosts), and Jupyter is given the number, not the name;
  - the URL is printed only once the server refused a request without the token (403) and
    answered one with it (200);
  - the server ends with the runner: SIGINT, SIGTERM and SIGHUP stop it with SIGTERM (Jupyter's
    clean stop: every kernel shuts down, which detaches its lessons), and so does the runner's
    death, SIGKILL included (PR_SET_PDEATHSIG, as the workload does); its runtime files
    (jpserver-PID.json, jpserver-PID-open.html with the token, kernels' connection files) are in a
    private folder that the server removes as it ends, and the runner after it.
Nothing here loads BPF, and nothing imports Jupyter before serve() checks that it is installed.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import language
from ..diagnostics import shown_path
from ..errors import EnvironmentNotReady, LessonFailed
from ..language import _
from ..lessons import ROOT
from ..workload import PARENT_ENV, die_with_parent
from .guard import check_loopback, check_port, free_port, wait_until_guarded  # noqa: F401 (free_port: tests)
from .unattended import UNATTENDED_ENV

NOTEBOOKS_DIR = ROOT / "notebooks"
# What the server serves: copies of notebooks/*.ipynb, so that a teacher's runs and JupyterLab's autosaves
# (outputs, widget state, metadata) never touch the built notebooks, git status or notebooks/build.py --check.
CLASSROOM_DIR = ROOT / ".cache" / "notebooks"


def cells_of(nb):
    """What a notebook says: its cells' types and sources. Outputs, counts, ids and metadata are what running and
    saving it in JupyterLab changes."""
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in nb.get("cells", [])]


def classroom_copies(source=None, target=None):
    """Copy each built notebook where the server serves it, unless the copy there says the same (a teacher's saved
    outputs are kept until the lesson changes; then the old copy is kept as NAME.previous.ipynb). Returns target."""
    source, target = Path(source or NOTEBOOKS_DIR), Path(target or CLASSROOM_DIR)
    target.mkdir(parents=True, exist_ok=True)
    built = sorted(source.glob("*.ipynb")) + sorted(source.glob("zh/*.ipynb"))  # English, and Chinese in zh/
    for path in built:
        copy = target / path.relative_to(source)
        copy.parent.mkdir(exist_ok=True)
        text = path.read_text(encoding="utf-8")
        if copy.exists():
            try:
                same = cells_of(json.loads(copy.read_text(encoding="utf-8"))) == cells_of(json.loads(text))
            except (ValueError, KeyError, TypeError):
                same = False
            if same:
                continue
            copy.replace(copy.with_suffix(".previous.ipynb"))
        copy.write_text(text, encoding="utf-8")
    return target
# What JupyterLab keeps between starts (settings a teacher chose, open tabs), next to the copies it serves.
LAB_STATE_DIR = ROOT / ".cache" / "jupyter-lab"
KERNEL_NAME = "bcc-lessons"
KERNEL_IP = "127.0.0.1"  # the kernels' ZeroMQ ports: whoever reaches them runs code as root, like the server's
PRIVATE_ENV = "BCC_LESSONS_NOTEBOOK_PRIVATE"  # the server's private folder, which it removes as it ends
STOP_TIMEOUT = 30   # seconds for its clean stop (kernels shut down and detach) before the runner forces it


def kernelspec_dir(prefix=None):
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def ensure_kernelspec(prefix=None):
    """Install (or refresh) the bcc-lessons kernelspec in this Python's prefix (the .venv): this Python,
    with the repository on sys.path so `from runner import notebook` works from notebooks/."""
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bcc-lessons (root, .venv)", "language": "python",
            "env": {"PYTHONPATH": str(ROOT)}, "metadata": {"debugger": False}}
    folder = kernelspec_dir(prefix)
    path = folder / "kernel.json"
    text = json.dumps(spec, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def lab_overrides(prefix=None):
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def ensure_lab_settings(prefix=None):
    """JupyterLab's defaults for this Python's prefix (the .venv): no "get notified about official Jupyter news?"
    box, which a teacher's first page would show over the lesson. Other settings in the file are kept."""
    path = lab_overrides(prefix)
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError):
        settings = {}
    notification = settings.setdefault("@jupyterlab/apputils-extension:notification", {})
    if notification.get("fetchNews") != "false" or notification.get("checkForUpdates") is not False:
        notification.update(fetchNews="false", checkForUpdates=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1) + "\n")
    return path


# The server's process runs this (server_command's `python -c`): JupyterLab itself, so that its kernels are the
# children of the process the runner started, after run_server() tied it to the runner.
SERVER_MAIN = "from runner.notebook.server import run_server; run_server()"


def server_command(address, port, notebook_dir=NOTEBOOKS_DIR, open_browser=False):
    """The JupyterLab command line; the token goes in JUPYTER_TOKEN (not argv, which `ps` shows to everyone).

    Each flag is one a Jupyter config could otherwise weaken: a flag outranks a config file's value for the same
    class (serve() besides has the server read no config file at all).
    """
    argv = [sys.executable, "-c", SERVER_MAIN, f"--ServerApp.ip={address}", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebook_dir}",
            f"--ServerApp.open_browser={open_browser}", "--ServerApp.allow_remote_access=False",
            f"--KernelManager.ip={KERNEL_IP}",
            "--ServerApp.identity_provider_class=jupyter_server.auth.identity.PasswordIdentityProvider",
            "--PasswordIdentityProvider.hashed_password=", "--PasswordIdentityProvider.password_required=False",
            "--PasswordIdentityProvider.allow_password_change=False",
            f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def run_server(argv=None):
    """JupyterLab in this process, tied to the runner that started it (the `python -c` of server_command()).

    Its own session: Ctrl-C on the terminal is the runner's, which stops the server with SIGTERM (never Jupyter's
    "Shutdown this Jupyter server?" prompt, nothing read from the terminal). It ends when the runner does, even by
    SIGKILL (PR_SET_PDEATHSIG: SIGTERM, Jupyter's clean stop). SIGHUP stops it like SIGTERM (Jupyter leaves
    SIGHUP at its default, which would kill it without shutting its kernels down). Its private folder goes
    with it. Started by hand or by a test without the runner's variables, only the session and stdin change.
    """
    argv = sys.argv[1:] if argv is None else argv
    private = os.environ.pop(PRIVATE_ENV, None)
    try:
        os.setsid()
    except OSError:  # already a session leader (a test started it with start_new_session)
        pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # serve() held it while starting us
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull)
    # Until Jupyter sets its own SIGTERM handler (a stop early in its start), end through `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGHUP, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))
    die_with_parent()  # PARENT_ENV: the runner's pid (SIGTERM when it ends; at once if it already has)
    if private:
        tempfile.tempdir = private  # where JUPYTER_NO_CONFIG's blank config folder is made
    try:
        from jupyterlab.labapp import LabApp
        LabApp.launch_instance(argv=argv)
    finally:
        if private:
            shutil.rmtree(private, ignore_errors=True)


def server_env(token, private):
    """The server's environment: the caller's without any JUPYTER*/JPY_ setting, then the runner's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.pop(UNATTENDED_ENV, None)
    env.update(JUPYTER_TOKEN=token, JUPYTER_NO_CONFIG="1", JUPYTER_RUNTIME_DIR=str(Path(private) / "runtime"),
               **{PARENT_ENV: str(os.getpid()), PRIVATE_ENV: str(private)})
    return env


def open_in_browser(private, pid):
    """A browser on this machine, at the page Jupyter wrote for it (jpserver-PID-open.html, in the server's
    private folder): the token is in that root-only file, not in the browser's argv, which ps shows to everyone."""
    import webbrowser
    page = Path(private) / "runtime" / f"jpserver-{pid}-open.html"
    if page.exists():
        webbrowser.open(page.as_uri())


def children(pid):
    """Pids of the processes whose parent is `pid` (a server's kernels)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def stop_server(proc, timeout=STOP_TIMEOUT):
    """Stop the server as Jupyter stops cleanly (SIGTERM: kernels shut down, runtime files removed) and reap it.

    If it has not ended within `timeout`: SIGTERM to each kernel (a notebook kernel detaches on it), then SIGKILL.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    kernels = children(proc.pid)
    for pid in kernels:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in kernels) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in kernels:
        _kill(pid, signal.SIGKILL)
    proc.kill()
    return proc.wait()


def _running(pid):
    """Not ended: a kernel that exited stays a zombie until its (stuck) server reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _say(stream, text):
    """Print, unless the terminal is gone (SIGHUP: a closed SSH session): the stop goes on without it."""
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):
        pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def serve(address="127.0.0.1", port=None, open_browser=False, stream=sys.stdout):
    """Run JupyterLab on the notebooks until Ctrl-C, SIGTERM or SIGHUP (or until it is shut down from the browser).

    Prints the URL with its token once the server refuses requests without it. Returns the exit code: 0 when the
    server was shut down from JupyterLab, 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP.
    """
    address = check_loopback(address)
    try:
        import ipykernel  # noqa: F401
        import ipywidgets  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as err:
        raise EnvironmentNotReady(_("JupyterLab is not installed in this Python ({module} is missing).").format(
            module=err.name),
            fix=_("sudo make notebook installs it (requirements-notebook.txt), then starts the server"))
    if os.geteuid() != 0:
        raise EnvironmentNotReady(_("The notebook server runs as root only, since its kernels load the lessons' "
                                    "BPF programs."), fix="sudo .venv/bin/python -m runner notebook")
    port = check_port(address, port) if port else free_port(address)
    ensure_kernelspec()
    ensure_lab_settings()
    served = classroom_copies()
    token = secrets.token_urlsafe(24)
    host = f"[{address}]" if ":" in address else address
    # a Chinese runner (--lang zh, LANG=zh_CN.UTF-8) opens on the Chinese notebooks, whose kernels inherit LANGUAGE
    url = f"http://{host}:{port}/lab" + ("/tree/zh" if language.current() == "zh" else "") + f"?token={token}"
    argv = server_command(address, port, notebook_dir=served)  # the runner opens the browser, once checked
    argv += [f"--LabApp.user_settings_dir={LAB_STATE_DIR / 'user-settings'}",
             f"--LabApp.workspaces_dir={LAB_STATE_DIR / 'workspaces'}"]
    stopping = []  # the first of SIGINT, SIGTERM, SIGHUP to arrive; the main loop below stops the server then

    def stop_on(signum, frame):
        if not stopping:
            stopping.append(signum)

    private = tempfile.mkdtemp(prefix="bcc-lessons-jupyter-")  # 0700: the runtime files, which hold the token
    ours = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]  # an ignored SIGINT stays so
    previous = {s: signal.signal(s, stop_on) for s in ours}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # until the server has its own session
        try:
            proc = subprocess.Popen(argv, env=server_env(token, private), cwd=ROOT)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        try:
            if not stopping and wait_until_guarded(proc, address, port, token, stopping) and not stopping:
                _say(stream, "\n".join([
                    _("JupyterLab on {address} only, serving copies of {notebooks}/ in {served}/ (your runs and saves "
                      "stay there; kernels run as root).").format(address=address,
                                                                  notebooks=NOTEBOOKS_DIR.relative_to(ROOT),
                                                                  served=shown_path(served)),
                    _("Checked: it refuses requests without the token (the 403 in its log above)."),
                    # TRANSLATORS: {url} is the notebook server's address, with its token
                    _("Open: {url}").format(url=url),
                    # TRANSLATORS: USER@THIS-HOST stands for the user and this machine's name, which the reader types
                    _("From another machine: ssh -L {port}:127.0.0.1:{port} USER@THIS-HOST, then open the same URL "
                      "there.").format(port=port),
                    _("Hit Ctrl-C to stop (every notebook's kernel shuts down and detaches).")]))
                if open_browser:
                    open_in_browser(private, proc.pid)
            while not stopping:
                try:
                    code = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
            else:
                if stopping[0] != signal.SIGHUP:  # after SIGHUP the terminal is usually gone
                    _say(stream, _("Stopping JupyterLab: every notebook's kernel shuts down and detaches."))
                stop_server(proc)
        except BaseException:
            stop_server(proc)
            raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        shutil.rmtree(private, ignore_errors=True)
    if stopping:
        return 128 + stopping[0]
    if code != 0:
        raise LessonFailed(_("JupyterLab stopped by itself with exit code {code}: its log above says why.").format(
            code=code), fix=_("Start it again: sudo .venv/bin/python -m runner notebook"))
    return 0
