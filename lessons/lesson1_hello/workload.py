"""What lesson 1 traces: this process forks `count` times, `interval` seconds apart.

Each fork() is one clone() syscall made by this process, so hello() runs `count`
times with this process's pid. The runner starts it (as bcc-workload) and compares
what the kernel printed with the report run() returns.
"""
import os
import time
from gettext import gettext as _


def run(count=5, interval=0.0):
    for i in range(count):
        if i:
            time.sleep(interval)
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    return {"ops": count, "what": _("clone() calls")}
