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
        return [(False, f"Your program returned no rows, though the workload slept ({names}): keep both "
                        "TRACEPOINT_PROBEs counting into the maps and snapshot() returning their rows.")]
    reads = defaultdict(list)
    for row in events:
        reads[row.get("interval", 1)].append(row)
    results = []

    # One row per command name: no pid, and no name twice in one read.
    with_pid = [r for r in events if "pid" in r]
    twice = sorted({r["comm"] for rows in reads.values() for r in rows
                    if sum(o["comm"] == r["comm"] for o in rows) > 1})
    if with_pid:
        results.append((False, f"Your rows are still per process: {len(with_pid)} of them carry a pid (e.g. "
                               f"{with_pid[0]['comm']}, pid {with_pid[0]['pid']}). Make struct key_t hold only "
                               "char comm[16], and build rows of comm, count and slept_ms in snapshot()."))
    elif twice:
        results.append((False, f"{', '.join(twice[:3])} appear in more than one row of the same read: the map's key "
                               "still tells processes apart. Key the maps by the command name only."))
    else:
        results.append((True, "Each row is one command name, without a pid."))

    # The top 5: at most 5 rows a read, most sleeps first.
    longest = max(len(rows) for rows in reads.values())
    unsorted = [i for i, rows in reads.items() if [r["count"] for r in rows] != sorted(
        (r["count"] for r in rows), reverse=True)]
    if longest > TOP:
        results.append((False, f"A read returned {longest} rows: return only the top {TOP}, e.g. "
                               f"sorted(rows, key=lambda r: -r[\"count\"])[:{TOP}] in snapshot()."))
    elif unsorted:
        results.append((False, "The rows are not sorted, most sleeps first: a hash map has no order, so sort them "
                               "by count, largest first, before keeping the top 5."))
    else:
        results.append((True, f"Each read returned at most {TOP} rows, most sleeps first."))

    # The workload's names carry its exact counts; one missing is fine only if it did not make the top 5.
    got = defaultdict(int)
    for row in events:
        got[row["comm"]] += row["count"]
    wrong, absent, left_out = [], [], []
    shown = [r["count"] for rows in reads.values() for r in rows]
    for comm, n in want.items():
        if comm not in got:
            if len(shown) < TOP * len(reads) or n > min(shown):
                absent.append(f"{comm} ({n} sleeps)")
            else:
                left_out.append(f"{comm} ({n})")
        elif got[comm] != n:
            wrong.append(f"{comm} has {got[comm]} instead of {n}")
    if absent:
        results.append((False, f"The workload's {', '.join(absent)} should be among the top {TOP} rows but "
                               f"{'is' if len(absent) == 1 else 'are'} missing: count every clock_nanosleep() exit "
                               "under the caller's command name."))
    elif wrong:
        results.append((False, f"The workload's counts per command name are off: {'; '.join(wrong)}. Add one to "
                               "calls at each clock_nanosleep() exit, under the name bpf_get_current_comm() gives."))
    else:
        exact = ", ".join(f"{comm} {n}" for comm, n in want.items() if comm in got)
        rest = f"; {', '.join(left_out)} rightly did not make the top {TOP}" if left_out else ""
        results.append((True, f"The workload's command names in the table have their exact counts ({exact}){rest}."))
    return results
