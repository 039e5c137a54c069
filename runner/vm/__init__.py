"""Run a lesson, or the live tests, inside a VM on a kernel that has kprobes.

This machine's kernel may lack kprobes while a learner's Ubuntu, Debian or Fedora kernel has
them. Debian's own kernels boot here in QEMU with the host's root filesystem through virtme-ng
(`vng`), so the same runner, the same lessons and the same BCC run inside, on that kernel; Debian
11's 5.10 boots with Debian 11's root filesystem, its Python 3.9 and its bcc 0.18.

One question per module: which kernels exist and where they are cached (`kernels`), booting one
VM to run one command (`boot`), the live tests in every kernel (`matrix`), and the command line
`python3 -m runner.vm` (`__main__`). This package holds what the rest of the runner uses:
`--kernel` (run_lesson, list_kernels, strip_kernel_option) and the doctor's VM finding.
"""

import os
import sys
from pathlib import Path

from ..errors import Terminated
from ..findings import Finding
from ..language import _
from . import boot, kernels


def describe(series, found):
    """One line for a series: its cached kernel and what it can do, or how to get it."""
    if found:
        k = found[0]
        # TRANSLATORS: a column of a table of kernels: a kernel's series and version, then the BPF mechanisms it has
        return _("{series:<5} {version:<24} cached; can: {mechanisms}").format(
            # TRANSLATORS: in place of the BPF mechanisms a kernel has, when its config file says none
            series=series, version=k.version, mechanisms=", ".join(k.can()) or _("unknown"))
    # TRANSLATORS: {command} is the command that downloads the kernels
    return _("{series:<5} {state:<24} fetched on first use, or now with: {command}").format(
        # TRANSLATORS: in a table of kernels, in place of the version of a kernel not downloaded yet
        series=series, state=_("(not downloaded)"), command=kernels.SETUP)


def list_kernels(out=print):
    have = kernels.cached()
    for series in kernels.SERIES:
        out(describe(series, have.get(series)))
    missing = boot.tools_missing()
    if missing:
        out("\n" + _("The VM tools are not ready: {problem}. Fix: {fix}").format(problem=missing[0], fix=missing[1]))
    else:
        out("\n" + _("Run a lesson in one: sudo python3 -m runner lesson4 --kernel {series}").format(
            series=next(iter(kernels.SERIES))))


def strip_kernel_option(argv):
    """The runner's arguments without `--kernel K` / `--kernel=K`, for the runner inside the VM."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--kernel":
            skip = True
        elif not arg.startswith("--kernel="):
            out.append(arg)
    return out


def run_lesson(kernel_name, argv):
    """`python3 -m runner LESSON ... --kernel K`: the same command, run inside K's VM; returns its exit code."""
    if kernel_name == "list":
        list_kernels()
        return 0
    boot.require_tools()  # before anything is downloaded
    kernel = kernels.resolve(kernel_name, say=lambda text: print(text, file=sys.stderr))
    quiet = "--json" in argv or "-j" in argv or "-q" in argv or "--quiet" in argv
    if not quiet:
        # TRANSLATORS: KVM: hardware virtualization; TCG: QEMU emulating the CPU, much slower
        booting = (_("Booting Linux {version} in a VM (KVM)...") if boot.kvm_usable()
                   else _("Booting Linux {version} in a VM (TCG, no KVM: about a minute)..."))
        print(booting.format(version=kernel.version), file=sys.stderr, flush=True)
    env = {k: os.environ[k] for k in ("REQUIRE_BPF", "COLUMNS") if k in os.environ}
    # The guest sees the host's files read-only: share the progress folder so a lesson run there counts too
    # (not where the guest runs another Debian's root filesystem: that has its own).
    rwdirs = []
    if not kernel.rootfs:
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        state.mkdir(parents=True, exist_ok=True)
        env["XDG_STATE_HOME"] = str(state)
        rwdirs.append(state)
    try:
        status, _vm = boot.run(kernel, [kernel.python, "-m", "runner", *strip_kernel_option(argv)], env=env,
                               rwdirs=rwdirs)
    except Terminated as term:
        return 128 + term.signum
    return status


def doctor_findings():
    """Cheap (no boot): which VM kernels `--kernel` can use, and what each can do."""
    have = kernels.cached()
    missing = boot.tools_missing()
    lines = "; ".join(describe(s, have.get(s)).replace("  ", " ").strip() for s in kernels.SERIES)
    if missing:
        return [Finding("VM kernels", "warn", _("{problem}; --kernel cannot run lessons in a VM ({kernels})").format(
            problem=missing[0], kernels=lines), missing[1])]
    if not have:
        return [Finding("VM kernels", "warn",
                        _("none downloaded yet ({series} are fetched on first --kernel use)").format(
                            series=", ".join(kernels.SERIES)),
                        kernels.SETUP)]
    # TRANSLATORS: {kernels} is a list of the VM kernels --kernel can use and what each can do
    return [Finding("VM kernels", "ok", _("for --kernel: {kernels}").format(kernels=lines))]
