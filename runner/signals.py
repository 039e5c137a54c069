"""How the runner stops: SIGTERM and SIGHUP end a run like Ctrl-C, and cleanup is never cut short.

Every long-running command (a lesson run, a check, a VM) wraps its work in
`terminated_by_signals()` and its cleanup in `held()`. The one exception type,
`errors.Terminated`, carries the signal number; the command line exits 128+signal.
Where BCC calls back into Python from C (a perf buffer's callbacks), an exception
raised there would be printed and lost, so signals arriving inside `deferred()` are
raised when it ends.
"""

import contextlib
import signal
import threading

from .errors import Terminated

ENDING = (signal.SIGTERM, signal.SIGHUP)
HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_state = threading.local()


def _raise(signum):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _handler(signum, frame):
    if signum != signal.SIGINT:
        _state.ended = signum  # remembered: a bare `except:` on the way (older BCC has some) cannot lose it
    if getattr(_state, "deferring", False):
        _state.pending = getattr(_state, "pending", None) or signum
        return
    _raise(signum)


@contextlib.contextmanager
def terminated_by_signals():
    """SIGTERM and SIGHUP raise Terminated inside the block (in the main thread), Ctrl-C KeyboardInterrupt."""
    ours = [*ENDING] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else [])
    _state.ended = None
    previous = {s: signal.signal(s, _handler) for s in ours}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def hung_up():
    """Whether a SIGHUP ended the last run (the terminal closed)."""
    return getattr(_state, "ended", None) == signal.SIGHUP


def raise_if_ended():
    """Raise Terminated again for a SIGTERM or SIGHUP that arrived but was swallowed on the way."""
    signum = getattr(_state, "ended", None)
    if signum:
        raise Terminated(signum)


@contextlib.contextmanager
def deferred():
    """Signals that arrive inside the block are raised when it ends (BCC's C code calls Python back in it)."""
    if getattr(_state, "deferring", False):
        yield
        return
    _state.deferring, _state.pending = True, None
    try:
        yield
    finally:
        _state.deferring = False
        signum, _state.pending = _state.pending, None
        if signum:
            _raise(signum)


@contextlib.contextmanager
def held():
    """Cleanup must finish: Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then arrive."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
