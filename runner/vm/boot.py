"""Boot one VM on a cached kernel and run one command inside: `run(kernel, command)`.

`vng --run <vmlinuz> --force-9p --rwdir <run folder>` boots it on the host's root filesystem (or, with
`--root`, on the Debian root filesystem the kernel belongs to: kernels.Kernel.rootfs), read-only
but for the run folder, where the guest writes the command's `stdout`, `stderr` and `status` (vng's own
exit code says nothing); the guest's writes elsewhere go to overlays that vanish with it. The boot time depends on whether KVM is usable (else QEMU emulates the CPU:
TCG) and on the cores. Whatever ends the run (a timeout, Ctrl-C, SIGTERM, SIGHUP), vng, virtme-run and
qemu are killed before `run` returns or raises.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import signals
from ..errors import EnvironmentNotReady, RunnerError
from ..language import _
from ..lessons import ROOT
from . import kernels

BOOT_TIMEOUT = float(os.environ.get("BCC_LESSONS_VM_BOOT_TIMEOUT", 240))
COMMAND_TIMEOUT = float(os.environ.get("BCC_LESSONS_VM_TIMEOUT", 900))
MEMORY = os.environ.get("BCC_LESSONS_VM_MEMORY", "2G")
KVM_WORKS = f"kvm-works-{os.uname().release}"  # in the cache: KVM booted a kernel on this host kernel

# Modules udev would load for the emulated PC's hardware (disk controller, watchdog, crypto
# accelerators, nested KVM): the lessons need none of them, and each costs seconds under TCG.
# They stay loadable by name (modprobe.blacklist only stops loading by alias).
SKIP_MODULES = ("kvm,kvm_amd,kvm_intel,irqbypass,crct10dif_pclmul,crc32_pclmul,crc32c_intel,ghash_clmulni_intel,"
                "sha512_ssse3,sha256_ssse3,sha1_ssse3,aesni_intel,sr_mod,sg,iTCO_wdt,intel_pmc_bxt,ahci,evdev,"
                "psmouse,i2c_i801,serio_raw,lpc_ich,pcspkr,i6300esb,qemu_fw_cfg,button")


# -- the tools --------------------------------------------------------------------------------

def find_vng():
    """vng from the venv this Python runs in, else from PATH."""
    here = Path(sys.executable).parent / "vng"
    return str(here) if here.exists() else shutil.which("vng")


def tools_missing():
    """The first missing tool as (sentence, fix), or None."""
    fix = _("sudo make kernels (installs qemu-system-x86, kmod and busybox-static, and virtme-ng from PyPI, then "
            "fetches the kernels)")
    if not shutil.which("qemu-system-x86_64"):
        return _("QEMU (qemu-system-x86_64) is not installed, so no VM can start"), fix
    if not find_vng():
        return _("virtme-ng (vng), which boots the VMs, is not installed in this Python environment"), fix
    if not (shutil.which("busybox") or shutil.which("busybox-static")):
        return _("BusyBox is not installed (virtme-ng needs it for the VM's initramfs)"), fix
    if not shutil.which("depmod") or not shutil.which("dpkg-deb"):
        return _("depmod (package kmod) or dpkg-deb, which unpack the kernels, is not installed"), fix
    return None


def require_tools():
    missing = tools_missing()
    if missing:
        # TRANSLATORS: {problem} is one of the sentences above about a missing VM tool; this ends it
        raise EnvironmentNotReady(_("{problem}.").format(problem=missing[0]), fix=missing[1])


def kvm_usable():
    """Hardware virtualization only if asked for (BCC_LESSONS_VM_ACCEL=kvm) or proven to boot here before.

    On this kind of machine /dev/kvm is a paravirtual hypervisor on which stock kernels crash or
    hang at boot, so TCG is the default; `python3 -m runner.vm probe-kvm` tries KVM once and
    remembers a success in the cache.
    """
    accel = os.environ.get("BCC_LESSONS_VM_ACCEL", "")
    if accel in ("kvm", "tcg"):
        return accel == "kvm"
    return (kernels.CACHE / KVM_WORKS).exists() and os.access("/dev/kvm", os.R_OK | os.W_OK)


# -- one boot ---------------------------------------------------------------------------------

GUEST_SCRIPT = """\
#!/bin/bash
# Runs inside the VM. The run folder {out} is shared with the host, which reads these files.
out={out}
cut -d' ' -f1 /proc/uptime > "$out/booted"
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
uname -r > "$out/kernel"
ip link set lo up 2>/dev/null  # as on any booted machine: lessons send over loopback
cd {cwd}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 {env}
{command} > "$out/stdout" 2> "$out/stderr" < /dev/null
echo $? > "$out/status.tmp" && mv "$out/status.tmp" "$out/status"
"""


def shell_quote(words):
    return " ".join(shlex.quote(str(w)) for w in words)


class VMFailed(EnvironmentNotReady):
    """The VM did not boot, or its command did not finish: exit code 3."""


class Run:
    """One VM boot that runs one command; relays its output; kills every VM process on every exit path."""

    def __init__(self, kernel, command, env=None, timeout=COMMAND_TIMEOUT, boot_timeout=BOOT_TIMEOUT, cpus=None,
                 stdout=None, stderr=None, rwdirs=()):
        self.kernel, self.command, self.env = kernel, list(command), dict(env or {})
        self.rwdirs = list(rwdirs)  # host folders the guest may write to (everything else is read-only there)
        self.timeout, self.boot_timeout = timeout, boot_timeout
        self.cpus = cpus or os.cpu_count() or 1
        self.stdout, self.stderr = stdout or sys.stdout, stderr or sys.stderr
        self.proc = None
        self.out = None
        self.boot_seconds = self.run_seconds = None

    def guest_path(self, path):
        """A host path as the guest sees it: the same, or relative to the guest's own root filesystem."""
        rootfs = self.kernel.rootfs
        return Path("/", Path(path).relative_to(rootfs)) if rootfs else Path(path)

    def vng_argv(self):
        rootfs = self.kernel.rootfs
        # vng takes host paths, inside the guest's root filesystem where it is not this machine's
        cwd = rootfs / str(self.kernel.guest_cwd).lstrip("/") if rootfs else ROOT
        argv = [find_vng(), "--run", str(self.kernel.vmlinuz), "--force-9p", "--rwdir", str(self.out),
                "--cpus", str(self.cpus), "--memory", MEMORY, "--cwd", str(cwd),
                "--append", f"module_blacklist=kvm,kvm_amd,kvm_intel modprobe.blacklist={SKIP_MODULES}",
                "--exec", f"bash {self.guest_path(self.out)}/guest.sh"]
        if rootfs:
            argv[1:1] = ["--root", str(rootfs)]
        for folder in self.rwdirs:
            if not rootfs or Path(folder).is_relative_to(rootfs):  # vng shares only folders inside the guest's root
                argv[-2:-2] = ["--rwdir", str(folder)]
        if not kvm_usable():
            argv.insert(1, "--disable-kvm")
        return argv

    def start(self):
        rootfs = self.kernel.rootfs
        # The run folder, shared with the guest: inside its root filesystem where that is not this machine's
        # (its /var/tmp: the guest mounts a tmpfs there, and the run folder on top of it)
        self.out = Path(tempfile.mkdtemp(prefix="bcc-lessons-vm-", dir=rootfs / "var" / "tmp" if rootfs else None))
        env_words = " ".join(f"{k}={shell_quote([v])}" for k, v in self.env.items())
        (self.out / "guest.sh").write_text(GUEST_SCRIPT.format(
            out=shell_quote([self.guest_path(self.out)]), cwd=shell_quote([self.kernel.guest_cwd]), env=env_words,
            command=shell_quote(self.command)))
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        self.log = open(self.out / "vng.log", "wb")
        # Its own session: vng, virtme-run and qemu can then be found and killed as one group.
        self.proc = subprocess.Popen(self.vng_argv(), stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, env=env, start_new_session=True)
        self.started = time.monotonic()

    def wait(self):
        """Relay the guest's output while it runs; returns the guest command's exit status."""
        offsets = {"stdout": 0, "stderr": 0}
        booted_at = None
        while True:
            now = time.monotonic()
            self._relay(offsets)
            status = self.out / "status"
            if status.exists():
                self._relay(offsets)
                self.run_seconds = now - (booted_at or self.started)
                return int(status.read_text().strip() or 1)
            if booted_at is None and (self.out / "booted").exists():
                booted_at = now
                self.boot_seconds = now - self.started
            if booted_at is None and now - self.started > self.boot_timeout:
                raise VMFailed(_("The {version} VM did not boot within {seconds:.0f} s.").format(
                    version=self.kernel.version, seconds=self.boot_timeout),
                    fix=_("Try again when the machine is less busy, or set BCC_LESSONS_VM_BOOT_TIMEOUT=600 "
                          "(the boot log is in {folder}/vng.log while it runs).").format(folder=self.out),
                    details=self._log_tail())
            if booted_at is not None and now - booted_at > self.timeout:
                raise VMFailed(_("The command inside the {version} VM did not finish within {seconds:.0f} s, so the "
                                 "VM was stopped.").format(version=self.kernel.version, seconds=self.timeout),
                               fix=_("Set BCC_LESSONS_VM_TIMEOUT to a larger number of seconds if it was only slow."))
            if self.proc.poll() is not None:
                time.sleep(0.3)  # the 9p share may deliver the last write just after the guest powered off
                if (self.out / "status").exists():
                    continue
                said = (_("The {version} VM ended before its command reported an exit status (vng exit code "
                          "{code}).") if booted_at else
                        _("The {version} VM stopped before it booted (vng exit code {code})."))
                raise VMFailed(said.format(version=self.kernel.version, code=self.proc.returncode),
                               fix=_("Read the VM's last messages above; python3 -m runner doctor checks the VM "
                                     "tools."),
                               details=self._log_tail())
            time.sleep(0.2)

    def _relay(self, offsets):
        for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
            path = self.out / name
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(offsets[name])
                data = f.read()
            if data:
                offsets[name] += len(data)
                stream.write(data.decode(errors="replace"))
                stream.flush()

    def _log_tail(self, lines=15):
        try:
            text = (self.out / "vng.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self):
        """Kill vng, virtme-run and qemu (everything in the VM's session), then remove the run folder."""
        if self.proc is not None:
            kill_session(self.proc.pid)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.log.close()
        if self.out is not None and not os.environ.get("BCC_LESSONS_VM_KEEP"):
            shutil.rmtree(self.out, ignore_errors=True)


def _sid(pid):
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def session_members(sid):
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _sid(int(e.name)) == sid]


