"""The check of lesson 7's exercise: openat()'s flags in every event, and bcc-noisy's events discarded in the kernel.

The runner ran the learner's ring_buffer.c and ring_buffer.py with the lesson's workload: two children,
bcc-opener and bcc-noisy, each open a file of their own 1000 times, at the same time, with the flags the
report names (O_RDONLY | O_CLOEXEC). check() gets the events (glue.record() of each struct) and the
summary, whose lost_by_pid holds what the program counted as dropped (a full ring), per pid.
"""

import os

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
        return [(False, f"bcc-opener (pid {opener['pid']}) opened its file {calls} times, but {len(mine)} events "
                        f"arrived and the program counted {lost} as dropped: keep submitting every event you do not "
                        "mean to discard, and count a failed ringbuf_reserve() in dropped.")]
    results = [(True, f"All {calls} of bcc-opener's openat() calls are accounted for: {len(mine)} arrived"
                      + (f", {lost} found the ring full." if lost else ".") )]
    if noise:
        results.append((False, f"{len(noise)} of bcc-noisy's events (pid {noisy['pid']}) still reached Python: after "
                               "fill(), compare e->comm with \"bcc-noisy\" and call events.ringbuf_discard(e, 0) "
                               "instead of ringbuf_submit() when they match."))
    else:
        results.append((True, f"None of bcc-noisy's {noisy['calls']} openat() calls reached Python: they were "
                              "dropped in the kernel."))
    if mine and "flags" not in mine[0]:
        results.append((False, "The events have no flags field: add u32 flags to struct event_t, fill it from "
                               "args->flags (the tracepoint's field: python3 -m runner format "
                               "syscalls:sys_enter_openat), and return \"flags\": event.flags from record()."))
        return results
    want = work["flags"]
    wrong = sorted({e["flags"] for e in mine if e["flags"] != want})
    if mine and wrong:
        shown = ", ".join(flag_names(f) for f in wrong[:3])
        why = " (0: the field is never filled)" if wrong == [0] else ""
        results.append((False, f"bcc-opener opened its file with {flag_names(want)}, but its events carry "
                               f"{shown}{why}: fill flags from args->flags."))
    elif mine:
        results.append((True, f"Each of bcc-opener's {len(mine)} events carries its flags, {flag_names(want)}."))
    return results
