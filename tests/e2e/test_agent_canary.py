"""Canary deployments end to end: real nginx weights, real slots, real probes and DNSMOS.

One agent serves the module with short steps (``ttsops.toml`` in its home) and the default
failure limits (errors: none; latency and audio: one repeated window, since three probes a
window are noisy). 1.0.0 stays live while three bad canaries are rolled back, each by the
check that catches it:
- latency: the same voice made three times slower (``length_scale=3``);
- audio quality: weights perturbed by 50% (what the gate blocks; here deployed directly);
- errors: a model broken on one sound (``--corrupt-phoneme x``) that the probes never say
  but real traffic does ("Bach"): nginx hands each failed request to the stable slot, so
  users see no failure while the canary's metrics count the errors.
Then a good one (weights perturbed by 1%) goes 10% → 50% → 100% under load and goes live.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import AgentProcess, Listener, LoadGenerator, make_version

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.registry import Registry
from ttsops.settings import load_settings

pytestmark = pytest.mark.slow

CONFIG = """
[canary]
steps = [10, 50, 100]
step_interval_s = 8
watch_s = 8
min_requests = 3
probes_per_window = 3
min_scored = 3
[patrol]
enabled = false
webhook_url = "{webhook}"
"""

BACH = "Play the cello suites by Johann Sebastian Bach."


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """The webhook receiver of the module's agent."""
    found = Listener()
    yield found
    found.close()


@pytest.fixture(scope="module")
def agent(
    tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path, listener: Listener
) -> Iterator[AgentProcess]:
    """An agent with 1.0.0 live and the canaries registered."""
    root = tmp_path_factory.mktemp("canary")
    home = root / "home"
    home.mkdir()
    (home / "ttsops.toml").write_text(CONFIG.replace("{webhook}", listener.url))
    made = [
        (root / "good", "1.1.0", DeriveRecipe(perturb_sigma=0.01)),
        (root / "noisy", "1.2.0", DeriveRecipe(perturb_sigma=0.5)),
        (root / "broken", "1.3.0", DeriveRecipe(corrupt_phoneme="x")),
    ]
    for out, version, recipe in made:
        derive_bundle(joe_bundle, out, version=version, recipe=recipe)
    slow = make_version(joe_bundle, root / "slow", "1.4.0", options={"length_scale": 3.0})
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        for bundle in (joe_bundle, *(out for out, _, _ in made), slow):
            registry.register(bundle)
    process = AgentProcess(home)
    try:
        process.start()
        first = process.api("POST", "/v1/deployments", json={"version": "1.0.0"})
        assert process.wait_terminal(first["id"])["state"] == "live"
        yield process
    finally:
        process.close()


def _canary(agent: AgentProcess, version: str) -> dict[str, Any]:
    created = agent.api("POST", "/v1/deployments", json={"version": version, "strategy": "canary"})
    return agent.wait_terminal(created["id"], timeout_s=240)


def _analyses(agent: AgentProcess, deployment_id: int) -> list[dict[str, Any]]:
    events = agent.api("GET", f"/v1/deployments/{deployment_id}/events")
    return [e["data"] for e in events if e["kind"] == "canary.analysis"]


def _failed_checks(analysis: dict[str, Any]) -> set[str]:
    return {c["name"] for c in analysis["verdict"]["checks"] if c["outcome"] == "fail"}


def test_a_slow_canary_is_rolled_back_on_latency(agent: AgentProcess, listener: Listener) -> None:
    """Three times slower at 10% of traffic: latency p95 fails, 1.0.0 keeps it all, an alert."""
    done = _canary(agent, "1.4.0")
    assert done["state"] == "rolled_back", agent.log()[-3000:]
    assert "latency_p95" in done["reason"]
    last = _analyses(agent, done["id"])[-1]
    assert "latency_p95" in _failed_checks(last)
    assert last["canary"]["p95_s"] > 1.5 * last["stable"]["p95_s"]
    status = agent.api("GET", "/v1/status")
    assert status["live_version"] == "1.0.0"
    assert [s["weight"] for s in status["slots"] if s["version"] == "1.0.0"] == [100]
    (alert,) = listener.bodies
    assert (alert["kind"], alert["version"]) == ("deployment.rolled_back", "1.4.0")
    assert "latency_p95" in alert["reason"] and alert["details"]["live"] == "1.0.0"


def test_a_canary_that_sounds_worse_is_rolled_back_on_audio_quality(agent: AgentProcess) -> None:
    """Weights perturbed by 50%: the probes' DNSMOS OVRL drops and the canary is rolled back."""
    done = _canary(agent, "1.2.0")
    assert done["state"] == "rolled_back", agent.log()[-3000:]
    assert "audio_quality" in done["reason"]
    last = _analyses(agent, done["id"])[-1]
    canary, stable = last["canary"]["ovrl"], last["stable"]["ovrl"]
    assert len(canary) >= 3 and len(stable) >= 3
    assert sum(stable) / len(stable) - sum(canary) / len(canary) > 0.3


def test_real_traffic_finds_what_probes_miss_and_users_never_see_it(
    agent: AgentProcess,
) -> None:
    """Broken on "x": traffic with "Bach" makes the canary fail; nginx retries on 1.0.0."""
    with LoadGenerator(agent.public_url, texts=[BACH, "Hello there."], max_s=120) as load:
        done = _canary(agent, "1.3.0")
    assert done["state"] == "rolled_back", agent.log()[-3000:]
    assert "error_rate" in done["reason"]
    last = _analyses(agent, done["id"])[-1]
    assert last["canary"]["errors"] > 0 and last["stable"]["errors"] == 0
    assert load.shots and load.failures() == []
    assert {s.version for s in load.shots} <= {"joe@1.0.0", "joe@1.3.0"}


def test_a_good_canary_walks_every_step_under_load_and_goes_live(agent: AgentProcess) -> None:
    """1% perturbed: 10% → 50% → 100%, watched, live; no request failed on the way."""
    with LoadGenerator(agent.public_url, max_s=150) as load:
        done = _canary(agent, "1.1.0")
    assert done["state"] == "live", agent.log()[-3000:]
    analyses = _analyses(agent, done["id"])
    advanced = [a["weight"] for a in analyses if a["action"] == "advance"]
    assert advanced[:2] == [10, 50] and advanced[-1] == 100
    assert load.shots and load.failures() == []
    served = {s.version for s in load.shots}
    assert served == {"joe@1.0.0", "joe@1.1.0"}
    assert agent.api("GET", "/v1/status")["live_version"] == "1.1.0"
