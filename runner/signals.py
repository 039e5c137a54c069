"""How the runner stops: SIGTERM and SIGHUP end a run like Ctrl-C, and cleanup is never cut short.

Every long-running command (a lesson run, a check, a VM) wraps its work in
`terminated_by_signals()` and its cleanup in `held()`. The one exception type,
`errors.Terminated`, carries the signal number; the command line exits 128+signal.
"""

import contextlib
import signal

from .errors import Terminated

ENDING = (signal.SIGTERM, signal.SIGHUP)
HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def terminated_by_signals():
    """SIGTERM and SIGHUP raise Terminated inside the block (in the main thread), as Ctrl-C raises KeyboardInterrupt."""
    def handler(signum, frame):
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in ENDING}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def held():
    """Cleanup must finish: Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then arrive."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
