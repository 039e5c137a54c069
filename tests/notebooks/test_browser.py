"""A teacher's view, for real: JupyterLab on 127.0.0.1 with a token, Debian's chromium driven headless.

Opens two map lessons' notebooks, a count table and histograms (lesson 1's if there is no map
lesson), the first in Chinese (notebooks/zh/), in a projector's
1280x720 window, runs all cells from the Run menu, presses the widget's Start
button, waits until the count table shows the workload's counts, checks that no
table cell wraps and no word is split across lines, that no cell's output still
says what the run made untrue ("No run has finished yet", "Detached"), and that
a lesson with a histogram shows it; saves a screenshot to
artifacts/notebook-<lesson>.png, shuts JupyterLab down and checks that its
kernel, and every program it held, are gone.

Needs chromium from the OS (apt-get install -y chromium): Playwright drives it
with executable_path; Playwright's own browser download is never used.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from runner import lessons as lesson_list
from runner.notebook import ensure_kernelspec, free_port, server_command
from tests.notebooks.test_notebooks import held_programs, said, wait_gone
from tests.support import HAN, ROOT, kernel_state

pytestmark = [pytest.mark.browser, pytest.mark.bpf]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium():
    """Debian's chromium, or a skip (a failure under REQUIRE_BPF=1) saying how to install it."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    reason = None
    if path is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright's Python client is missing (sudo make test installs it: requirements-test.txt)"
    if reason:
        if os.environ.get("REQUIRE_BPF") == "1":
            pytest.fail(f"REQUIRE_BPF=1 but {reason}")
        pytest.skip(reason)
    return path


VIEWPORT = {"width": 1280, "height": 720}  # a classroom projector's


def chosen_lessons():
    every = lesson_list.load_all()
    with_notebook = [lesson for lesson in every if (ROOT / "notebooks" / f"{lesson.folder.name}.ipynb").exists()]
    maps = [lesson for lesson in with_notebook if lesson.events == "table"]
    # two notebooks (make test's time): the first map lesson's count table, and the last histogram lesson's charts
    # (lesson 8's: one per section); the headless test checks each notebook's widget HTML, flame graphs included
    histograms = [lesson for lesson in maps if lesson.histogram][-1:]
    kinds = maps[:1] + [lesson for lesson in histograms if lesson not in maps[:1]]
    chosen = [(lesson, "en") for lesson in kinds or with_notebook[:1]]
    zh = chosen[0][0]
    if (ROOT / "notebooks" / "zh" / f"{zh.folder.name}.ipynb").exists():
        chosen[0] = (zh, "zh")  # its Chinese notebook: the same widgets, in Chinese (wider characters)
    return chosen


def pattern(lang, message, **groups):
    """A regular expression for `message` as the runner says it in `lang`, each {field} matched by groups[field]."""
    regex = re.escape(said(lang, message, **{k: f"\0{k}\0" for k in groups}))
    for name, group in groups.items():
        regex = regex.replace(re.escape(f"\0{name}\0"), group)
    return regex


def workload_pattern(lang):
    """The summary's workload sentence: the pid, the ops, the count for its pid (or its children's and their pids)."""
    seen = "(?:" + pattern(lang, "the map counted {n} for its pid", n=r"(?P<counted>\d+)") + "|" + pattern(
        lang, "the map counted {n} for its children (pids {pids})", n=r"(?P<counted2>\d+)", pids=r"(?P<pids>[\d, ]+)") + ")"
    return pattern(lang, "The workload (pid {pid}, {comm}) made {ops} {what}; {seen}{accounted}.", pid=r"(?P<pid>\d+)",
                   comm="bcc-workload", ops=r"(?P<ops>\d+)", what=".*?", seen=seen, accounted=".*?")


