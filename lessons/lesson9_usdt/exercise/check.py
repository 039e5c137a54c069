"""The check of lesson 9's exercise: each audit event's first argument, added up per name, for the workload's pid.

The runner ran the learner's usdt.c and usdt.py on the lesson's workload, held at its start until the
probes were attached to its pid. Its functions brew_coffee(), steam_milk() and pour_latte() each fire
sys.audit(name, n) with the call's number n = 1, 2, 3...; the workload's report says how many calls each
made ("calls") and what their numbers add up to ("argument_sums"). check() gets the rows of every
snapshot() and the summary; each snapshot reads and deletes, so the rows of all reads add up.
"""

from collections import Counter
from gettext import gettext as _


def check(events, summary):
    work = summary["workload"]
    pid, calls, sums = work["pid"], work["calls"], work["argument_sums"]
    rows = [e for e in events if e.get("pid") == pid and e.get("probe") == "audit" and e.get("name") in calls]
    if not rows:
        return [(False, _("No audit rows for the workload's pid {pid}: keep the lesson's counts of the audit probe "
                          "(on_audit() and its rows in snapshot()) while you add the sums.").format(pid=pid))]
    if not any("sum" in e for e in rows):
        return [(False, _("The rows have no \"sum\": in usdt.c, read the audit event's second argument (the tuple), "
                          "follow it to its first item's value and add it to a map of sums per key; in snapshot(), "
                          "put each key's sum in its row as \"sum\"."))]
    count, total = Counter(), Counter()
    for e in rows:
        count[e["name"]] += int(e["count"])
        total[e["name"]] += int(e.get("sum") or 0)
    results = []
    for name, n in calls.items():
        if count[name] != n:
            results.append((False, _("{name}: {counted} audit events counted, not its {n} calls: keep the count "
                                     "of each event as the lesson had it.").format(
                                         name=name, counted=count[name], n=n)))
        elif total[name] == sums[name]:
            results.append((True, _("{name}: {n} calls, their numbers add up to {total}, as the workload "
                                    "passed them (1 + 2 + ... + {n}).").format(name=name, n=n, total=sums[name])))
        elif total[name] == 0:
            results.append((False, _("{name}: the sums add up to {got}, but its {n} calls passed numbers that add up "
                                     "to {total} (0: the reads found nothing: the tuple's first item is at 24 bytes "
                                     "into the tuple, and the int's value 24 bytes into the int).").format(
                                         name=name, got=total[name], n=n, total=sums[name])))
        else:
            results.append((False, _("{name}: the sums add up to {got}, but its {n} calls passed numbers that "
                                     "add up to {total}.").format(name=name, got=total[name], n=n, total=sums[name])))
    return results