def kill_session(sid, grace=3.0):
    """SIGTERM every process in session `sid`, then SIGKILL what is left after `grace` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        pids = session_members(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(sid):
            time.sleep(0.1)


def run(kernel, command, **kwargs):
    """Boot `kernel`, run `command` inside, relay its output; returns (exit status, Run).

    SIGTERM and SIGHUP raise errors.Terminated as Ctrl-C raises KeyboardInterrupt; signals wait while the VM stops.
    """
    require_tools()
    vm = Run(kernel, command, **kwargs)
    with signals.terminated_by_signals():
        try:
            vm.start()
            return vm.wait(), vm
        finally:
            with signals.held():
                vm.stop()


def probe_kvm(kernel):
    """Boot once with KVM (short timeout); remember a success so later boots use it."""
    os.environ["BCC_LESSONS_VM_ACCEL"] = "kvm"
    try:
        works = run(kernel, ["true"], boot_timeout=60, timeout=30)[0] == 0
    except RunnerError:
        works = False
    finally:
        del os.environ["BCC_LESSONS_VM_ACCEL"]
    marker = kernels.CACHE / KVM_WORKS
    if works:
        marker.write_text("yes\n")
    elif marker.exists():
        marker.unlink()
    said = (_("KVM boots {version} here: VMs use KVM.") if works
            else _("KVM does not boot {version} here: VMs use TCG."))
    print(said.format(version=kernel.version))
    return 0
