"""The runner in Chinese against the live kernel: a lesson run, doctor and a failed exercise check under
LANG=zh_CN.UTF-8 print Chinese, and --json keeps its keys and the values a script reads."""

import json
import os
import re
import subprocess
import sys

import pytest

from runner import lessons
from tests.support import HAN, ROOT, assert_nothing_left, kernel_state, learner_copy

pytestmark = pytest.mark.bpf



def runner(*args, lang="zh_CN.UTF-8", state=None):
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env["LANG"] = lang
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def chinese_lines(text):
    return [line for line in text.splitlines() if HAN.search(line)]


def test_a_lesson_run_narrates_and_sums_up_in_chinese_about_the_workloads_own_events():
    before = kernel_state()
    proc = runner("lesson3", "--no-code")
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in out + proc.stderr
    assert "第 3 课" in out, out[:400]                    # the title line
    zh_intro = lessons.find("3").folder.joinpath("README.zh.md").read_text(encoding="utf-8")
    assert any(line in zh_intro for line in chinese_lines(out)[:3]), "the narration is the Chinese README's opening"
    summary = out.rsplit("\n\n", 1)[-1]
    assert len(chinese_lines(summary)) >= 3, summary
    # the workload's own sleeps, and the map's exact count for its pid, in the Chinese summary
    made = re.search(r"负载程序（pid (\d+)，bcc-workload）执行了 (\d+) 次.*?映射为它的 pid 计数 (\d+)", summary)
    assert made, summary
    assert int(made[2]) == int(made[3]) == lessons.find("3").workload["counts"][0], summary
    assert_nothing_left(before, ["lesson3"])


def test_json_is_the_same_in_chinese_but_for_its_sentences():
    en = runner("lesson1", "--json", "--no-code", lang="C.UTF-8")
    zh = runner("lesson1", "--json", "--no-code")
    assert en.returncode == zh.returncode == 0, zh.stderr
    en_lines = [json.loads(line) for line in en.stdout.splitlines()]
    zh_lines = [json.loads(line) for line in zh.stdout.splitlines()]
    assert sorted(en_lines[0]) == sorted(zh_lines[0]) and zh_lines[0]["comm"]  # an event: the same keys
    en_sum, zh_sum = en_lines[-1]["summary"], zh_lines[-1]["summary"]
    assert sorted(en_sum) == sorted(zh_sum)
    assert [p["mechanism"] for p in en_sum["probes"]] == [p["mechanism"] for p in zh_sum["probes"]]
    assert zh_sum["workload"]["ops"] == en_sum["workload"]["ops"] and zh_sum["lesson"] == "lesson1"
    assert HAN.search(zh_sum["workload"]["what"]) and not HAN.search(en_sum["workload"]["what"])
    assert HAN.search(zh.stderr), "the Tracing... line (on stderr in JSON mode) is Chinese"


def test_doctor_speaks_chinese():
    proc = runner("doctor")
    assert proc.returncode in (0, 3) and "Traceback" not in proc.stderr
    assert len(chinese_lines(proc.stdout)) >= 5, proc.stdout


def test_a_failed_check_says_why_in_chinese(tmp_path):
    lesson = lessons.find("1")
    before = kernel_state()
    proc = runner("check", "lesson1", "--dir", str(learner_copy(lesson, tmp_path)), state=tmp_path / "state")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(chinese_lines(proc.stdout)) >= 2, proc.stdout
    assert_nothing_left(before, ["lesson1"])