# In the browser: what in `root` is laid out badly. A table cell whose text takes two lines wraps; a word (a run
# of non-space characters) whose text takes two lines was split (a line broken inside it).
LAYOUT_PROBLEMS = """root => {
    const lines = range => new Set([...range.getClientRects()].filter(r => r.width > 0)
                                   .map(r => Math.round(r.top))).size;
    const problems = [];
    for (const cell of root.querySelectorAll('td, th')) {
        const range = document.createRange();
        range.selectNodeContents(cell);
        if (lines(range) > 1) problems.push('a table cell wraps: ' + JSON.stringify(cell.textContent));
    }
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const word of node.textContent.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, word.index);
            range.setEnd(node, word.index + word[0].length);
            if (lines(range) > 1) problems.push('a word is split across lines: ' + JSON.stringify(word[0]));
        }
    }
    return problems;
}"""


def children(pid):
    """Pids of the processes whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
        return not open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, ProcessLookupError):
        return False


def wait_for_idle_kernel(url, token, timeout=60):
    """The notebook's kernel has started and is idle (asked through JupyterLab's REST API)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=5) as reply:
            kernels = json.load(reply)
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            return kernels
        time.sleep(0.3)
    raise AssertionError(f"the notebook's kernel did not become idle: {kernels}")


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on 127.0.0.1:<free port> with a fresh token and a throw-away config; yields (url, token, proc)."""
    ensure_kernelspec()
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k != "BCC_LESSONS_UNATTENDED"}
    env.update(JUPYTER_TOKEN=token, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    settings = tmp_path / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "get notified about Jupyter news?" box over the screenshot
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    argv = server_command("127.0.0.1", port) + [f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as reply:
                json.load(reply)
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.3)
    try:
        yield url, token, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def cell_outputs(page, source):
    """The output area of the code cell whose source is `source`."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=source))
    return cell.locator(".jp-OutputArea")


