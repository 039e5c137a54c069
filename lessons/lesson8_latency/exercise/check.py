"""The check of lesson 8's exercise: one histogram of sleeps per command name, its buckets exact.

The runner ran the learner's latency.c and latency.py with the lesson's workload: two children named
bcc-short each sleep 25 times for 2.1 ms, one named bcc-long 20 times for 17 ms and 5 times for 70 ms
(each one clock_nanosleep() call), and it read the maps once, when the workload was done. check() gets
the rows of snapshot() (one per histogram bucket: "comm", "slot", "count") and the summary, whose
workload report names each child, its pid, its sleeps, and the log2 bucket each sleep took on the child's
own clock ("slots"): a sleep lands in the bucket of its length unless the kernel ran the woken sleeper
late (in a VM whose host is busy, a few in a hundred are), and the child's clock saw that too.
"""

from collections import Counter
from gettext import gettext as _


def bucket(us):
    return int(us).bit_length()  # bpf_log2l(v): the k with 2**(k-1) <= v < 2**k


def span(slot):
    # TRANSLATORS: a bucket of the histogram, a range of microseconds, e.g. "2048-4095 us"
    return _("{low}-{high} us").format(low=(1 << slot) >> 1, high=(1 << slot) - 1)


def shown(counts):
    # TRANSLATORS: sleeps in a bucket of the histogram, e.g. "25 in 2048-4095 us"
    return ", ".join(_("{n} in {span}").format(n=n, span=span(k)) for k, n in sorted(counts.items())) or _("nothing")


def expected(work):
    """{comm: Counter(slot: sleeps)} of the workload's children, as their own clocks bucketed their sleeps, and
    {comm: sleeps} that sat so near a bucket's start that the kernel's shorter measure may put them one lower."""
    want, near = {}, Counter()
    for child in work["children"]:
        for slot, n in child["slots"].items():
            want.setdefault(child["comm"], Counter())[int(slot)] += n
        near[child["comm"]] += child.get("near_edge", 0)
    return want, near


def asked(work, comm):
    """The buckets the sleeps of `comm` asked for, had none of them woken late."""
    counts = Counter()
    for child in work["children"]:
        if child["comm"] == comm:
            for ms, n in child["sleeps"].items():
                counts[bucket(float(ms) * 1000)] += n
    return counts


def same(kernel, clock, near):
    """The kernel's histogram is the children's, but for up to `near` sleeps one bucket lower."""
    if kernel == clock:
        return True
    moved = sum(abs(kernel[k] - clock[k]) for k in set(kernel) | set(clock)) // 2
    return sum(kernel.values()) == sum(clock.values()) and moved <= near


def check(events, summary):
    work = summary["workload"]
    want, near = expected(work)
    rows = [e for e in events if "slot" in e and e.get("latency", "clock_nanosleep") == "clock_nanosleep"]
    if not rows:
        return [(False, _("snapshot() returned no rows of the sleeps' histogram: return one row per key of "
                          "b[\"sleeps\"] with \"comm\", \"slot\" and \"count\"."))]
    if not all("comm" in r for r in rows):
        # TRANSLATORS: the braces are C code, a struct's body: keep them as they are
        return [(False, _("The sleeps' rows have no \"comm\": key the histogram by command name (struct comm_key_t "
                          "{ char comm[16]; u64 slot; }) and return \"comm\": key.comm.decode() in each row."))]
    names = sorted(want)
    per_read = Counter((r.get("interval"), r["comm"], int(r["slot"])) for r in rows if r["comm"] in want)
    twice = sorted({comm for (_, comm, _), n in per_read.items() if n > 1})
    if twice:
        # TRANSLATORS: {{ and }} are the braces of C code, a struct's body, shown as { and }: keep them doubled
        return [(False, _("One read of the map has several rows for the same name and bucket ({names}): "
                          "the histogram is still keyed by pid, so each bcc-short process has its own. Make the "
                          "command name the key's section instead of the pid: struct comm_key_t {{ char comm[16]; "
                          "u64 slot; }}, filled with bpf_get_current_comm().").format(names=", ".join(twice)))]
    got = {}
    for r in rows:
        got.setdefault(r["comm"], Counter())[int(r["slot"])] += int(r["count"])
    results = []
    for comm in names:
        mine = +got.get(comm, Counter())
        if same(mine, want[comm], near[comm]):
            if want[comm] == asked(work, comm):
                message = _("{comm}: {shown}, exactly its processes' sleeps.").format(comm=comm, shown=shown(mine))
            else:
                message = _("{comm}: {shown}, exactly its processes' sleeps (they asked for {asked}: the rest woke "
                            "late, as their own clocks saw too).").format(
                                comm=comm, shown=shown(mine), asked=shown(asked(work, comm)))
            results.append((True, message))
            continue
        total, count = sum(mine.values()), sum(want[comm].values())
        if total == count:
            message = _("{comm}'s sleeps took {want} on their own clocks, but the histogram shows {shown}: the right "
                        "number of sleeps in the wrong buckets: the slot is bpf_log2l() of the sleep in microseconds.")
        else:
            message = _("{comm}'s sleeps took {want} on their own clocks, but the histogram shows {shown}: {total} "
                        "sleeps, not {count}: count each sleep once, at its exit, and read every row of the map.")
        results.append((False, message.format(comm=comm, want=shown(want[comm]), shown=shown(mine), total=total,
                                              count=count)))
    return results
