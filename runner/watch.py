"""Re-run a check each time the learner saves a file, like rustlings' watch mode.

Polls the files' modification times (no dependency, works on every filesystem, WSL2 included)
and runs the check in a child process, so a crash in one run never ends the watch and nothing
stays loaded between runs. Ctrl-C ends it with exit 0.
"""

import subprocess
import sys
import time
from pathlib import Path

from . import errors
from .language import _


def snapshot(paths):
    """{path: (mtime_ns, size)}, None for a file that is missing right now (an editor mid-save)."""
    state = {}
    for path in paths:
        try:
            st = Path(path).stat()
            state[str(path)] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            state[str(path)] = None
    return state


def changes(paths, interval, sleep=time.sleep):
    """Yield the names of the files that changed, once each burst of saves has settled."""
    last = snapshot(paths)
    while True:
        sleep(interval)
        now = snapshot(paths)
        if now == last:
            continue
        while True:  # an editor may write a file in several steps: wait until it stops changing
            sleep(min(interval, 0.2))
            settled = snapshot(paths)
            if settled == now:
                break
            now = settled
        changed = [Path(p).name for p in now if now[p] != last.get(p) and now[p] is not None]
        last = now
        if changed:
            yield changed


def watch(paths, argv, cwd=None, interval=0.5, stream=sys.stdout, sleep=time.sleep, run=subprocess.run):
    """Check once, then again after each save; returns the exit code (0 after Ctrl-C)."""
    names = ", ".join(Path(p).name for p in paths)
    tty = stream.isatty()

    def check(reason):
        if tty:
            stream.write("\033[2J\033[H")  # a clean screen for each run, as rustlings does
        stream.write(f"== {time.strftime('%H:%M:%S')} {reason}\n")
        stream.flush()
        code = run(argv, cwd=cwd).returncode
        stream.write("\n" + _("Watching {names}: save to check again, Ctrl-C to end.").format(names=names) + "\n")
        stream.flush()
        return code

    try:
        # TRANSLATORS: shown after the time, as "== 12:00:00 checking", when the watch starts
        code = check(_("checking"))
        if code in (errors.USAGE, errors.ENVIRONMENT):
            return code  # the check cannot run at all: saving the file will not change that
        for changed in changes(paths, interval, sleep):
            # TRANSLATORS: {names} is a comma-separated list of file names
            check(_("{names} saved, checking again").format(names=", ".join(changed)))
    except KeyboardInterrupt:
        stream.write("\n" + _("Stopped watching.") + "\n")
        stream.flush()
        return 0
