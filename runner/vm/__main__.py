"""Run a lesson, or the live tests, inside a VM on a kernel that has kprobes.

Command line (the Makefile's `test-kernels` and `kernels` use it):
    python3 -m runner.vm list                 # the kernels, cached or not, and what each can do
    python3 -m runner.vm fetch [5.10 6.1 6.12]   # download and unpack the newest of each series
    python3 -m runner.vm test [--kernel K]    # the live tests inside each kernel, one line each
    python3 -m runner.vm exec --kernel K -- CMD...   # any command inside the VM
    python3 -m runner.vm probe-kvm            # whether KVM boots here (else the VMs use TCG)
Each failure is one sentence and exit code 3; SIGTERM and SIGHUP exit 128+signal, Ctrl-C 130.
"""

import argparse
import os
import sys

from .. import render
from ..errors import RunnerError, Terminated, UsageError
from ..language import _
from . import boot, kernels, list_kernels


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m runner.vm",
        description=_("Run a lesson, or the live tests, inside a VM on a kernel that has kprobes."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_("examples:\n"
                 "    python3 -m runner.vm list              # kernels and what each can do\n"
                 "    sudo python3 -m runner.vm fetch        # download the kernels (once)\n"
                 "    sudo python3 -m runner.vm test         # live tests inside 5.10, 6.1 and 6.12\n"
                 "    sudo python3 -m runner.vm exec --kernel 6.12 -- uname -r"))
    parser.add_argument("--debug", action="store_true", help=_("show Python tracebacks for errors"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help=_("the VM kernels, cached or not, and what each can do"))
    p = sub.add_parser("fetch", help=_("download and unpack the newest kernel of each series (kept in .cache/kernels)"))
    p.add_argument("series", nargs="*", help=_("one or more of {series} (default: all)").format(
        series=", ".join(kernels.SERIES)))
    p = sub.add_parser("test", help=_("run the live tests inside each kernel's VM (one boot per kernel)"))
    p.add_argument("--kernel", action="append", help=_("5.10, 6.1, 6.12 or a full version (default: every series)"))
    p.add_argument("pytest_args", nargs="*",
                   help=_("after --: pytest arguments (default: tests/live -m 'bpf and (kprobe or per_kernel) and not "
                          "vm')"))
    p = sub.add_parser("exec", help=_("run one command inside a kernel's VM"))
    p.add_argument("--kernel", required=True)
    p.add_argument("--timeout", type=float, default=boot.COMMAND_TIMEOUT, help=_("seconds the command may take"))
    p.add_argument("cmd", nargs="+")
    p = sub.add_parser("probe-kvm", help=_("try booting with KVM once and remember whether it works"))
    p.add_argument("--kernel", default="6.1")
    return parser


def fetch_series(series_names):
    for series in series_names or kernels.SERIES:
        if series not in kernels.SERIES:
            raise UsageError(_("There is no VM kernel series {series}.").format(series=repr(series)),
                             fix=_("Choose from {series}.").format(series=", ".join(kernels.SERIES)))
        kernel = kernels.fetch(series)
        # TRANSLATORS: a kernel series (6.1), the kernel's full version, and the folder it was unpacked in
        print(_("{series}: {version} in {folder}").format(series=series, version=kernel.version, folder=kernel.root))
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            list_kernels()
            return 0
        if args.command == "fetch":
            return fetch_series(args.series)
        if args.command == "test":
            from . import matrix
            return matrix.test_kernels(args.kernel or list(kernels.SERIES), args.pytest_args)
        if args.command in ("exec", "probe-kvm"):
            boot.require_tools()  # before anything is downloaded
        if args.command == "exec":
            env = {k: os.environ[k] for k in ("REQUIRE_BPF",) if k in os.environ}
            status, _vm = boot.run(kernels.resolve(args.kernel), args.cmd, env=env, timeout=args.timeout)
            return status
        if args.command == "probe-kvm":
            return boot.probe_kvm(kernels.resolve(args.kernel))
    except RunnerError as err:
        if args.debug:
            raise
        render.error(err)
        return err.code
    except Terminated as term:  # SIGTERM or SIGHUP, delivered once the VM was stopped
        return 128 + term.signum
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
