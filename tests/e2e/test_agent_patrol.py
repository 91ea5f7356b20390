"""The patrol end to end: a live slot killed with SIGKILL is noticed, alerted and healed.

A real agent probes the live service through nginx every second; the webhook goes to a
real HTTP listener on loopback. A version that has served a while is restarted in a
fresh slot; one that went live moments ago is rolled back to the previous stable one.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_fixtures import AgentProcess, Listener

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.registry import Registry
from ttsops.rollout.procs import read_pid
from ttsops.settings import load_settings

pytestmark = pytest.mark.slow


def _agent(root: Path, joe_bundle: Path, webhook: str, recent_s: float) -> AgentProcess:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "ttsops.toml").write_text(
        f"[patrol]\ninterval_s = 1\nfailures = 3\ntimeout_s = 10\nrecent_s = {recent_s}\n"
        f'webhook_url = "{webhook}"\n'
    )
    perturbed = root / "v110"
    derive_bundle(joe_bundle, perturbed, version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        registry.register(joe_bundle)
        registry.register(perturbed)
    return AgentProcess(home)


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A webhook receiver on a free loopback port."""
    found = Listener()
    yield found
    found.close()


def _deploy(agent: AgentProcess, version: str) -> None:
    created = agent.api("POST", "/v1/deployments", json={"version": version})
    assert agent.wait_terminal(created["id"])["state"] == "live", agent.log()[-3000:]


def _kill_live_slot(agent: AgentProcess) -> int:
    status = agent.api("GET", "/v1/status")
    live = next(s for s in status["slots"] if s["weight"] == 100)
    pid = read_pid(agent.state_dir / "slots" / live["slot"] / "pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def _wait_for(check: Any, timeout_s: float, what: str, agent: AgentProcess) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout_s} s:\n{agent.log()[-3000:]}")


def _speaks(agent: AgentProcess) -> str | None:
    try:
        reply = httpx.post(
            f"{agent.public_url}/v1/audio/speech",
            json={"input": "Are you back?", "response_format": "wav"},
            timeout=30,
        )
    except httpx.HTTPError:
        return None
    return reply.headers.get("x-ttsops-version") if reply.status_code == 200 else None


def test_killed_slot_of_a_settled_version_is_alerted_and_restarted(
    tmp_path: Path, joe_bundle: Path, listener: Listener
) -> None:
    """kill -9 of 1.0.0's slot: three failed probes, one webhook, 1.0.0 serves again."""
    agent = _agent(tmp_path, joe_bundle, listener.url, recent_s=0).start()
    try:
        _deploy(agent, "1.0.0")
        killed = _kill_live_slot(agent)
        _wait_for(lambda: listener.bodies, 60, "the webhook", agent)
        alert = listener.bodies[0]
        assert alert["kind"] == "patrol.failed" and alert["version"] == "1.0.0"
        assert alert["host"] == os.uname().nodename
        assert "3 patrol probes in a row failed" in alert["reason"]
        assert alert["details"]["heal"].startswith("restart 1.0.0")
        assert _wait_for(lambda: _speaks(agent), 90, "1.0.0 serving again", agent) == "joe@1.0.0"
        pids = [s["pid"] for s in agent.api("GET", "/v1/status")["slots"] if s["weight"] == 100]
        assert pids and killed not in pids
        alerts = [e for e in _events(agent) if e["kind"] == "alert"]
        assert len(alerts) == 1 and len(listener.bodies) == 1
        assert alerts[0]["version"] == "1.0.0" and alerts[0]["data"]["webhook_error"] is None
    finally:
        agent.close()


def test_killed_slot_of_a_fresh_version_rolls_back_to_the_previous_one(
    tmp_path: Path, joe_bundle: Path, listener: Listener
) -> None:
    """1.1.0 went live seconds ago and its slot dies: the patrol returns to 1.0.0 (kept warm)."""
    agent = _agent(tmp_path, joe_bundle, listener.url, recent_s=600).start()
    try:
        _deploy(agent, "1.0.0")
        _deploy(agent, "1.1.0")
        _kill_live_slot(agent)
        _wait_for(lambda: listener.bodies, 60, "the webhook", agent)
        assert listener.bodies[0]["version"] == "1.1.0"
        assert listener.bodies[0]["details"]["heal"].startswith("rollback to 1.0.0")
        assert _wait_for(lambda: _speaks(agent), 60, "1.0.0 serving again", agent) == "joe@1.0.0"
        assert agent.api("GET", "/v1/status")["live_version"] == "1.0.0"
    finally:
        agent.close()


def _events(agent: AgentProcess) -> list[dict[str, Any]]:
    """The ledger's events, newest first, through `ttsops history --json`."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "history", "--json", "--limit", "200"],
        env=agent.env, cwd=agent.home, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: list[dict[str, Any]] = json.loads(done.stdout)["events"]
    return found
