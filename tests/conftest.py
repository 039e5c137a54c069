import os

import pytest

from tests.support import bpf_unavailable


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
