"""Every lesson notebook, executed headless as a teacher's Jupyter would run it, against the live kernel.

Unattended (BCC_LESSONS_UNATTENDED=1): the controls cell starts one run with the
lesson's workload and waits for its end, so the saved outputs hold real events.
Each notebook is found on disk, so a lesson added later is covered once
notebooks/build.py has written its notebook (test_notebooks_are_built checks that).
The Chinese notebooks (notebooks/zh/) run the same way and say the same things in Chinese.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import language, lessons, workload
from runner.notebook import KERNEL_NAME, SUMMARY_MIME, UNATTENDED_ENV, ensure_kernelspec
from tests.support import HAN, ROOT, kernel_state, probe_events

NOTEBOOKS = ROOT / "notebooks"

def by_number(paths):
    return sorted(paths, key=lambda p: int(p.stem[6:].split("_")[0]))  # lesson 1 first


FOUND = by_number(NOTEBOOKS.glob("lesson*.ipynb"))
FOUND_ZH = by_number(NOTEBOOKS.glob("zh/lesson*.ipynb"))
DETACH = "lesson.detach()"
LOAD = "lesson.load()"


def held_programs(pid):
    """{prog_id} of the BPF programs process `pid` holds open (read from /proc/PID/fdinfo)."""
    ids = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) != "anon_inode:bpf-prog":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
        except OSError:
            continue
        ids |= {int(line.split()[1]) for line in info.splitlines() if line.startswith("prog_id:")}
    return ids


def wait_gone(ids, events_before, wait=5.0):
    """None of `ids` is loaded any more and no new kprobe/uprobe event is defined (RCU frees a little later)."""
    from tests.support import bpf_programs
    deadline = time.monotonic() + wait
    while True:
        left = ids & set(bpf_programs())
        events = probe_events() - events_before
        if not left and not events:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left in the kernel after the notebook's kernel shut down: programs {left}, "
                                 f"probe events {sorted(events)}")
        time.sleep(0.2)


def run_notebook(path, skip=(), duration=None):
    """Execute the notebook cell by cell in a fresh bcc-lessons kernel, skipping cells whose source is in `skip`.

    Returns (notebook, prog ids the kernel held right after the load cell). The kernel is shut down on return.
    """
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    if duration is not None:  # like papermill: the cell tagged "parameters" gets the test's value
        (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        params.source = f"duration = {duration}"
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=120, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    held = set()

    async def execute():
        async with client.async_setup_kernel():
            pid = client.km.provisioner.process.pid
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and cell.source.strip() in skip:
                    continue
                await client.async_execute_cell(cell, index)
                if cell.source.strip() == LOAD:
                    held.update(held_programs(pid))
            client.set_widgets_metadata()

    asyncio.run(execute())
    return nb, held


def said(lang, message, **fields):
    """A runner message as a notebook in `lang` prints it."""
    with language.speaking(lang):
        return language._(message).format(**fields)


def workload_said(lang, pid, ops):
    """The start of the summary's workload sentence: "The workload (pid N, bcc-workload) made OPS"."""
    return said(lang, "The workload (pid {pid}, {comm}) made {ops} {what}; {seen}{accounted}.", pid=pid,
                comm="bcc-workload", ops=ops, what="\0", seen="", accounted="").split("\0")[0].rstrip()


def outputs(nb):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            yield out


def summary_of(nb):
    found = [out["data"][SUMMARY_MIME] for out in outputs(nb) if SUMMARY_MIME in out.get("data", {})]
    assert len(found) == 1, "the summary cell saved no summary"
    return found[0]


def text_of(nb):
    parts = []
    for out in outputs(nb):
        parts.append(out.get("text", "") if out["output_type"] == "stream" else out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def widget_html(nb):
    """Every HTML widget's value, from the widget state nbclient saved in the notebook."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return "\n".join(m["state"].get("value", "") for m in state.values() if m.get("model_name") == "HTMLModel")


@pytest.fixture(autouse=True)
def unattended(monkeypatch):
    ensure_kernelspec()  # the bcc-lessons kernel: this .venv's Python, with the repository on sys.path
    monkeypatch.setenv(UNATTENDED_ENV, "1")


@pytest.mark.bpf
@pytest.mark.notebook
@pytest.mark.parametrize("path", FOUND + FOUND_ZH, ids=[str(p.relative_to(NOTEBOOKS))[:-6] for p in FOUND + FOUND_ZH])
def test_notebook_traces_its_workload_unattended_and_detaches(path):
    lang = json.loads(path.read_text(encoding="utf-8"))["metadata"]["bcc_lessons"]["lang"]
    _, events_before = kernel_state()
    started = time.monotonic()
    nb, held = run_notebook(path)
    elapsed = time.monotonic() - started
    summary = summary_of(nb)
    work = summary["workload"]
    assert held, "the load cell attached nothing"
    assert work is not None, f"the workload did not finish within the run: {summary}"
    pid = work["pid"]
    pids = set(workload.pids(work))  # its own and its children's, or its children's alone (children_only)
    # the workload's pids are in the counts, its pid in the printed summary, and its pids in the live widget's tables
    mine = [row for row in summary["counts"] if row.get("pid") in pids]
    assert mine and summary["workload_events"] > 0, summary["counts"]
    assert workload_said(lang, pid, work["ops"]) in text_of(nb), text_of(nb)
    html = widget_html(nb)
    assert any(f">{p}</td>" in html for p in pids), "the widget's tables never showed the workload's pids"
    if summary["lesson"] == "lesson1":  # one trace_pipe line per fork, each seen once
        assert summary["workload_events"] == work["ops"] == sum(r["count"] for r in mine) == 5
    if lessons.find(summary["lesson"]).flamegraph:  # its flame graph inline, in the widget and the saved summary
        leaves = [name for name in summary["flamegraph"]["leaves"] if not name.startswith("[")][:2]
        saved = "".join(out.get("data", {}).get("text/html", "") for out in outputs(nb))
        tips = [said(lang, "{name} ({count} samples, {share:.2f}%)", name=name, count="\0", share=0).split("\0")[0]
                for name in leaves]  # each frame's tooltip: "hot (", or "hot（" in Chinese
        for shown in (html, saved):
            assert "bcc-lessons-flamegraph-svg" in shown and all(tip in shown for tip in tips), leaves
    assert said(lang, "Detached: nothing of this lesson is left in the kernel.") in text_of(nb)
    if lang == "zh":  # the lesson's own sentences too: its workload's, in the summary the kernel saved
        assert HAN.search(work["what"]), work["what"]
    wait_gone(held, events_before)
    print(f"{path.name}: {elapsed:.1f} s, workload pid {pid}, {summary['workload_events']} of its events counted, "
          f"{summary['events']} events in all")


@pytest.mark.bpf
@pytest.mark.notebook
def test_a_kernel_shut_down_without_the_detach_cell_leaves_nothing_attached():
    path = FOUND[0]
    _, events_before = kernel_state()
    nb, held = run_notebook(path, skip={DETACH}, duration=2)
    assert held and summary_of(nb)["workload"] is not None
    assert "Still attached" in text_of(nb)  # the run ended, the probes were still in the kernel
    wait_gone(held, events_before)


@pytest.mark.notebook
def test_notebooks_are_built_from_the_lessons_and_hold_no_bpf_code():
    proc = subprocess.run([sys.executable, str(NOTEBOOKS / "build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in FOUND_ZH] == [p.name for p in FOUND], "every lesson has its Chinese notebook"
    for path in FOUND + FOUND_ZH:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert "BPF(" not in code and "attach_" not in code and "#include" not in code
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "saved outputs"
