"""The distribution harness's cleanup (scripts/distros.sh): however it ends, nothing stays mounted or running.

A command runs inside the bullseye root (`distros.sh run bullseye sleep 60`); once its mounts are there and
the command runs inside, the script gets SIGTERM, SIGINT or SIGHUP: afterwards no mount is left under the
root and no process has its root inside. After a SIGKILL, which no trap sees, the next run
undoes the leftovers first. Marked `distros`: run by `make test-distros`, deselected from `make test`.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.distros

SCRIPT = ROOT / "scripts" / "distros.sh"
ROOTS = Path("/var/lib/bcc-lessons/roots")
NAME = "bullseye"
DIR = ROOTS / NAME


@pytest.fixture(autouse=True)
def _built_root():
    if os.geteuid() != 0:
        pytest.skip("scripts/distros.sh mounts file systems and uses chroot: needs root")
    if not (DIR / ".bcc-lessons-root").exists():
        pytest.skip(f"the {NAME} root is not built ({DIR}): sudo make distros")
    assert not mounts(), f"mounted under {DIR} before the test (another distros.sh using it?): {mounts()}"


def mounts():
    """Mount points at or under the root filesystem, as /proc/self/mounts lists them."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].encode().decode("unicode_escape")
        if point == str(DIR) or point.startswith(f"{DIR}/"):
            found.append(point)
    return found


def pids_inside():
    """Processes whose root directory is the root filesystem or under it."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                root = os.readlink(entry / "root")
            except OSError:
                continue
            if root == str(DIR) or root.startswith(f"{DIR}/"):
                pids.append(int(entry.name))
    return pids


def start_sleep():
    """`distros.sh run bullseye sleep 60`, returned once the mounts are there and sleep runs inside."""
    proc = subprocess.Popen(["bash", str(SCRIPT), "run", NAME, "sleep", "60"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (pids_inside() and f"{DIR}/proc" in mounts() and f"{DIR}/tmp" in mounts()):
        if proc.poll() is not None:
            raise AssertionError(f"distros.sh run exited {proc.returncode} before sleep ran:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"sleep did not start inside {DIR} within 60 s")
        time.sleep(0.1)
    return proc


def assert_nothing_left():
    assert mounts() == [], f"still mounted: {mounts()}"
    assert pids_inside() == [], f"still running inside {DIR}: {pids_inside()}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_to_the_script_leaves_no_mount_and_no_process(sig):
    proc = start_sleep()
    started = time.monotonic()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, out
    assert time.monotonic() - started < 20, "the script waited for the command instead of ending it"
    assert_nothing_left()


def test_after_a_sigkill_the_next_run_undoes_the_leftovers():
    proc = start_sleep()
    proc.kill()  # no trap runs: the mounts and the sleep inside stay
    proc.wait(timeout=10)
    assert mounts() and pids_inside()
    done = subprocess.run(["bash", str(SCRIPT), "run", NAME, "true"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_nothing_left()


def test_a_failing_command_inside_is_its_exit_status_and_leaves_nothing():
    done = subprocess.run(["bash", str(SCRIPT), "run", NAME, "sh", "-c", "exit 7"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stdout + done.stderr
    assert_nothing_left()
