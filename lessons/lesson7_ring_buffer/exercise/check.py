"""The check of lesson 7's exercise: openat()'s flags in every event, and bcc-noisy's events discarded in the kernel.

The runner ran the learner's ring_buffer.c and ring_buffer.py with the lesson's workload: two children,
bcc-opener and bcc-noisy, each open a file of their own 1000 times, at the same time, with the flags the
report names (O_RDONLY | O_CLOEXEC). check() gets the events (glue.record() of each struct) and the
summary, whose lost_by_pid holds what the program counted as dropped (a full ring), per pid.
"""

import os
from gettext import gettext as _

FLAG_NAMES = {os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR", os.O_CREAT: "O_CREAT", os.O_CLOEXEC: "O_CLOEXEC",
              os.O_TRUNC: "O_TRUNC", os.O_APPEND: "O_APPEND", os.O_NONBLOCK: "O_NONBLOCK"}


def flag_names(flags):
    names = [name for bit, name in FLAG_NAMES.items() if flags & bit]
    return " | ".join(["O_RDONLY"] * (not flags & (os.O_WRONLY | os.O_RDWR)) + names) + f" ({flags:#o})"


def check(events, summary):
    work = summary["workload"]
    opener, noisy = work["children"]["bcc-opener"], work["children"]["bcc-noisy"]
    dropped = summary.get("lost_by_pid") or {}

    def of(child):
        return [e for e in events if e["pid"] == child["pid"] and e["filename"] == child["path"]]

    mine, noise = of(opener), of(noisy)
    lost = int(dropped.get(str(opener["pid"]), 0))
    calls = opener["calls"]
    if len(mine) + lost != calls:
        return [(False, _("bcc-opener (pid {pid}) opened its file {calls} times, but {arrived} events "
                          "arrived and the program counted {lost} as dropped: keep submitting every event you do not "
                          "mean to discard, and count a failed ringbuf_reserve() in dropped.").format(
                              pid=opener["pid"], calls=calls, arrived=len(mine), lost=lost))]
    if lost:
        accounted = _("All {calls} of bcc-opener's openat() calls are accounted for: {arrived} arrived, {lost} found "
                      "the ring full.").format(calls=calls, arrived=len(mine), lost=lost)
    else:
        accounted = _("All {calls} of bcc-opener's openat() calls are accounted for: {arrived} arrived.").format(
            calls=calls, arrived=len(mine))
    results = [(True, accounted)]
    if noise:
        results.append((False, _("{events} of bcc-noisy's events (pid {pid}) still reached Python: after "
                                 "fill(), compare e->comm with \"bcc-noisy\" and call events.ringbuf_discard(e, 0) "
                                 "instead of ringbuf_submit() when they match.").format(
                                     events=len(noise), pid=noisy["pid"])))
    else:
        results.append((True, _("None of bcc-noisy's {calls} openat() calls reached Python: they were "
                                "dropped in the kernel.").format(calls=noisy["calls"])))
    if mine and "flags" not in mine[0]:
        results.append((False, _("The events have no flags field: add u32 flags to struct event_t, fill it from "
                                 "args->flags (the tracepoint's field: python3 -m runner format "
                                 "syscalls:sys_enter_openat), and return \"flags\": event.flags from record().")))
        return results
    want = work["flags"]
    wrong = sorted({e["flags"] for e in mine if e["flags"] != want})
    if mine and wrong:
        shown = ", ".join(flag_names(f) for f in wrong[:3])
        if wrong == [0]:
            message = _("bcc-opener opened its file with {flags}, but its events carry {shown} (0: the field is never "
                        "filled): fill flags from args->flags.")
        else:
            message = _("bcc-opener opened its file with {flags}, but its events carry {shown}: fill flags from "
                        "args->flags.")
        results.append((False, message.format(flags=flag_names(want), shown=shown)))
    elif mine:
        results.append((True, _("Each of bcc-opener's {events} events carries its flags, {flags}.").format(
            events=len(mine), flags=flag_names(want))))
    return results