@pytest.mark.parametrize("lesson, lang", chosen_lessons(), ids=lambda v: getattr(v, "id", v))
def test_teacher_runs_a_notebook_in_chromium_and_the_count_table_shows_the_workload(jupyterlab, tmp_path, lesson, lang):
    executable = chromium()
    from playwright.sync_api import sync_playwright
    url, token, server = jupyterlab
    _, events_before = kernel_state()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"notebook-{lesson.id}{'' if lang == 'en' else '-' + lang}.png"
    folder = "" if lang == "en" else f"{lang}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS[1:])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/lab/tree/{folder}{lesson.folder.name}.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            wait_for_idle_kernel(url, token)
            # Run > Run All Cells, as a teacher would
            started = "() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
            for attempt in range(3):
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
                try:  # a Run All clicked while the page was still connecting to its kernel runs nothing: again
                    page.wait_for_function(started, timeout=15_000)
                    break
                except Exception:
                    if attempt == 2:
                        raise
            controls = page.locator(".bcc-lessons-controls")
            try:
                # JupyterLab skips drawing cells out of view (content-visibility): where Run All has scrolled past
                # the controls cell before its widget came, the widget is there but not drawn until scrolled to
                controls_cell = cell_outputs(page, "lesson.controls()")
                deadline = time.monotonic() + 90
                while True:
                    try:
                        controls_cell.scroll_into_view_if_needed(timeout=2_000)
                        controls.wait_for(timeout=2_000)
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
            except Exception:
                page.screenshot(path=str(screenshot), full_page=True)
                outputs = "\n".join(page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts())
                raise AssertionError(f"no controls within 90 s (screenshot {screenshot}); the outputs:\n{outputs}")
            # Run All ends with the Detach cell: Start attaches again, runs the workload, fills the tables
            page.locator(".jp-Notebook .jp-Cell").last.wait_for()
            page.wait_for_function("() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]"
                                   ".every(p => !p.textContent.includes('*'))", timeout=90_000)
            controls.get_by_role("button", name=said(lang, "Start")).click()
            summary = controls.locator(".bcc-lessons-summary-text")
            try:
                summary.wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(screenshot), full_page=True)
                raise AssertionError(f"no summary within 60 s of Start (screenshot {screenshot}); the controls show:\n"
                                     + controls.inner_text())
            text = summary.inner_text()
            found = re.search(workload_pattern(lang), text, re.S)
            assert found, text
            pid, ops = int(found["pid"]), int(found["ops"])
            counted = int(found["counted"] or found["counted2"])
            pids = {str(pid)} if found["pids"] is None else set(found["pids"].split(", "))  # whose counts are its
            assert counted > 0
            counts = controls.locator(".bcc-lessons-counts-table")
            headers = [h.strip() for h in counts.locator("thead th").all_inner_texts()]
            rows = [[c.strip() for c in row.locator("td").all_inner_texts()] for row in counts.locator("tbody tr").all()]
            mine = [dict(zip(headers, row)) for row in rows if pids & set(row)]
            assert mine, f"the count table has no row for the workload's pids {sorted(pids)}: {rows}"
            assert sum(int(r["COUNT"]) for r in mine) == counted, (mine, text)
            if lesson.events == "table" and lesson.workload.get("kind") == "sleeps":
                assert counted == ops  # one count per sleep, exactly
            if lesson.histogram:  # the lesson's BPF_HISTOGRAM, as a chart: one bar per bucket, "low -> high"
                buckets = controls.locator(".bcc-lessons-histogram-bars tr")
                assert buckets.count() > 0, "the histogram is not shown"
                total = 0
                for row in buckets.all():  # from the first counted bucket to the highest, the empty ones between too
                    label, _, count = [c.strip() for c in row.locator("td").all_inner_texts()]
                    low, high = map(int, label.split(" -> ")) if " -> " in label else (int(label), int(label))
                    assert low <= high, label
                    total += int(count)
                assert total > 0, "the histogram counted nothing"
            # every output says what is true after the run: the summary cell shows this run, the load and
            # detach cells (which Run All ran before Start) say the lesson is attached again
            summary_cell = cell_outputs(page, "lesson.summary()")
            workload_said = said(lang, "The workload (pid {pid}, {comm}) made {ops} {what}; {seen}{accounted}.", pid=pid,
                                 comm="bcc-workload", ops="\0", what="", seen="", accounted="").split("\0")[0]
            summary_cell.get_by_text(workload_said.rstrip()).wait_for(timeout=10_000)
            detach_cell = cell_outputs(page, "lesson.detach()")
            again = said(lang, "Compiled {program} and attached again: {probes}. The Detach cell detaches.",
                         program=lesson.program_path.name, probes="\0").split("\0")[0]
            detach_cell.get_by_text(again).wait_for(timeout=10_000)
            everything = "\n".join(page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts())
            stale_texts = [re.match(r"[^:：]*[:：]", said(lang, message))[0] for message in (  # up to the first colon
                "No run has finished yet: press Start above (or call lesson.start()); its summary appears here when it "
                "ends.", "Detached: nothing of this lesson is left in the kernel.")]
            if lang == "zh":
                assert HAN.search(controls.inner_text()), "the Chinese notebook's controls are not Chinese"
            for stale in stale_texts:
                assert stale not in everything, f"an output still says {stale!r} after Start:\n{everything}"
            problems = controls.evaluate(LAYOUT_PROBLEMS) + summary_cell.evaluate(LAYOUT_PROBLEMS)
            assert not problems, f"at {VIEWPORT['width']}x{VIEWPORT['height']}: {problems}"
            controls.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.screenshot(path=str(screenshot), full_page=False)
            kernels = [p for p in children(server.pid) if "ipykernel" in open(f"/proc/{p}/cmdline").read()]
            assert len(kernels) == 1, kernels
            held = held_programs(kernels[0])
            assert held, "Start did not attach the lesson again"
        finally:
            browser.close()
    # shut JupyterLab down as its owner would: every kernel shuts down with it
    request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=10).close()
    server.wait(timeout=30)
    deadline = time.monotonic() + 10
    while alive(kernels[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(kernels[0]), "the notebook's kernel outlived JupyterLab"
    wait_gone(held, events_before)
    assert screenshot.stat().st_size > 10_000
    print(f"{lesson.id} ({lang}): workload pid {pid}, {counted} counted of {ops} ops; screenshot "
          f"{screenshot.relative_to(ROOT)}")
