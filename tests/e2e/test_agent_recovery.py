"""kill -9 of the agent in the middle of a deployment: traffic is served throughout, and the
restarted agent adopts the slot that was starting and finishes the deployment.

Real nginx, real slots, the real joe voice; the previous version is not kept warm here, so
the old slot is drained (SIGTERM after the switch) under load too.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agent_fixtures import (
    AgentProcess,
    LoadGenerator,
    allowed_versions,
    make_version,
    switch_windows,
)

from ttsops.registry import Registry
from ttsops.rollout.procs import alive, read_pid
from ttsops.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def agent(tmp_path: Path, joe_bundle: Path) -> Iterator[AgentProcess]:
    """An agent that does not keep the previous version warm, over joe 1.0.0 and 1.1.0."""
    home = tmp_path / "home"
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        registry.register(joe_bundle)
        registry.register(
            make_version(joe_bundle, tmp_path / "v110", "1.1.0", options={"noise_scale": 0.6})
        )
    process = AgentProcess(home, ["--no-keep-warm"])
    try:
        yield process.start()
    finally:
        process.close()


def _phase(agent: AgentProcess, deployment_id: int) -> str:
    phase: str = agent.api("GET", f"/v1/deployments/{deployment_id}")["phase"]
    return phase


def test_kill_9_mid_deployment_then_restart_finishes_it(agent: AgentProcess) -> None:
    """Killed while the new slot starts, the agent resumes it; no request fails meanwhile."""
    first = agent.api("POST", "/v1/deployments", json={"version": "1.0.0"})
    assert agent.wait_terminal(first["id"])["state"] == "live"
    old_pid = agent.api("GET", "/v1/status")["slots"][0]["pid"]
    with LoadGenerator(agent.public_url) as load:
        second = agent.api("POST", "/v1/deployments", json={"version": "1.1.0"})
        pid_file = agent.state_dir / "slots" / "green" / "pid"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            _phase(agent, second["id"]) == "starting" and read_pid(pid_file)
        ):
            time.sleep(0.05)
        agent.kill()
        starting_pid = read_pid(pid_file)
        assert starting_pid is not None
        served_while_down = len(load.shots)
        while len(load.shots) <= served_while_down + 3 and time.monotonic() < deadline + 60:
            time.sleep(0.1)
        assert len(load.shots) > served_while_down + 3  # nginx and the old slot kept serving
        agent.start()
        done = agent.wait_terminal(second["id"])
    assert done["state"] == "live", agent.log()[-3000:]
    assert load.failures() == []
    windows = switch_windows(agent, [second["id"]])
    for shot in load.shots:
        allowed = {f"joe@{v}" for v in allowed_versions(windows, "1.0.0", shot.started, shot.ended)}
        assert shot.version in allowed, (shot, windows)
    status = agent.api("GET", "/v1/status")
    assert status["live_version"] == "1.1.0"
    assert [(s["version"], s["weight"]) for s in status["slots"]] == [("1.1.0", 100)]
    assert not alive(old_pid, "ttsops serve")  # drained and stopped, not orphaned
    assert status["slots"][0]["pid"] == starting_pid  # adopted, not started a second time


def test_restart_restores_a_live_version_whose_slot_died(agent: AgentProcess) -> None:
    """Agent and live slot both killed: the restarted agent serves the live version again."""
    first = agent.api("POST", "/v1/deployments", json={"version": "1.0.0"})
    assert agent.wait_terminal(first["id"])["state"] == "live"
    agent.kill()
    slot_pid = read_pid(agent.state_dir / "slots" / "blue" / "pid")
    assert slot_pid is not None
    os.kill(slot_pid, signal.SIGKILL)
    agent.start()
    newest = agent.api("GET", "/v1/deployments")[0]
    assert newest["id"] != first["id"]  # the agent started a restore deployment at once
    restore = agent.wait_terminal(newest["id"])
    assert restore["version"] == "1.0.0" and restore["state"] == "live"
    assert "slot was not running" in restore["reason"]
    assert httpx.get(f"{agent.public_url}/version").json()["version"] == "1.0.0"
