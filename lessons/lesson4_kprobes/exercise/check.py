"""The check of lesson 4's exercise: each send's event says how many sends its process has made so far.

The runner ran the learner's kprobes.c and kprobes.py with the lesson's tcp-send workload, which sends
one message of each known size over loopback TCP. check() gets the events (glue.record() of each
send_t) and the run's summary. The count is judged on the workload's own sends, whichever path ran:
kprobe__/kretprobe__tcp_sendmsg, or the tracepoints on a kernel without kprobes.
"""


def check(events, summary):
    work = summary["workload"]
    pid, sizes = work["pid"], work["sizes"]
    path = ", ".join(sorted({p["mechanism"] for p in summary["probes"]}))
    mine = [e for e in events if e["pid"] == pid]
    if not mine:
        return [(False, f"The workload (pid {pid}) sent {len(sizes)} messages over TCP, but your program reported "
                        "none of them: keep count_sent() submitting one event for each send.")]
    sent = [e["sent"] for e in mine]
    if sent != sizes:
        return [(False, f"The workload's sends of {sizes} bytes should give {len(sizes)} events with those sizes, "
                        f"but your program reported {sent}: keep the lesson's count_sent() as it was and only add "
                        "the count of sends.")]
    results = [(True, f"Your program reported each of the workload's {len(sizes)} sends ({sizes} bytes) "
                      f"through the {path} probes.")]
    if "sends" not in mine[0]:
        results.append((False, "The events carry no \"sends\" field: add u64 sends to struct send_t in kprobes.c, "
                               "set it in count_sent(), and return it from record() in kprobes.py as \"sends\": "
                               "event.sends."))
        return results
    got, expected = [e["sends"] for e in mine], list(range(1, len(sizes) + 1))
    if got == expected:
        results.append((True, f"Each send's event counts the process's sends so far: {got} for its sends of "
                              f"{sizes} bytes, counted in count_sent(), the helper both paths call."))
        return results
    if not any(got):
        why = ("it is always 0: the field is there but count_sent() never sets it. Count the send in a map "
               "keyed by e.pid, like totals, and copy the count into e.sends.")
    elif len(set(got)) == 1:
        why = (f"it is always {got[0]}: the count starts again at each send. Keep it in a map keyed by e.pid "
               "(sends.lookup_or_try_init(&e.pid, &zero)), add 1 there, and copy the result into e.sends.")
    elif got == [n - 1 for n in expected]:
        why = "it counts the sends before this one: add 1 to the map's value before you copy it into e.sends."
    else:
        why = (f"the workload's process made sends number {expected}, one event each. Add 1 per send in a map "
               "keyed by e.pid, and copy the map's value into e.sends.")
    results.append((False, f"The \"sends\" of the workload's events are {got}, not {expected}: {why}"))
    return results
