import os

import pytest

from tests.support import bpf_unavailable


@pytest.fixture(autouse=True, scope="session")
def _own_state_dir(tmp_path_factory):
    """Runs of the runner record progress: keep the tests' progress away from the learner's own."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ.pop("SUDO_USER", None)


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
