"""The VM runner's failures: one sentence, exit code 3, and no qemu left running (also after Ctrl-C).

Each test boots (or starts booting) a real VM, so they are marked `vm` and run by
`make test-kernels`, not by `make test`.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.vm import boot, kernels
from tests.support import ROOT

pytestmark = [pytest.mark.bpf, pytest.mark.vm]


def qemu_pids():
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("qemu-system"):
                    pids.add(int(entry.name))
            except OSError:
                pass
    return pids


def assert_no_new_qemu(before, wait=10.0):
    deadline = time.monotonic() + wait
    while qemu_pids() - before:
        if time.monotonic() > deadline:
            raise AssertionError(f"qemu still running: {sorted(qemu_pids() - before)}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def kernel():
    missing = boot.tools_missing()
    if missing:
        pytest.fail(f"{missing[0]} (fix: {missing[1]})")
    return kernels.resolve("6.1")  # downloads it on a fresh machine


def runner(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))


def test_a_vm_that_does_not_boot_in_time_is_exit_3_and_leaves_no_qemu(kernel):
    before = qemu_pids()
    proc = runner("runner", "lesson1", "--kernel", "6.1", "--json", env={"BCC_LESSONS_VM_BOOT_TIMEOUT": "3"})
    assert proc.returncode == 3, proc.stderr
    assert f"error: The {kernel.version} VM did not boot within 3 s." in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert_no_new_qemu(before)


def test_a_guest_command_that_hangs_is_exit_3_and_leaves_no_qemu(kernel):
    before = qemu_pids()
    started = time.monotonic()
    proc = runner("runner.vm", "exec", "--kernel", "6.1", "--timeout", "5", "--", "sleep", "600")
    assert proc.returncode == 3, proc.stderr
    assert f"error: The command inside the {kernel.version} VM did not finish within 5 s, so the VM was stopped." \
        in proc.stderr
    assert time.monotonic() - started < boot.BOOT_TIMEOUT + 60
    assert_no_new_qemu(before)


def test_the_guest_commands_output_and_exit_status_come_out(kernel):
    proc = runner("runner.vm", "exec", "--kernel", "6.1", "--", "sh", "-c", "uname -r; echo to-stderr >&2; exit 7")
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.strip() == kernel.version
    assert "to-stderr" in proc.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_ctrl_c_or_sigterm_while_the_vm_runs_leaves_no_qemu(kernel, signum, code):
    before = qemu_pids()
    proc = subprocess.Popen([sys.executable, "-m", "runner", "lesson1", "--kernel", "6.1", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not qemu_pids() - before:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "qemu never started"
        time.sleep(0.2)
    time.sleep(2)  # qemu is booting the kernel
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert_no_new_qemu(before)
