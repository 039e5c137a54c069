"""The check of lesson 6's exercise: the histogram of strlen()'s results, for the workload's pid alone.

The runner ran the learner's uprobes.c and uprobes.py with the lesson's strlen workload, which calls
libc's strlen() a known number of times on marked strings of known lengths. check() gets the rows of
every snapshot() (one per interval) and the run's summary. The histogram's rows are those with a
"slot": bucket k counts the lengths in [2**(k-1), 2**k), as bpf_log2l() puts them. Each snapshot
reads and deletes, so the counts of all intervals add up.
"""

from collections import Counter
from gettext import gettext as _


def bucket(length):
    return length.bit_length()  # bpf_log2l(v): the k with 2**(k-1) <= v < 2**k (0 for 0)


def lengths(low_slot):
    return "0" if low_slot == 0 else f"{(1 << low_slot) >> 1}-{(1 << low_slot) - 1}"


def shown(histogram):
    # TRANSLATORS: a bucket of strlen()'s histogram, e.g. "25 in bucket 5 (16-31)": 25 calls returned 16 to 31
    return ", ".join(_("{n} in bucket {slot} ({lengths})").format(n=n, slot=k, lengths=lengths(k))
                     for k, n in sorted(histogram.items())) or _("nothing")


def check(events, summary):
    work = summary["workload"]
    pid, calls = work["pid"], work["strlen_calls"]
    expected = Counter()
    for string, count in work["strings"].items():
        expected[bucket(len(string))] += count  # strlen() returns the whole length, even past the 64 bytes copied
    expected = +expected
    rows = [e for e in events if "slot" in e]
    if not rows:
        return [(False, _("Your snapshot() returned no rows of the lengths histogram, so its counts for the workload "
                          "(pid {pid}) cannot be seen: key lengths by pid and slot in uprobes.c, then, in "
                          "snapshot() in uprobes.py, add one row per key with \"pid\", \"slot\" and \"count\".").format(
                              pid=pid))]
    by_pid = {}
    for row in rows:
        by_pid.setdefault(row.get("pid"), Counter())[int(row["slot"])] += int(row["count"])
    if set(by_pid) <= {None, 0}:
        return [(False, _("The histogram's rows carry no pid, so it is one histogram shared by every process: put "
                          "bpf_get_current_pid_tgid() >> 32 in its key next to the slot, and return it as \"pid\"."))]
    mine = +by_pid.get(pid, Counter())
    if not mine:
        others = ", ".join(str(p) for p in sorted(by_pid, key=str))
        return [(False, _("The histogram has rows for pids {others} but none for the workload's pid {pid}, which "
                          "called strlen() {calls} times: the pid in the key should be the calling process's, "
                          "bpf_get_current_pid_tgid() >> 32 (the upper half), in strlen_return().").format(
                              others=others, pid=pid, calls=calls))]
    if mine == expected:
        return [(True, _("The histogram for the workload's pid {pid} holds exactly its {calls} strlen() calls: "
                         "{shown}, as the lengths of its strings say.").format(
                             pid=pid, calls=calls, shown=shown(mine)))]
    total = sum(mine.values())
    if total != calls:
        message = _("The histogram for the workload's pid {pid} shows {shown}, but its strlen() calls returned "
                    "lengths that give {expected}: it counts {total} calls, not {calls}: count once per return, in "
                    "strlen_return(), and read every row of the map in snapshot().")
    else:
        message = _("The histogram for the workload's pid {pid} shows {shown}, but its strlen() calls returned "
                    "lengths that give {expected}: the calls are in the wrong buckets: the slot should be "
                    "bpf_log2l(PT_REGS_RC(ctx)), the length strlen() returned.")
    return [(False, message.format(pid=pid, shown=shown(mine), expected=shown(expected), total=total, calls=calls))]
