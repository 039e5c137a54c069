"""The live tests inside every VM kernel: one boot per kernel, one result line per kernel.

By default each VM runs the live tests marked `kprobe` (the kprobe paths, which only a kernel
with kprobes can test) and `per_kernel` (what a kernel version changes, such as a tracepoint's
layout): the rest runs the same on every kernel, and the host's own `make test` runs it live, and the whole live suite outlasts COMMAND_TIMEOUT where QEMU emulates
the CPU (TCG). Other tests: `python3 -m runner.vm test -- PYTEST ARGS`.
"""

import os
import re
import sys
import time

from ..errors import RunnerError
from ..language import _
from . import boot, kernels

DEFAULT_TESTS = ["tests/live", "-m", "bpf and (kprobe or per_kernel) and not vm"]
# A kernel booted on another Debian's root filesystem (5.10): what depends on the kernel only. The runner's own
# behaviour there (signals, trace_pipe's one reader, ...) is that Debian's Python and bcc, which make test-distros
# runs on this machine's kernel; under TCG each of those tests would cost CI half a minute more.
ROOTFS_TESTS = ["tests/live", "-m", "bpf and per_kernel and not vm"]

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def parse_pytest_summary(text):
    """Counts from pytest's closing line ('== 3 passed, 1 skipped in 4.2s =='); {} if there is none."""
    for line in reversed(text.splitlines()):
        if re.search(r"\b(passed|failed|skipped|errors?|no tests ran)\b", line) and re.search(r" in [\d.]+s", line):
            counts = {}
            for number, word in _COUNT.findall(line):
                word = "error" if word.startswith("error") else word
                counts[word] = counts.get(word, 0) + int(number)
            return counts
    return {}


def result_line(version, counts, seconds, boot=None, status=None):
    base = f"{counts.get('passed', 0)} passed, {counts.get('failed', 0) + counts.get('error', 0)} failed, " \
           f"{counts.get('skipped', 0)} skipped"
    extra = f" (boot {boot:.0f} s, tests {seconds:.0f} s)" if boot is not None else f" ({seconds:.0f} s)"
    if status not in (None, 0, 1) and not counts:
        extra += f", pytest exit code {status}"
    return f"kernel {version}: {base}{extra}"


def test_kernels(names, pytest_args, require_bpf=True):
    """Boot each kernel once and run the live tests inside; one result line per kernel. Returns the exit code."""
    lines, failed = [], False
    if not pytest_args:
        # TRANSLATORS: kprobe and per_kernel are names of pytest markers, kept as they are
        print(_("Inside each VM: the live tests marked kprobe or per_kernel (the lessons' kprobe paths, the tracepoint "
                "layouts; on another Debian's root filesystem, per_kernel only); others, e.g.: "
                "BCC_LESSONS_VM_TIMEOUT=1800 python3 -m runner.vm test -- tests/live/test_exercises.py "
                "-m 'bpf and not vm' (the whole live suite is far slower in a VM without KVM)"), flush=True)
    boot.require_tools()  # before anything is downloaded
    for name in names:
        kernel = kernels.resolve(name)
        tests = pytest_args or (ROOTFS_TESTS if kernel.rootfs else DEFAULT_TESTS)
        print(_("== kernel {version}: {command} (inside a VM) ==").format(
            version=kernel.version, command=f"python -m pytest {' '.join(tests)}"), flush=True)
        captured = _Tee(sys.stdout)
        env = {"REQUIRE_BPF": "1" if require_bpf else os.environ.get("REQUIRE_BPF", "")}
        started = time.monotonic()
        try:
            status, vm = boot.run(kernel, [kernel.python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *tests],
                                  env=env, stdout=captured)
        except RunnerError as err:
            line = _("kernel {version}: did not run: {error} ({seconds:.0f} s)").format(
                version=kernel.version, error=err, seconds=time.monotonic() - started)
            print(err.details or "", file=sys.stderr)
            lines.append(line)
            failed = True
            continue
        counts = parse_pytest_summary(captured.text())
        lines.append(result_line(kernel.version, counts, vm.run_seconds or 0, vm.boot_seconds, status))
        if status != 0 or not counts or counts.get("failed") or counts.get("error"):
            failed = True
    print()
    for line in lines:
        print(line)
    return 1 if failed else 0


class _Tee:
    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def text(self):
        return "".join(self.parts)
