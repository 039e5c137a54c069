"""The check of lesson 2's exercise: each of the workload's events carries its parent's pid.

The runner ran the learner's perf_output.c and perf_output.py with the lesson's fork-burst
workload; check() gets the events (glue.record() of each struct data_t) and the run's summary.
The workload reports its own parent (os.getppid(): the runner that started it), so the check
knows the true answer and judges the value each event carries, not how it was found.
"""

from gettext import gettext as _


def check(events, summary):
    work = summary["workload"]
    pid, parent, calls = work["pid"], work["ppid"], work["ops"]
    mine = [e for e in events if e["pid"] == pid]
    if not mine:
        return [(False, _("The workload (pid {pid}) made {calls} clone() calls, but none of them reached Python: keep "
                          "hello() attached to clone() and calling events.perf_submit().").format(
                              pid=pid, calls=calls))]
    results = [(True, _("{arrived} of the workload's {calls} clone() calls arrived through the perf buffer.").format(
        arrived=len(mine), calls=calls))]
    if "ppid" not in mine[0]:
        results.append((False, _("The workload's events have no ppid field: add u32 ppid to struct data_t and fill it "
                                 "in hello(), then return it from record() in perf_output.py (\"ppid\": event.ppid).")))
        return results
    shown = sorted({e["ppid"] for e in mine})
    right = [e for e in mine if e["ppid"] == parent]
    if len(right) == len(mine):
        results.append((True, _("Each of the workload's {events} events carries ppid {parent}, the pid of the "
                                "process that started it.").format(events=len(mine), parent=parent)))
        return results
    wrong = [n for n in shown if n != parent]
    if right:
        message = _("The workload's parent is pid {parent}, but {wrong} of its {events} events carry {values} "
                    "instead: fill ppid the same way on every call.").format(
                        parent=parent, wrong=len(mine) - len(right), events=len(mine),
                        values=", ".join(map(str, wrong)))
    elif wrong == [0]:
        # TRANSLATORS: `= {{}}` is C code (an empty initializer), shown as `= {}`; keep it as it is
        message = _("The workload's parent is pid {parent}, but they all carry 0: hello() leaves data.ppid as `= {{}}` "
                    "made it, or what it reads finds nothing (a lookup with no entry, or task->real_parent->tgid read "
                    "through kernel headers that are not the running kernel's: see README.md). Remember each child's "
                    "parent at sched:sched_process_fork and look up the caller's pid in hello().").format(parent=parent)
    elif wrong == [pid]:
        message = _("The workload's parent is pid {parent}, but they carry {pid}, the workload's own pid. The parent "
                    "is the process that forked it: at sched:sched_process_fork, the pid of the process running the "
                    "tracepoint.").format(parent=parent, pid=pid)
    else:
        message = _("The workload's parent is pid {parent}, but they carry {values}. If you read "
                    "task->real_parent->tgid: BCC takes task_struct's layout from the kernel headers, and when they "
                    "are not the running kernel's (python -m runner doctor says so) the offsets are wrong. Record the "
                    "parent at sched:sched_process_fork instead.").format(
                        parent=parent, values=", ".join(map(str, wrong[:3])))
    results.append((False, message))
    return results
