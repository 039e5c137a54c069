"""Lessons 9 and 10 without a kernel: their checkers on sample rows (each wrong answer its own sentence), a workload
held at its start until released, a sampling lesson's summary and flame graph files, and the sentences for a flame
graph that cannot be written and a held workload that ended before the probes were attached."""

import os
import signal
import time
from types import SimpleNamespace

import pytest

from runner import lessons, render, session, workload
from runner.errors import LessonFailed, UsageError
from tests.unit.test_exercise_checkers import checker


def verdict(results):
    return all(ok for ok, _ in results), [sentence for ok, sentence in results if not ok] or [s for _, s in results]


# -- lesson 9: each audit event's first argument, summed per name ---------------------------------------------

CALLS = {"brew_coffee": 3, "steam_milk": 2}
WORK9 = {"workload": {"pid": 50, "calls": CALLS, "argument_sums": {"brew_coffee": 6, "steam_milk": 3}}}


def audit(name, count, total=None, pid=50):
    return {"pid": pid, "probe": "audit", "name": name, "count": count, **({} if total is None else {"sum": total})}


@pytest.mark.parametrize("events, passed, explained", [
    ([audit("brew_coffee", 3, 6), audit("steam_milk", 2, 3)], True, "add up to 6"),
    ([audit("brew_coffee", 2, 3), audit("brew_coffee", 1, 3), audit("steam_milk", 2, 3)], True, "add up to 6"),
    ([audit("brew_coffee", 3), audit("steam_milk", 2)], False, 'The rows have no "sum"'),
    ([audit("brew_coffee", 3, 0), audit("steam_milk", 2, 3)], False, "the reads found nothing"),
    ([audit("brew_coffee", 3, 7), audit("steam_milk", 2, 3)], False, "add up to 7, but its 3 calls"),
    ([audit("brew_coffee", 2, 6), audit("steam_milk", 2, 3)], False, "2 audit events counted, not its 3 calls"),
    ([audit("brew_coffee", 3, 6, pid=51)], False, "No audit rows for the workload's pid 50"),
], ids=["exact", "over two reads", "no sum", "zero sums", "wrong sum", "lost count", "other pid"])
def test_lesson9_checker(events, passed, explained):
    ok, sentences = verdict(checker("lesson9").check(events, WORK9))
    assert ok is passed and any(explained in s for s in sentences), sentences


# -- lesson 10: kernel frames on top of user frames ---------------------------------------------------------

WORK10 = {"workload": {"pid": 60, "pids": [61]}}
USER = "bcc-spin;__libc_start_call_main;main"
KERNEL = "entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];ksys_write_[k]"


def sample(stack, count, pid=61):
    return {"pid": pid, "comm": "bcc-spin", "count": count, "stack": stack}


@pytest.mark.parametrize("events, passed, explained", [
    ([sample(f"{USER};hot", 150), sample(f"{USER};warm", 50), sample(f"{USER};__GI_write;{KERNEL}", 40)], True,
     "40 of bcc-spin's 240 samples hit it in the kernel"),
    ([sample(f"{USER};hot", 150), sample("bcc-spin;[unknown];" + KERNEL, 40)], True, "the 150 samples in hot()"),
    ([sample(f"{USER};hot", 150), sample(f"{USER};__GI_write", 40)], False, "None of bcc-spin's 190 samples"),
    ([sample(f"{USER};hot", 150), sample(f"{KERNEL};{USER};__GI_write", 40)], False, "A user frame comes after"),
    ([sample(f"{USER};hot;{KERNEL}", 40), sample(f"{USER};hot", 100)], False, "Most kernel stacks sit on hot()"),
    ([sample(f"{USER};hot", 150, pid=62)], False, "No samples of bcc-spin (pid 61)"),
], ids=["on write", "unknown libc frame", "no kernel frames", "upside down", "on hot", "other pid"])
def test_lesson10_checker(events, passed, explained):
    ok, sentences = verdict(checker("lesson10").check(events, WORK10))
    assert ok is passed and any(explained in s for s in sentences), sentences


# -- the runner: held workloads, sampled workloads, flame graph files ---------------------------------------

def test_a_held_workload_waits_at_its_start_until_released(tmp_path):
    script = tmp_path / "workload.py"
    script.write_text("import time\ndef run():\n    return {'ops': 1, 'what': 'x', 'ran_at': time.monotonic()}\n")
    proc = workload.start(script, hold=True)
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting: nothing of run() has happened
    released = time.monotonic()
    workload.release(proc)
    report = workload.report(proc, timeout=30)
    assert report["ran_at"] >= released and report["pid"] == proc.pid


