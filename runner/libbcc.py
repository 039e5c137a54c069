"""libbcc, the C library under BCC's Python module: how the runner has it loaded sooner.

`import bcc` spends most of its time in one call, ctypes' CDLL("libbcc.so.0"): the dynamic loader maps libbcc and
LLVM, relocates them and runs their constructors (20 ms of the 28 ms import here). CDLL() holds Python's GIL
while it does, but a C function called through ctypes does not: dlopen() called that way, in a thread, loads the
library on another CPU while the main thread imports the runner and reads the command line. When bcc's own
CDLL() comes, the library is loaded and it only counts one more user. Nothing is attached: a loaded library is
code, not probes. With one CPU nothing overlaps, and the import takes as long as it would have.

The loader holds one lock while it loads: an extension module (a .so) imported in the meantime waits for it
(Debian's and Ubuntu's Python build most of the standard library's into the interpreter; Fedora's does not,
and gains less).
"""

import ctypes
import threading

LIBRARY = b"libbcc.so.0"  # the name bcc's libbcc.py opens (bcc 0.18 to 0.31)
RTLD_NOW = 2  # as CDLL() opens it: every symbol bound now, not at its first call


def one_malloc_arena():
    """Let every thread allocate from the main thread's malloc arena (glibc's mallopt(M_ARENA_MAX, 1)).

    A thread's first malloc() gets it an arena of its own, which starts empty and grows in small steps: the compile
    in a thread of its own (session._interruptible()) then pays LLVM's allocations in page faults the main arena
    paid long ago. Measured here on the ring buffer lesson, the median of 8 runs to its "Tracing" line: 0.400 s
    compiling in a thread, 0.386 s in the main thread, 0.383 s in a thread with one arena. The runner's threads do
    not allocate at the same time (the main thread waits while BCC compiles), so one arena costs them nothing.
    Not glibc: nothing to do."""
    try:
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX is -8 in glibc's malloc.h
    except (OSError, AttributeError):
        pass


def load_early():
    """Start loading libbcc in a thread; bcc's import, later, finds it loaded (or, if it is not found, says so)."""
    one_malloc_arena()  # first: LLVM's constructors allocate in the arena the compile will use
    # Not a daemon: Python's exit waits for it (20 ms at most). A runner that ends at once (bcc not importable, a
    # usage error) would otherwise run the loader's and LLVM's exit code while the load is half done: Python 3.13
    # died of SIGSEGV or SIGABRT that way, 8 times in 30 in Debian 13.
    threading.Thread(target=_dlopen, name="libbcc-load", daemon=False).start()


def _dlopen():
    try:
        libc = ctypes.CDLL(None)
        libc.dlopen.restype, libc.dlopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_int)
        libc.dlopen(LIBRARY, RTLD_NOW)  # NULL if bcc is not installed: its import says that, with the fix
    except (OSError, AttributeError):
        pass
