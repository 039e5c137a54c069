"""The check of lesson 10's exercise: each sample's kernel stack on top of its user stack.

The runner ran the learner's profile.c and profile.py with a workload whose program, bcc-spin, spends
each round in hot() and warm() (user space) and in in_kernel(), which makes write() system calls to
/dev/null: a share of its samples hit it inside the kernel. check() gets the rows of every snapshot()
("pid", "count", "stack": frames joined by ";", outermost first) and the summary, whose workload report
names bcc-spin's pid. Kernel frames end in "_[k]", as BCC's profile -f marks them.
"""

from gettext import gettext as _


def kernel_frames(stack):
    return [f for f in stack.split(";") if f.endswith("_[k]")]


def check(events, summary):
    work = summary["workload"]
    pid = work["pids"][0]
    rows = [e for e in events if e.get("pid") == pid and "stack" in e]
    if not rows:
        return [(False, _("No samples of bcc-spin (pid {pid}): keep the lesson's rows, one per stack with \"pid\", "
                          "\"count\" and \"stack\", while you add the kernel's frames.").format(pid=pid))]
    total = sum(int(e["count"]) for e in rows)
    inside = [e for e in rows if kernel_frames(e["stack"])]
    in_kernel = sum(int(e["count"]) for e in inside)
    if not inside:
        return [(False, _("None of bcc-spin's {total} samples has a kernel frame (a name ending in _[k]), though it "
                          "spends part of its time in write(): get the kernel stack with "
                          "stacks.get_stackid(&ctx->regs, 0) into the sample's key, and in snapshot() add its frames, "
                          "named with b.ksym() plus \"_[k]\", after the user frames.").format(total=total))]
    results = []
    upside_down = [e["stack"] for e in inside if not e["stack"].split(";")[-1].endswith("_[k]")]
    if upside_down:
        results.append((False, _("A user frame comes after the kernel frames in {stack}: the kernel ran on "
                                 "top of the user code that called it, so its frames go last (innermost), outermost "
                                 "first as walk() gives them reversed.").format(stack=repr(upside_down[0]))))
    else:
        results.append((True, _("{in_kernel} of bcc-spin's {total} samples hit it in the kernel, and show the kernel's "
                                "frames on top of its own.").format(in_kernel=in_kernel, total=total)))
    # A sample that hit bcc-spin in hot() or warm() hit it in user space: it has no kernel stack. (Where the user
    # part of a kernel sample ends depends on the C library: in write(), in_kernel() or [unknown].)
    misplaced = [e["stack"] for e in inside if [f for f in e["stack"].split(";") if not f.endswith("_[k]")][-1]
                 in ("hot", "warm")]
    user_only = sum(int(e["count"]) for e in rows if e["stack"].split(";")[-1] in ("hot", "warm"))
    if len(misplaced) * 2 > len(inside):
        results.append((False, _("Most kernel stacks sit on hot() or warm(), which run in user space: e.g. "
                                 "{stack}. Is the kernel stack taken from the same sample, and only when "
                                 "get_stackid() returned 0 or more?").format(stack=repr(misplaced[0]))))
    elif user_only == 0:
        results.append((False, _("No sample of bcc-spin ends in hot() or warm() any more: a sample that hit it in user "
                                 "space has no kernel stack (get_stackid() returns a negative error): keep its user "
                                 "frames alone.")))
    else:
        results.append((True, _("The kernel frames sit on in_kernel()'s write() calls, and the {user_only} samples in "
                                "hot() and warm() have none: the kernel stack is there only when the sample hit the "
                                "kernel.").format(user_only=user_only)))
    return results
