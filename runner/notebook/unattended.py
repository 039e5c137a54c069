"""Whether this kernel runs unattended (tests, CI): then controls() runs once at once and waits for its end."""

import os

UNATTENDED_ENV = "BCC_LESSONS_UNATTENDED"


def unattended():
    return os.environ.get(UNATTENDED_ENV, "") not in ("", "0")
