"""The canary observer on a real `ttsops serve`: probes top up thin traffic and get scored.

The same real server plays both roles (canary and stable), so the window's two sides must
look alike; what matters here is that an idle window still ends with enough requests and
DNSMOS-scored probes to judge, and that an unreachable slot is an error, not a pass.
"""

from __future__ import annotations

import time

from agent_fixtures import free_port

from ttsops.rollout.observer import SlotObserver
from ttsops.settings import CanarySettings
from ttsops.testing import ServerProcess


def test_an_idle_window_is_filled_by_probes(joe_server: ServerProcess) -> None:
    """No real traffic: each role still gets min_requests answers and probes scored."""
    policy = CanarySettings(step_interval_s=4, min_requests=3, probes_per_window=2)
    observer = SlotObserver(policy)
    ports = {"canary": joe_server.port, "stable": joe_server.port}
    observer.open("w1", ports)
    deadline = time.monotonic() + 60
    while not observer.filled("w1") and time.monotonic() < deadline:
        time.sleep(0.5)
    seen = observer.close("w1")
    assert seen.error is None and seen.canary is not None and seen.stable is not None
    for side in (seen.canary, seen.stable):
        assert side.requests >= 3 and side.errors == 0
        assert side.p95_s is not None and side.p95_s > 0
        assert len(side.ovrl) >= 2 and all(2.0 < s < 4.5 for s in side.ovrl)


def test_a_slot_that_does_not_answer_makes_the_window_an_error() -> None:
    """Nothing listens on the canary's port: the window is an error that names the port."""
    observer = SlotObserver(CanarySettings(step_interval_s=1))
    dead = free_port()
    observer.open("w1", {"canary": dead, "stable": dead})
    seen = observer.close("w1")
    assert seen.canary is None and seen.error is not None and str(dead) in seen.error
