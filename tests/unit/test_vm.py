"""runner/vm/ without a VM: picking kernels from apt's lists, pytest's closing line, options, error sentences."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from runner import errors, vm
from runner.vm import boot, kernels, matrix

APT_SEARCH = """\
linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-56-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-56-amd64-dbg - Debug symbols for linux-image-6.1.0-56-amd64
linux-image-6.1.0-56-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)
linux-headers-6.1.0-9-amd64 - Header files for Linux 6.1.0-9-amd64
linux-headers-6.1.0-9-common - Common header files for Linux 6.1.0-9
linux-headers-6.1.0-56-amd64 - Header files for Linux 6.1.0-56-amd64
linux-headers-6.1.0-56-common - Common header files for Linux 6.1.0-56
linux-headers-6.1.0-57-amd64 - Header files for Linux 6.1.0-57-amd64
linux-image-6.12.99+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.118+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-headers-6.12.99+deb12-amd64 - Header files for Linux 6.12.99+deb12-amd64
linux-headers-6.12.99+deb12-common - Common header files for Linux 6.12.99+deb12
linux-headers-6.12.117+deb12-amd64 - Header files for Linux 6.12.117+deb12-amd64
linux-headers-6.12.117+deb12-common - Common header files for Linux 6.12.117+deb12
"""


def test_newest_kernel_of_each_series_is_picked_numerically_and_only_with_both_headers():
    names = kernels.parse_apt_names(APT_SEARCH)
    # 6.1.0-57 has no -common headers yet, so 6.1.0-56 (not 6.1.0-9, which sorts later as text) is the newest usable
    assert kernels.newest_versions(names, "6.1") == ["6.1.0-56-amd64", "6.1.0-9-amd64"]
    # 6.12.118 has no headers at all; 6.12.117 beats 6.12.99 numerically
    assert kernels.newest_versions(names, "6.12") == ["6.12.117+deb12-amd64", "6.12.99+deb12-amd64"]


def test_debug_and_rt_images_are_not_kernels_for_the_vm():
    names = kernels.parse_apt_names(APT_SEARCH)
    assert not any("dbg" in v or "rt" in v for s in kernels.SERIES for v in kernels.newest_versions(names, s))


def test_headers_packages_match_the_image_exactly():
    assert kernels.headers_packages("6.1.0-56-amd64") == ["linux-headers-6.1.0-56-amd64", "linux-headers-6.1.0-56-common"]
    assert kernels.headers_packages("6.12.117+deb12-amd64") == ["linux-headers-6.12.117+deb12-amd64",
                                                            "linux-headers-6.12.117+deb12-common"]


def test_versions_belong_to_their_series():
    assert kernels.series_of("6.1.0-56-amd64") == "6.1"
    assert kernels.series_of("6.12.117+deb12-amd64") == "6.12"
    assert kernels.series_of("6.18.44-fc-v782") is None


def test_an_unknown_kernel_name_is_a_usage_error_naming_the_choices():
    with pytest.raises(errors.UsageError) as info:
        kernels.resolve("4.19", download=False)
    assert "4.19" in str(info.value) and "5.10, 6.1, 6.12" in info.value.fix


def test_debian_11s_kernel_boots_on_debian_11s_root_with_its_clones_python(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "ROOTFS", tmp_path)
    kernel = kernels.Kernel("5.10.0-32-amd64")
    assert kernel.series == "5.10" and kernel.rootfs == tmp_path / "bullseye"
    assert kernel.vmlinuz == tmp_path / "bullseye/boot/vmlinuz-5.10.0-32-amd64"
    assert kernel.python == "/opt/bcc-lessons-ci/.venv/bin/python" and not kernel.ready
    (tmp_path / "bullseye/boot").mkdir(parents=True)
    kernel.vmlinuz.write_bytes(b"")
    (tmp_path / "bullseye/boot/bcc-lessons-kernel").write_text("5.10.0-32-amd64\n")
    assert kernel.ready and kernels.cached()["5.10"] == [kernel]
    (tmp_path / "bullseye/var/tmp").mkdir(parents=True)
    run = boot.Run(kernel, [kernel.python, "-V"], rwdirs=["/root/.local/state"])
    run.start = lambda: None
    run.out = tmp_path / "bullseye/var/tmp/bcc-lessons-vm-x"
    argv = run.vng_argv()
    # vng takes host paths inside the root; the guest script names them as the guest sees them
    assert argv[argv.index("--root") + 1] == str(tmp_path / "bullseye")
    assert argv[argv.index("--cwd") + 1] == str(tmp_path / "bullseye/opt/bcc-lessons-ci")
    assert argv[-1] == "bash /var/tmp/bcc-lessons-vm-x/guest.sh"
    assert "/root/.local/state" not in argv  # a folder outside the guest's root cannot be shared
    assert kernels.Kernel("6.1.0-56-amd64").rootfs is None and kernels.Kernel("6.1.0-56-amd64").python == sys.executable


@pytest.mark.parametrize("line, counts", [
    ("===== 12 passed, 2 skipped in 95.31s (0:01:35) =====", {"passed": 12, "skipped": 2}),
    ("1 failed, 10 passed, 1 skipped, 2 deselected in 30.02s", {"failed": 1, "passed": 10, "skipped": 1, "deselected": 2}),
    ("==== 3 passed, 1 error in 4.00s ====", {"passed": 3, "error": 1}),
    ("==== 2 errors in 1.10s ====", {"error": 2}),
    ("==== no tests ran in 0.01s ====", {}),
])
def test_pytest_closing_line_is_read_into_counts(line, counts):
    text = f"tests/live/test_x.py ....s\nsome output with 5 passed words\n{line}\n"
    assert matrix.parse_pytest_summary(text) == counts


def test_no_closing_line_means_no_counts():
    assert matrix.parse_pytest_summary("Traceback (most recent call last):\n  boom\n") == {}


def test_result_line_has_passed_failed_skipped_for_one_kernel():
    line = matrix.result_line("6.1.0-56-amd64", {"passed": 20, "failed": 1, "error": 1, "skipped": 3}, 300.4, boot=31.2)
    assert line == "kernel 6.1.0-56-amd64: 20 passed, 2 failed, 3 skipped (boot 31 s, tests 300 s)"


@pytest.mark.parametrize("argv, expected", [
    (["run", "lesson4", "--kernel", "6.12", "--json"], ["run", "lesson4", "--json"]),
    (["run", "lesson4", "--kernel=6.1"], ["run", "lesson4"]),
    (["run", "lesson1", "--events", "3"], ["run", "lesson1", "--events", "3"]),
])
def test_the_runner_inside_the_vm_gets_the_same_arguments_without_kernel(argv, expected):
    assert vm.strip_kernel_option(argv) == expected


def test_guest_script_reports_boot_kernel_and_exit_status_through_the_shared_folder(tmp_path):
    run = boot.Run(kernels.Kernel("6.1.0-56-amd64"), ["python3", "-m", "pytest", "-m", "bpf and not vm"],
                   env={"REQUIRE_BPF": "1"})
    run.out = tmp_path
    script = boot.GUEST_SCRIPT.format(out=tmp_path, cwd=boot.ROOT, env="REQUIRE_BPF=1",
                                      command=boot.shell_quote(run.command))
    assert "'bpf and not vm'" in script and "PYTHONUNBUFFERED=1 REQUIRE_BPF=1" in script
    assert 'mv "$out/status.tmp" "$out/status"' in script  # the host never reads a half-written status


def test_vng_is_told_to_use_tcg_unless_kvm_was_proven(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "CACHE", tmp_path)
    monkeypatch.delenv("BCC_LESSONS_VM_ACCEL", raising=False)
    run = boot.Run(kernels.Kernel("6.1.0-56-amd64"), ["true"])
    run.out = tmp_path
    argv = run.vng_argv()
    assert "--disable-kvm" in argv and "--force-9p" in argv
    assert argv[argv.index("--rwdir") + 1] == str(tmp_path)
    assert argv[-2:] == ["--exec", f"bash {tmp_path}/guest.sh"]
    monkeypatch.setenv("BCC_LESSONS_VM_ACCEL", "kvm")
    assert "--disable-kvm" not in run.vng_argv()


def test_missing_qemu_is_one_sentence_with_the_fix_and_exit_code_3(monkeypatch):
    monkeypatch.setattr(boot.shutil, "which", lambda name: None)
    with pytest.raises(errors.EnvironmentNotReady) as info:
        boot.require_tools()
    assert info.value.code == 3
    assert str(info.value) == "QEMU (qemu-system-x86_64) is not installed, so no VM can start."
    assert info.value.fix.startswith("sudo make kernels")


def test_a_package_that_cannot_be_fetched_is_exit_code_3(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "CACHE", tmp_path)

    def fake_run(argv, **kwargs):
        assert argv[:2] == ["apt-get", "download"]
        return subprocess.CompletedProcess(argv, 100, "", "E: Can't select candidate version from package "
                                           "linux-image-6.1.0-99-amd64 as it has no candidate\n")

    monkeypatch.setattr(kernels.subprocess, "run", fake_run)
    with pytest.raises(errors.EnvironmentNotReady) as info:
        kernels.fetch("6.1", version="6.1.0-99-amd64", say=lambda text: None)
    assert info.value.code == 3
    assert str(info.value).startswith("The kernel packages for 6.1.0-99-amd64 could not be fetched (E: Can't select")
    assert "apt-get update" in info.value.fix
    assert not (tmp_path / "6.1.0-99-amd64").exists()  # no half-made cache entry is left


def test_kernel_list_needs_no_root_and_no_vm():
    proc = subprocess.run([sys.executable, "-m", "runner", "lesson1", "--kernel", "list"], cwd=boot.ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["5.10", "6.1", "6.12"]


def test_an_unknown_lesson_with_kernel_is_a_usage_error_before_any_boot():
    proc = subprocess.run([sys.executable, "-m", "runner", "lesson99", "--kernel", "6.1"], cwd=boot.ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "lesson99" in proc.stderr


def test_relay_copies_only_new_bytes(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    run = boot.Run(kernels.Kernel("6.1.0-56-amd64"), ["true"], stdout=out, stderr=err)
    run.out = tmp_path
    offsets = {"stdout": 0, "stderr": 0}
    (tmp_path / "stdout").write_text("one\n")
    run._relay(offsets)
    with open(tmp_path / "stdout", "a") as f:
        f.write("two\n")
    run._relay(offsets)
    assert out.getvalue() == "one\ntwo\n" and err.getvalue() == ""


def test_sigterm_while_the_vm_runs_stops_it_and_exits_128_plus_signal(monkeypatch):
    from runner.vm import __main__ as cli
    stopped = []

    class FakeRun:
        def __init__(self, kernel, command, **kwargs):
            pass

        def start(self):
            pass

        def wait(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises errors.Terminated here
            raise AssertionError("SIGTERM did not end the wait")

        def stop(self):
            stopped.append(True)

    monkeypatch.setattr(boot, "require_tools", lambda: None)
    monkeypatch.setattr(boot, "Run", FakeRun)
    monkeypatch.setattr(kernels, "resolve", lambda name: kernels.Kernel("6.1.0-56-amd64"))
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["exec", "--kernel", "6.1", "--", "true"]) == 128 + signal.SIGTERM
    assert stopped == [True] and signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("missing", ["depmod", "qemu-system-x86_64", "busybox"])
def test_kernel_before_make_kernels_downloads_nothing_and_says_to_run_it(monkeypatch, missing):
    real = boot.shutil.which
    monkeypatch.setattr(boot.shutil, "which", lambda name: None if name.startswith(missing) else real(name) or name)
    monkeypatch.setattr(boot, "find_vng", lambda: "/usr/bin/vng")
    downloads = []
    monkeypatch.setattr(kernels, "resolve", lambda *a, **k: downloads.append(a))
    with pytest.raises(errors.EnvironmentNotReady) as info:
        vm.run_lesson("6.1", ["lesson4"])
    assert downloads == [] and info.value.fix.startswith("sudo make kernels")
    with pytest.raises(errors.EnvironmentNotReady):
        matrix.test_kernels(["6.1"], [])
    assert downloads == []