def test_a_sampled_workload_is_not_added_up_against_its_operations():
    work = {"pid": 1, "comm": "bcc-workload", "ops": 5000, "what": "rounds", "pids": [2], "children_only": True,
            "sampled": True}
    assert render.accounted(work, 198) == ""
    assert "did not arrive" in render.accounted(dict(work, sampled=False), 198)


def summary_with_graph(leaves):
    return {"rows": 3, "intervals": 1, "events": 10, "duration": 1.0, "lost": None, "probes": [], "fallbacks": [],
            "kernel": "k", "workload": None, "workload_pid": None, "workload_events": 0,
            "flamegraph": {"svg": "/x/l.svg", "folded": "/x/l.folded", "samples": 10, "stacks": 3, "leaves": leaves}}


def test_the_summary_says_where_the_samples_were_and_where_the_flame_graph_is():
    lines = render.summary_lines(summary_with_graph({"hot": 7, "warm": 2, "x" * 60: 1}))
    assert "Profile: 10 samples in 3 stacks; where they were (the stack's last frame): hot 70.0%, warm 20.0%, " \
           + "x" * 39 + "\u2026 10.0%." in lines
    assert "Flame graph: /x/l.svg (open it in a browser); folded stacks: /x/l.folded." in lines


def run_with_stacks(tmp_path, path):
    lesson = SimpleNamespace(id="lesson42", flamegraph="CPU")
    run = session.Run(lesson, session.RunOptions(flamegraph=str(path)))
    run.stacks = {"a;main;hot": 3, "a;main;warm": 1}
    return run


def test_a_flame_graph_and_its_folded_stacks_are_written_side_by_side(tmp_path):
    graph = run_with_stacks(tmp_path, tmp_path / "out" / "p.svg").draw_flamegraph()
    assert graph == {"svg": str(tmp_path / "out" / "p.svg"), "folded": str(tmp_path / "out" / "p.folded"),
                     "samples": 4, "stacks": 2, "leaves": {"hot": 3, "warm": 1}}
    assert (tmp_path / "out" / "p.folded").read_text() == "a;main;hot 3\na;main;warm 1\n"
    assert "hot (3 samples, 75" in (tmp_path / "out" / "p.svg").read_text()


def test_a_flame_graph_that_cannot_be_written_is_one_sentence_with_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match=r"The flame graph cannot be written to .*file/p.svg") as err:
        run_with_stacks(tmp_path, blocker / "p.svg").draw_flamegraph()
    assert "--flamegraph" in err.value.fix


def test_a_held_workload_that_ends_before_the_probes_attach_says_so(tmp_path, monkeypatch):
    folder = tmp_path / "lesson42_held"
    folder.mkdir()
    (folder / "workload.py").write_text("import os\ndef run():\n    return {'ops': 0, 'what': 'x'}\n")

    def load(pid):  # the glue's load() finds the process gone, as a real one would after a SIGKILL
        os.kill(pid, signal.SIGKILL)  # not /bin/kill: Debian's minimal root has no procps
        while session.running(pid):  # until it is a zombie: the runner reaps it
            time.sleep(0.01)
        raise ProcessLookupError(f"No process with pid {pid} is running.")

    lesson = SimpleNamespace(id="lesson42", workload={}, workload_path=folder / "workload.py", needs_pid=True,
                             options=["pid"], prefers=[], fallback="", import_glue=lambda folder: SimpleNamespace(load=load),
                             program_path=folder / "held.c", missing_bcc_calls=lambda: {})
    monkeypatch.setattr(session.targets, "check_accepted", lambda lesson, values: None)
    run = session.Run(lesson, session.RunOptions(show_code=False))
    with pytest.raises(LessonFailed, match=r"The workload \(pid \d+\) ended \(killed by signal 9\) before the probes "
                                           "were attached to it") as err:
        run.load()
    assert "runner/workload.py" in err.value.fix and run.proc is None


def test_a_needs_pid_lesson_without_a_workload_or_a_pid_is_a_usage_error():
    lesson = lessons.find("lesson9")
    run = session.Run(lesson, session.RunOptions(workload=False, show_code=False))
    with pytest.raises(UsageError, match="lesson9 attaches its probes to one process") as err:
        run.load()
    assert "--pid PID" in err.value.fix
