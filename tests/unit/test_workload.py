"""A workload ends with every process it started: when it is told to stop, and when it was killed mid-run.

No BPF here: these are the processes a lesson's run starts, and the fault tests' "nothing left behind" rests on
them. A child left waiting holds the runner's stderr and the workload's report pipe, so a reader of either
(the runner's summary, a test reading the runner's output) would wait for ever.
"""

import os
import signal
import textwrap
import time

from runner import workload
from tests.support import proc_texts


def group_members(pgid):
    """Pids of the live (not zombie) processes in process group `pgid`."""
    members = []
    for pid, stat in proc_texts("stat"):
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(pid)
    return members


def write_workload(tmp_path, body):
    path = tmp_path / "workload.py"
    path.write_text(textwrap.dedent(body))
    return path


def gone(pgid, within=5.0):
    end = time.monotonic() + within
    while group_members(pgid) and time.monotonic() < end:
        time.sleep(0.02)
    return not group_members(pgid)


def test_a_workload_stopped_while_it_forks_leaves_no_child(tmp_path):
    """What a SIGKILLed runner's workload gets (PR_SET_DEATHSIG: SIGTERM), while it starts children: each of them
    waits on a pipe it holds itself, as lesson 7's openers wait for their start. 60 tries; a SIGTERM passed on to
    the group was lost in a child being forked in about one group in sixty."""
    path = write_workload(tmp_path, """\
        import os

        def run(count=0):
            start, _ = os.pipe()
            while True:
                if os.fork() == 0:
                    os.read(start, 1)  # never written: only a signal ends this child
                    os._exit(0)
        """)
    left = []
    for attempt in range(60):
        proc = workload.start(path, hold=True)
        workload.release(proc)
        time.sleep(0.002 * (attempt % 10))  # into its forks, at moments that differ
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        if not gone(proc.pid, within=1.0):
            left.append(group_members(proc.pid))
        workload.kill_group(proc)
        proc.stdout.close()
    assert not left, f"children left waiting after the workload's SIGTERM, in {len(left)} of 60 runs: {left}"


def test_the_report_of_a_workload_killed_mid_run_returns_and_ends_its_orphans(tmp_path):
    """A workload SIGKILLed while its child waits for a start it never gave: the report says it failed, at once."""
    path = write_workload(tmp_path, """\
        import os

        def run(count=0):
            start, _ = os.pipe()
            if os.fork() == 0:
                os.read(start, 1)
                os._exit(0)
            os.kill(os.getpid(), 9)  # the learner's kill -9, before the start
        """)
    proc = workload.start(path)
    proc.wait(timeout=10)
    assert group_members(proc.pid), "the child should outlive its killed parent"
    started = time.monotonic()
    assert workload.report(proc, timeout=10) is None
    assert time.monotonic() - started < 5
    assert gone(proc.pid)


def test_reading_proc_passes_over_a_process_that_ended_while_it_read(monkeypatch):
    """A process listed in /proc that is gone by the time its files are read (CI's Debian 11 run met this, where
    pathlib's glob raised ProcessLookupError) is passed over; the live ones are all read."""
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)  # listed below, but ended and reaped
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: ([str(child)] + listdir(path)) if path == "/proc" else listdir(path))
    stats = dict(proc_texts("stat"))
    assert child not in stats and os.getpid() in stats
    assert any(pid == os.getpid() for pid, _ in proc_texts("fdinfo/*"))
