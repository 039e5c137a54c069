"""The check of lesson 4's exercise: each send's event says how many sends its process has made so far.

The runner ran the learner's kprobes.c and kprobes.py with the lesson's tcp-send workload, which sends
one message of each known size over loopback TCP. check() gets the events (glue.record() of each
send_t) and the run's summary. The count is judged on the workload's own sends, whichever path ran:
kprobe__/kretprobe__tcp_sendmsg, or the tracepoints on a kernel without kprobes.
"""

from gettext import gettext as _


def check(events, summary):
    work = summary["workload"]
    pid, sizes = work["pid"], work["sizes"]
    path = ", ".join(sorted({p["mechanism"] for p in summary["probes"]}))
    mine = [e for e in events if e["pid"] == pid]
    if not mine:
        return [(False, _("The workload (pid {pid}) sent {count} messages over TCP, but your program reported "
                          "none of them: keep count_sent() submitting one event for each send.").format(
                              pid=pid, count=len(sizes)))]
    sent = [e["sent"] for e in mine]
    if sent != sizes:
        return [(False, _("The workload's sends of {sizes} bytes should give {count} events with those sizes, "
                          "but your program reported {sent}: keep the lesson's count_sent() as it was and only add "
                          "the count of sends.").format(sizes=sizes, count=len(sizes), sent=sent))]
    # TRANSLATORS: {path} names the probes' mechanisms, e.g. "kprobe, kretprobe"
    results = [(True, _("Your program reported each of the workload's {count} sends ({sizes} bytes) "
                        "through the {path} probes.").format(count=len(sizes), sizes=sizes, path=path))]
    if "sends" not in mine[0]:
        results.append((False, _("The events carry no \"sends\" field: add u64 sends to struct send_t in kprobes.c, "
                                 "set it in count_sent(), and return it from record() in kprobes.py as \"sends\": "
                                 "event.sends.")))
        return results
    got, expected = [e["sends"] for e in mine], list(range(1, len(sizes) + 1))
    if got == expected:
        results.append((True, _("Each send's event counts the process's sends so far: {got} for its sends of "
                                "{sizes} bytes, counted in count_sent(), the helper both paths call.").format(
                                    got=got, sizes=sizes)))
        return results
    if not any(got):
        message = _("The \"sends\" of the workload's events are {got}, not {expected}: it is always 0: the field is "
                    "there but count_sent() never sets it. Count the send in a map keyed by e.pid, like totals, and "
                    "copy the count into e.sends.").format(got=got, expected=expected)
    elif len(set(got)) == 1:
        message = _("The \"sends\" of the workload's events are {got}, not {expected}: it is always {value}: the count "
                    "starts again at each send. Keep it in a map keyed by e.pid "
                    "(sends.lookup_or_try_init(&e.pid, &zero)), add 1 there, and copy the result into e.sends.").format(
                        got=got, expected=expected, value=got[0])
    elif got == [n - 1 for n in expected]:
        message = _("The \"sends\" of the workload's events are {got}, not {expected}: it counts the sends before "
                    "this one: add 1 to the map's value before you copy it into e.sends.").format(
                        got=got, expected=expected)
    else:
        message = _("The \"sends\" of the workload's events are {got}, not {expected}: the workload's process made "
                    "sends number {expected}, one event each. Add 1 per send in a map keyed by e.pid, and copy the "
                    "map's value into e.sends.").format(got=got, expected=expected)
    results.append((False, message))
    return results
