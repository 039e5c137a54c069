import os

import pytest

from tests.support import bpf_unavailable


@pytest.fixture(autouse=True, scope="session")
def _own_state_dir(tmp_path_factory):
    """Runs of the runner record progress: keep the tests' progress away from the learner's own."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ.pop("SUDO_USER", None)
    # the tests read the runner's English, whatever the developer's locale (LANG=zh_CN.UTF-8 would make it
    # Chinese); the Chinese tests set their own locale for the runs they start
    os.environ["LANGUAGE"] = "en"
    from runner import language
    language.use()


@pytest.fixture(autouse=True)
def _needs_bpf(request):
    """Tests marked bpf skip with the reason where this machine cannot run them; with REQUIRE_BPF=1 they fail."""
    if request.node.get_closest_marker("bpf") is None:
        return
    reason = bpf_unavailable()
    if reason:
        if os.environ.get("REQUIRE_BPF") == "1":
            pytest.fail(f"REQUIRE_BPF=1 but {reason}")
        pytest.skip(reason)
