"""The check of lesson 5's exercise: each of the workload's resets carries the kernel's reason for it.

The runner ran the learner's tracepoints.c and tracepoints.py with the lesson's refused-and-exec workload,
which connects to a loopback port nobody listens on (IPv4, and IPv6 where ::1 works). The kernel answers
each SYN with a reset, for the reason SK_RST_REASON_NO_SOCKET: no socket wants the packet. What number
that reason has is the kernel's business, so the check reads it from this kernel's own format file (the
`__print_symbolic(REC->reason, { 1, "NO_SOCKET" }, ...)` table of its print fmt), never from a constant.
Kernels before 6.10 have no reason field, and do not trace the resets of a closed port at all (only those
a socket sends, like the workload's aborted connections'): there the check judges those resets alone, and
says that it judges no reason.
"""

import re
from gettext import gettext as _, ngettext

from lessons import formats

EXPECTED = "NO_SOCKET"  # what tcp_v4_rcv()/tcp_v6_rcv() give tcp_send_reset when no socket matches


def reason_names(fmt):
    """{value: name} from the print fmt's __print_symbolic(REC->reason, ...) table, e.g. {1: "NO_SOCKET"}."""
    start = fmt.print_fmt.find("__print_symbolic(REC->reason,")
    if start < 0:
        return {}
    table = fmt.print_fmt[start:].split(")", 1)[0]
    return {int(value, 0): name for value, name in re.findall(r'\{\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*,\s*"(\w+)"\s*\}',
                                                                   table)}


def matches(value, number, name):
    """The learner may print the number, or the name (with or without the SK_RST_REASON_ prefix)."""
    if isinstance(value, str):
        return value.strip().upper().removeprefix("SK_RST_REASON_") == name
    return value == number


def check(events, summary):
    work = summary["workload"]
    fmt = formats.read("tcp:tcp_send_reset")
    has_reason = fmt.has("reason")
    # Kernels before 6.10 (no reason field yet) trace only resets sent from a socket, such as an aborted
    # connection's, not those answering a closed port: there, the refused connects' resets are not expected.
    refused = {(r["family"], r["addr"], r["closed_port"], r["client_port"]) for r in work["resets"]}
    aborted = {(r["family"], r["addr"], r["client_port"], r["server_port"]) for r in work["aborts"]}
    expected = aborted | refused if has_reason else aborted
    # A refused connect's reset comes from the closed port; an aborted connection's from the closing client.
    seen = {(e.get("family"), e.get("saddr"), e.get("sport"), e.get("dport")) for e in events
            if e.get("event") == "reset"} & expected
    if not seen:
        return [(False, ngettext(
            "The workload made the kernel send {count} reset, but your program reported none of them: keep "
            "on_tcp_send_reset() submitting its event as the lesson does, with the addresses and ports.",
            "The workload made the kernel send {count} resets, but your program reported none of them: keep "
            "on_tcp_send_reset() submitting its event as the lesson does, with the addresses and ports.",
            len(expected)).format(count=len(expected)))]
    if seen != expected:
        return [(False, _("Your program reported {seen} of the {count} resets the kernel sent for the "
                          "workload: keep on_tcp_send_reset() submitting one event per reset, and check again (a busy "
                          "machine can lose events: the summary says if any were lost).").format(
                              seen=len(seen), count=len(expected)))]
    results = [(True, _("Your program reported each of the {count} resets the kernel sent for the workload's "
                        "refused connects and aborted connections.").format(count=len(expected)) if has_reason else
                      _("Your program reported each of the {count} resets the workload's aborted connections "
                        "sent.").format(count=len(expected)))]
    if not has_reason:
        results.append((True, _("This kernel's tcp:tcp_send_reset has no reason field (it arrived in Linux 6.10), so "
                                "there is no reason to print here and none was judged; your #ifdef "
                                "TCP_SEND_RESET_HAS_REASON keeps the program compiling on it.")))
        return results
    mine = [e for e in events if e.get("event") == "reset"
            and (e.get("family"), e.get("saddr"), e.get("sport"), e.get("dport")) in refused]
    names = reason_names(fmt)
    number = next((value for value, name in names.items() if name == EXPECTED), None)
    if "reason" not in mine[0]:
        results.append((False, _("The reset events carry no \"reason\" field: add u32 reason to struct event_t, set it "
                                 "from args->reason in on_tcp_send_reset() (inside #ifdef TCP_SEND_RESET_HAS_REASON), "
                                 "and return it from record() in tracepoints.py as \"reason\": event.reason.")))
        return results
    got = [e["reason"] for e in mine]
    if number is None:
        # TRANSLATORS: {reason} is the name of a reset reason, NO_SOCKET
        results.append((True, _("Your resets carry reasons {reasons}, but this kernel's format "
                                "file names no {reason} value, so whether they are the kernel's could not be judged "
                                "here.").format(reasons=sorted(set(map(str, got))), reason=EXPECTED)))
        return results
    wrong = [value for value in got if not matches(value, number, EXPECTED)]
    if not wrong:
        # TRANSLATORS: SK_RST_REASON_{reason} is the name of a reset reason in the kernel, SK_RST_REASON_NO_SOCKET
        results.append((True, _("Each of the workload's resets printed reason {value}, this kernel's "
                                "SK_RST_REASON_{reason} ({number}): no socket listens on the port the workload "
                                "connected to.").format(value=got[0], reason=EXPECTED, number=number)))
        return results
    shown = ", ".join(f"{v} ({names[v]})" if names.get(v) else str(v) for v in sorted(set(wrong), key=str))
    if set(wrong) == {0}:
        message = _("{wrong} of the workload's {count} resets printed reason {shown}, but the kernel sent them for "
                    "SK_RST_REASON_{reason}, which is {number} on this kernel. 0 is what the field holds when nothing "
                    "sets it: copy args->reason into e.reason in on_tcp_send_reset().")
    else:
        message = _("{wrong} of the workload's {count} resets printed reason {shown}, but the kernel sent them for "
                    "SK_RST_REASON_{reason}, which is {number} on this kernel. Read it from args->reason, a __u32 in "
                    "the struct generated from the format file.")
    results.append((False, message.format(wrong=len(wrong), count=len(mine), shown=shown, reason=EXPECTED,
                                          number=number)))
    return results
