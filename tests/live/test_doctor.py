import json

import pytest

from runner.doctor import has_kprobe_interface
from tests.support import runner

pytestmark = [pytest.mark.bpf, pytest.mark.kprobe]


def findings():
    proc = runner("doctor", "--json", check=True)
    report = json.loads(proc.stdout)
    assert report["ready"] is True
    return {f["name"]: f for f in report["findings"]}


@pytest.mark.per_kernel  # what the kernel offers
def test_doctor_tries_each_probe_type_on_this_kernel():
    found = findings()
    for name in ("root", "bcc", "headers", "tracefs", "tracepoints", "uprobes", "ring buffer", "BTF"):
        assert found[name]["status"] in ("ok", "warn"), found[name]
    assert found["tracepoints"]["status"] == "ok" and found["uprobes"]["status"] == "ok"
    if has_kprobe_interface():
        assert found["kprobes"]["status"] == "ok"
    else:
        # this kind of machine: programs load, attaching is refused, and the doctor says why and what runs instead
        assert found["kprobes"]["status"] == "warn"
        assert "cannot attach" in found["kprobes"]["detail"] and "tracepoints instead" in found["kprobes"]["detail"]
        assert found["kprobes"]["fix"]


def test_doctor_text_marks_each_finding_and_exits_0_when_ready():
    proc = runner("doctor", check=True)
    assert "Ready for the lessons." in proc.stdout
    assert "[ok  ] tracepoints" in proc.stdout
