"""The Jupyter side: the bcc-lessons kernelspec, and JupyterLab on a loopback address with a token.

`python3 -m runner notebook` calls serve(). Nothing here loads BPF, and nothing imports Jupyter
before serve() checks that it is installed.
"""

import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..diagnostics import shown_path
from ..errors import EnvironmentNotReady, UsageError
from ..lessons import ROOT
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
    for path in sorted(source.glob("*.ipynb")):
        copy = target / path.name
        built = path.read_text()
        if copy.exists():
            try:
                same = cells_of(json.loads(copy.read_text())) == cells_of(json.loads(built))
            except (ValueError, KeyError, TypeError):
                same = False
            if same:
                continue
            copy.replace(copy.with_suffix(".previous.ipynb"))
        copy.write_text(built)
    return target
KERNEL_NAME = "bcc-lessons"
LOOPBACK_NAMES = {"localhost"}


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


def check_loopback(address):
    """Only loopback addresses: a kernel here runs as root, and anyone who reaches the port can load BPF."""
    try:
        ok = address in LOOPBACK_NAMES or ipaddress.ip_address(address).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"Refusing to serve the notebooks on {address}: the kernels run as root, so anyone who "
                         "reaches that port could run any code on this machine.",
                         fix="Keep 127.0.0.1 and reach it from another machine through SSH: "
                             "ssh -L 8888:127.0.0.1:8888 USER@HOST, then open the printed URL locally.")
    return address


def free_port(address="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def server_command(address, port, notebook_dir=NOTEBOOKS_DIR, open_browser=False):
    """The jupyter lab command line; the token goes in JUPYTER_TOKEN (not argv, which `ps` shows to everyone)."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={address}", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebook_dir}",
            f"--ServerApp.open_browser={open_browser}", f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def serve(address="127.0.0.1", port=None, open_browser=False, stream=sys.stdout):
    """Run JupyterLab on the notebooks until Ctrl-C; prints the URL with its token first."""
    check_loopback(address)
    try:
        import ipykernel  # noqa: F401
        import ipywidgets  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as err:
        raise EnvironmentNotReady(f"JupyterLab is not installed in this Python ({err.name} is missing).",
                                  fix="sudo make notebook installs it (requirements-notebook.txt), then starts the server")
    ensure_kernelspec()
    ensure_lab_settings()
    port = port or free_port(address)
    token = secrets.token_urlsafe(24)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    env.pop(UNATTENDED_ENV, None)
    host = f"[{address}]" if ":" in address else address
    url = f"http://{host}:{port}/lab?token={token}"
    if os.geteuid() != 0:
        print("Note: not root. The notebooks open, but loading a BPF program needs root: "
              "run sudo .venv/bin/python -m runner notebook", file=sys.stderr)
    served = classroom_copies()
    print(f"JupyterLab on {address} only, serving copies of {NOTEBOOKS_DIR.relative_to(ROOT)}/ in "
          f"{shown_path(served)}/ (your runs and saves stay there; kernels run as "
          f"{'root' if os.geteuid() == 0 else 'you'}).\nOpen: {url}\n"
          "From another machine: ssh -L {0}:127.0.0.1:{0} USER@THIS-HOST, then open the same URL there.\n"
          "Hit Ctrl-C to stop (every notebook's kernel shuts down and detaches).".format(port), file=stream, flush=True)
    proc = subprocess.Popen(server_command(address, port, notebook_dir=served, open_browser=open_browser), env=env,
                            cwd=ROOT)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # jupyter asks to confirm on the first Ctrl-C; two in a row stop at once
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        return 0
