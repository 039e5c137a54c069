"""Classroom notebooks: a lesson's own glue run from Jupyter, with Start/Stop, live tables and a clean detach.

A lesson's notebook (notebooks/lesson<N>_<name>.ipynb, written by notebooks/build.py)
holds the README's text and these calls, nothing else:

    lesson = notebook.Controller("lesson1", duration=duration)
    lesson.show_program()    # the lesson's .c file, as it is on disk
    lesson.load()            # the glue's load(): compile and attach
    lesson.controls()        # Start/Stop, duration slider, recent events, counts with bars, histogram
    lesson.summary()         # what the last run saw, as text (and JSON for tests)
    lesson.detach()          # nothing of the lesson stays in the kernel

The modules, each answering one question:
    controller   one lesson in a notebook: a session.Run loaded once, traced in a background thread
    sink         where that Run writes (session.Sink): the controller's tables; Stop as stop_requested()
    widgets      the ipywidgets view (imported only by controls())
    cleanup      what detaches every lesson at exit and on SIGTERM
    server       the kernelspec and `python3 -m runner notebook` (JupyterLab on loopback, with a token)
    guard        whether that server is reachable from here only, and only with its token
    unattended   BCC_LESSONS_UNATTENDED=1 (tests, CI): controls() runs once and waits for the end

Importing this package imports neither ipywidgets nor bcc.
"""

import subprocess  # noqa: F401  (tests patch notebook.subprocess.Popen, which serve() starts JupyterLab with)

from .controller import SUMMARY_MIME, Controller
from .server import (KERNEL_NAME, NOTEBOOKS_DIR, check_loopback, ensure_kernelspec, free_port, kernelspec_dir,
                     serve, server_command)
from .unattended import UNATTENDED_ENV, unattended

__all__ = ["Controller", "SUMMARY_MIME", "KERNEL_NAME", "NOTEBOOKS_DIR", "UNATTENDED_ENV", "check_loopback",
           "ensure_kernelspec", "free_port", "kernelspec_dir", "serve", "server_command", "unattended"]
