"""The check of lesson 1's exercise: every clone() of the workload prints a line carrying its pid.

The runner ran the learner's hello.c with the lesson's fork workload; check() gets the events
(glue.record() of each trace_pipe line) and the run's summary, and judges behaviour, not text:
any wording passes as long as the line carries the calling process's pid as a number.
"""

import re
from gettext import gettext as _


def numbers(message):
    return [int(n) for n in re.findall(r"\d+", message)]


def check(events, summary):
    work = summary["workload"]
    pid, calls = work["pid"], work["ops"]
    lines = [e for e in events if e["pid"] == pid]
    # trace_pipe is shared: another program using bpf_trace_printk can print for the same clone() calls
    carrying = [e for e in lines if pid in numbers(e["message"])]
    if not lines:
        return [(False, _("The workload (pid {pid}) made {calls} clone() calls, but your program printed no line "
                          "for them: keep hello() attached to clone() and calling bpf_trace_printk().").format(
                              pid=pid, calls=calls))]
    results = [(True, _("Your program printed a line for the workload's clone() calls ({lines} lines for "
                        "{calls} calls).").format(lines=len(lines), calls=calls))]
    if len(carrying) == calls:
        results.append((True, _("Each of the {calls} clone() calls printed a line carrying the caller's pid ({pid}), "
                                "e.g. \"{message}\".").format(calls=calls, pid=pid, message=carrying[0]["message"])))
        return results
    if carrying:
        results.append((False, _("Only {carrying} of the workload's {calls} clone() calls printed its pid {pid}: "
                                 "print it on every call (another reader of trace_pipe running at the same time "
                                 "steals lines; stop it and check again).").format(
                                     carrying=len(carrying), calls=calls, pid=pid)))
        return results
    sample = lines[0]["message"]
    shown = numbers(sample)
    if not shown:
        # TRANSLATORS: %d is C code (bpf_trace_printk's format), not a placeholder: keep it as it is
        message = _("The lines your program printed for the workload (pid {pid}) do not carry that pid: they say "
                    "\"{sample}\", which has no number in it. Add the pid with a %d in the format string and "
                    "bpf_get_current_pid_tgid() >> 32 as its argument.").format(pid=pid, sample=sample)
    elif any(n >> 32 == pid for n in shown):
        message = _("The lines your program printed for the workload (pid {pid}) do not carry that pid: they show "
                    "{value}, the whole 64-bit pid_tgid value. The pid is its upper half: shift it right by 32 "
                    "bits.").format(pid=pid, value=shown[0])
    else:
        message = _("The lines your program printed for the workload (pid {pid}) do not carry that pid: they show "
                    "{numbers}, not the pid {pid} of the process that called clone(). Print "
                    "bpf_get_current_pid_tgid() >> 32.").format(pid=pid, numbers=", ".join(map(str, shown)))
    results.append((False, message))
    return results
