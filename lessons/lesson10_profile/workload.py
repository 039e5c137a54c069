"""What lesson 10 profiles: a C program that spends its CPU time in hot() and warm(), 3:1.

The program, workload.c, is compiled here the first time (cc, with frame pointers) into a cache
folder, and run for `seconds` of CPU time. It stays alive `linger` seconds after its work, so that
the profiler can still read its memory map to name the addresses of its last samples.
"""
import hashlib
import os
import shutil
import subprocess
from gettext import gettext as _
from pathlib import Path

SOURCE = Path(__file__).with_name("workload.c")
# Frame pointers: each function saves its caller's frame address on the stack
# and keeps its own in rbp, a chain the kernel follows to walk the stack. -O0
# keeps them in every function, leaves included (gcc 12 at -O1 drops them in
# hot() and warm() even with -fno-omit-frame-pointer), and keeps hot() and
# warm() two functions: an optimiser could inline or merge identical code.
CFLAGS = ["-O0", "-fno-omit-frame-pointer"]


def build():
    """The compiled program (compiled once per version of workload.c), or an OSError saying why not."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError(_("There is no C compiler (cc) on this machine to build lesson 10's workload; "
                        "install one: sudo apt install gcc (Debian, Ubuntu), sudo dnf install gcc (Fedora)."))
    text = SOURCE.read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bcc-lessons"
    # one folder per version of the source and flags; the program's name is its comm, in every sample
    folder = cache / ("lesson10-" + hashlib.sha256(text + " ".join(CFLAGS).encode()).hexdigest()[:12])
    binary = folder / "bcc-spin"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / ("bcc-spin.%d" % os.getpid())
        subprocess.run([compiler, *CFLAGS, "-o", str(partial), str(SOURCE)], check=True)
        partial.replace(binary)  # whole or not at all, also when two runs build at once
    return binary


def run(seconds=2.0, kernel=0, linger=3.0):
    """Run the program for `seconds` of CPU time; kernel=N adds N units of write() calls to each round."""
    binary = build()
    child = subprocess.Popen([str(binary), str(seconds), str(kernel), str(linger)], stdout=subprocess.PIPE, text=True)
    rounds, cpu = child.stdout.readline().split()  # its work is done; it lingers, and ends by itself
    if kernel:
        what = _("rounds of hot(3 units) then warm(1 unit), then in_kernel({kernel}) in {cpu} s of CPU time").format(
            kernel=kernel, cpu=cpu)
    else:
        what = _("rounds of hot(3 units) then warm(1 unit) in {cpu} s of CPU time").format(cpu=cpu)
    return {"ops": int(rounds), "what": what,
            "pids": [child.pid], "children_only": True, "sampled": True, "program": str(binary), "cpu_seconds": float(cpu),
            "share": {"hot": 0.75, "warm": 0.25}}
