"""Lessons 2 and 3's exercise checkers on sample events (no kernel), and the workload facts they rely on."""

import importlib.util

import pytest

from runner import exercises, lessons, workload


def checker(lesson):
    spec = importlib.util.spec_from_file_location(f"check_{lesson}", exercises.folder(exercises.require(lesson)) / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check


# -- lesson 2: the parent's pid in each event --------------------------------------------------

WORK2 = {"workload": {"pid": 4242, "ppid": 100, "ops": 3}}


def events2(*ppids, pid=4242):
    return [{"pid": pid, "comm": "bcc-workload", "ppid": p} for p in ppids]


@pytest.mark.parametrize("ppids, passed, explained", [
    ([100, 100, 100], True, "carries ppid 100"),
    ([0, 0, 0], False, "they all carry 0"),
    ([4242, 4242, 4242], False, "the workload's own pid"),
    ([77, 77, 77], False, "task->real_parent->tgid"),
    ([100, 100, 0], False, "1 of its 3 events carry 0 instead"),
])
def test_lesson2_checker_judges_the_ppid_against_the_workloads_real_parent(ppids, passed, explained):
    results = checker("2")(events2(*ppids) + events2(5, pid=1), WORK2)
    assert all(ok for ok, _ in results) == passed
    assert explained in results[-1][1]


def test_lesson2_checker_without_a_ppid_field_says_what_to_add():
    events = [{"pid": 4242, "comm": "bcc-workload"}] * 3
    (_, (ok, sentence)) = checker("2")(events, WORK2)
    assert not ok and "no ppid field: add u32 ppid to struct data_t" in sentence


def test_lesson2_checker_without_the_workloads_events_says_so():
    ((ok, sentence),) = checker("2")(events2(100, pid=1), WORK2)
    assert not ok and "none of them reached Python" in sentence


# -- lesson 3: per command name, the top 5, exact counts --------------------------------------

WORK3 = {"workload": {"pid": 9, "comm": "bcc-9", "ops": 60, "children": [
    {"pid": 10, "comm": "bcc-9-1", "ops": 40}, {"pid": 11, "comm": "bcc-9-2", "ops": 20},
    {"pid": 12, "comm": "bcc-9-3", "ops": 10}, {"pid": 13, "comm": "bcc-9-4", "ops": 5},
    {"pid": 14, "comm": "bcc-9-5", "ops": 2}]}}


def rows(*pairs, interval=1, **extra):
    return [{"interval": interval, "comm": c, "count": n, "slept_ms": n * 20.0, **extra} for c, n in pairs]


TOP5 = [("bcc-9", 60), ("bcc-9-1", 40), ("bcc-9-2", 20), ("python", 15), ("bcc-9-3", 10)]


def test_lesson3_checker_passes_the_top_5_per_name_and_names_those_left_out():
    results = checker("3")(rows(*TOP5), WORK3)
    assert all(ok for ok, _ in results), results
    assert "bcc-9-4 (5), bcc-9-5 (2) rightly did not make the top 5" in results[-1][1]


@pytest.mark.parametrize("events, explained", [
    (rows(*TOP5, ("bcc-9-4", 5), ("bcc-9-5", 2), pid=3), "still per process"),
    (rows(*TOP5[:4], ("python", 3)), "more than one row of the same read"),
    (rows(*TOP5, ("bcc-9-4", 5)), "A read returned 6 rows"),
    (rows(*reversed(TOP5)), "not sorted"),
    (rows(("bcc-9", 61), *TOP5[1:]), "bcc-9 has 61 instead of 60"),
    (rows(*TOP5[:2], ("python", 15), ("bash", 12), ("sshd", 11)), "bcc-9-2 (20 sleeps) should be among the top 5 rows but is missing"),
    (rows(*TOP5[:3]), "bcc-9-3 (10 sleeps), bcc-9-4 (5 sleeps), bcc-9-5 (2 sleeps) should"),  # fewer than 5 rows: every name belongs
])
def test_lesson3_checker_explains_each_way_to_get_it_wrong(events, explained):
    results = checker("3")(events, WORK3)
    failed = [sentence for ok, sentence in results if not ok]
    assert any(explained in s for s in failed), failed


def test_lesson3_checker_without_rows_says_so():
    ((ok, sentence),) = checker("3")([], WORK3)
    assert not ok and "no rows" in sentence


# -- the workload facts the checks rely on -----------------------------------------------------

def test_the_workload_reports_its_parent_pid():
    import os
    report = workload.report(workload.start(lessons.find("1").workload_path, count=1), timeout=30)
    assert report["ppid"] == os.getpid()


def test_sleeps_unique_names_its_processes_after_its_pid():
    report = workload.report(workload.start(lessons.find("3").workload_path, counts=[2, 1, 1], interval=0.001, unique=1), timeout=30)
    name = f"bcc-{report['pid']}"
    assert report["comm"] == name
    assert [c["comm"] for c in report["children"]] == [f"{name}-1", f"{name}-2"]
