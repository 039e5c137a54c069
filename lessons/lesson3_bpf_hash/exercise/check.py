"""The check of lesson 3's exercise: rows per command name, the top 5 of each read, exact counts.

The runner ran the learner's bpf_hash.c and bpf_hash.py with the sleeps workload (it sleeps 60 times,
its five children 40, 20, 10, 5 and 2 times: six names, more than a top 5 holds) and read the maps once,
when the workload was done ([lesson.exercise] in lessons.toml). unique = 1 names them bcc-<pid> and
bcc-<pid>-1 to -5: counts per name would otherwise add up every bcc-workload on the machine, e.g.
another lesson's run at the same moment. check() gets the rows of every read
(glue.snapshot(b), each tagged with its "interval") and the summary, whose workload report names each
process and how often it slept. The maps count the whole machine, so other command names appear too;
the check judges the workload's names exactly and the others only for order and number.
"""

from collections import defaultdict
from gettext import gettext as _, ngettext

TOP = 5


def expected(work):
    """{comm: sleeps} of the workload: the parent and each child."""
    counts = defaultdict(int)
    counts[work["comm"]] += work["ops"]
    for child in work.get("children", []):
        counts[child["comm"]] += child["ops"]
    return dict(counts)


def check(events, summary):
    want = expected(summary["workload"])
    names = ", ".join(f"{comm} {n}" for comm, n in want.items())
    if not events:
        return [(False, _("Your program returned no rows, though the workload slept ({names}): keep both "
                          "TRACEPOINT_PROBEs counting into the maps and snapshot() returning their rows.").format(
                              names=names))]
    reads = defaultdict(list)
    for row in events:
        reads[row.get("interval", 1)].append(row)
    results = []

    # One row per command name: no pid, and no name twice in one read.
    with_pid = [r for r in events if "pid" in r]
    twice = sorted({r["comm"] for rows in reads.values() for r in rows
                    if sum(o["comm"] == r["comm"] for o in rows) > 1})
    if with_pid:
        results.append((False, _("Your rows are still per process: {rows} of them carry a pid (e.g. "
                                 "{comm}, pid {pid}). Make struct key_t hold only "
                                 "char comm[16], and build rows of comm, count and slept_ms in snapshot().").format(
                                     rows=len(with_pid), comm=with_pid[0]["comm"], pid=with_pid[0]["pid"])))
    elif twice:
        results.append((False, _("{names} appear in more than one row of the same read: the map's key "
                                 "still tells processes apart. Key the maps by the command name only.").format(
                                     names=", ".join(twice[:3]))))
    else:
        results.append((True, _("Each row is one command name, without a pid.")))

    # The top 5: at most 5 rows a read, most sleeps first.
    longest = max(len(rows) for rows in reads.values())
    unsorted = [i for i, rows in reads.items() if [r["count"] for r in rows] != sorted(
        (r["count"] for r in rows), reverse=True)]
    if longest > TOP:
        results.append((False, _("A read returned {rows} rows: return only the top {top}, e.g. "
                                 "sorted(rows, key=lambda r: -r[\"count\"])[:{top}] in snapshot().").format(
                                     rows=longest, top=TOP)))
    elif unsorted:
        results.append((False, _("The rows are not sorted, most sleeps first: a hash map has no order, so sort them "
                                 "by count, largest first, before keeping the top 5.")))
    else:
        results.append((True, _("Each read returned at most {top} rows, most sleeps first.").format(top=TOP)))

    # The workload's names carry its exact counts; one missing is fine only if it did not make the top 5.
    got = defaultdict(int)
    for row in events:
        got[row["comm"]] += row["count"]
    wrong, absent, left_out = [], [], []
    shown = [r["count"] for rows in reads.values() for r in rows]
    for comm, n in want.items():
        if comm not in got:
            if len(shown) < TOP * len(reads) or n > min(shown):
                absent.append(_("{comm} ({n} sleeps)").format(comm=comm, n=n))
            else:
                left_out.append(f"{comm} ({n})")
        elif got[comm] != n:
            wrong.append(_("{comm} has {got} instead of {n}").format(comm=comm, got=got[comm], n=n))
    if absent:
        results.append((False, ngettext(
            "The workload's {names} should be among the top {top} rows but is missing: count every "
            "clock_nanosleep() exit under the caller's command name.",
            "The workload's {names} should be among the top {top} rows but are missing: count every "
            "clock_nanosleep() exit under the caller's command name.", len(absent)).format(
                names=", ".join(absent), top=TOP)))
    elif wrong:
        results.append((False, _("The workload's counts per command name are off: {wrong}. Add one to "
                                 "calls at each clock_nanosleep() exit, under the name bpf_get_current_comm() "
                                 "gives.").format(wrong="; ".join(wrong))))
    else:
        exact = ", ".join(f"{comm} {n}" for comm, n in want.items() if comm in got)
        if left_out:
            message = _("The workload's command names in the table have their exact counts ({exact}); {left_out} "
                        "rightly did not make the top {top}.").format(
                            exact=exact, left_out=", ".join(left_out), top=TOP)
        else:
            message = _("The workload's command names in the table have their exact counts ({exact}).").format(
                exact=exact)
        results.append((True, message))
    return results
