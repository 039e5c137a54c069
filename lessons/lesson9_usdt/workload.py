"""What lesson 9 counts: calls of three Python functions, a known number of times each.

Each function fires Python's audit probe with its own name and the call's number,
sys.audit("brew_coffee", 7), as a program's authors mark what their code does. On a Python
whose function__entry probe fires (3.6 to 3.10), the calls are counted there too, by name.
The runner starts this held at its start, attaches to its pid, then lets it run.
"""
import sys
from gettext import gettext as _


def brew_coffee(number):
    sys.audit("brew_coffee", number)


def steam_milk(number):
    sys.audit("steam_milk", number)


def pour_latte(number):
    sys.audit("pour_latte", number)


def run(count=10):
    """Call brew_coffee() 3 * count times, steam_milk() 2 * count times and pour_latte() count times,
    each call with its number, 1, 2, 3... as the audit event's argument."""
    calls = {"brew_coffee": 3 * count, "steam_milk": 2 * count, "pour_latte": count}
    for name, n in calls.items():
        function = globals()[name]
        for number in range(1, n + 1):
            function(number)
    return {"ops": sum(calls.values()),
            "what": _("calls of Python functions, each firing an audit event of its name: {calls}").format(
                calls=", ".join(_("{n} of {name}()").format(n=n, name=name) for name, n in calls.items())),
            "calls": calls, "argument_sums": {name: n * (n + 1) // 2 for name, n in calls.items()},
            "python": sys.version.split()[0]}
