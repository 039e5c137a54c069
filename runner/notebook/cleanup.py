"""What detaches a notebook's lessons when the kernel goes away: at exit, and on SIGTERM.

Controllers with something attached or running are kept here (strong references: a
controller nobody names any more is still detached at exit).
"""

import atexit
import os
import signal
import threading

LIVE = set()
exiting = False  # set at exit: the controllers detach without telling a front end that is gone
_previous_sigterm = None


def cleanup_all():
    global exiting
    exiting = True
    for controller in list(LIVE):
        controller.detach(quiet=True)


atexit.register(cleanup_all)  # the kernel shut down (Jupyter's shutdown, the notebook closed, Ctrl-C on the server)


def _on_sigterm(signum, frame):
    """A kernel killed with SIGTERM: detach first, then die as SIGTERM would have."""
    cleanup_all()
    if callable(_previous_sigterm):
        _previous_sigterm(signum, frame)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_sigterm():
    """Detach on SIGTERM too (only the main thread may set a handler; the first load() does it)."""
    global _previous_sigterm
    if _previous_sigterm is None and threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGTERM)
        if current is not _on_sigterm:
            _previous_sigterm = current if callable(current) else signal.SIG_DFL
            signal.signal(signal.SIGTERM, _on_sigterm)
