"""The agent end to end: real nginx, real `ttsops serve` slots, the real joe voice, the CLI.

One agent serves the whole module (tests run in order and build on each other's state);
a bounded load generator sends requests through the router during every change.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agent_fixtures import (
    AgentProcess,
    LoadGenerator,
    allowed_versions,
    free_port,
    make_version,
    switch_windows,
)

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.registry import Registry
from ttsops.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Iterator[AgentProcess]:
    """An agent on free ports over joe 1.0.0, 1.1.0 (weights perturbed 1%) and a broken 1.2.0."""
    root = tmp_path_factory.mktemp("agent")
    home = root / "home"
    perturbed = root / "v110"
    derive_bundle(joe_bundle, perturbed, version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    bundles = [
        (joe_bundle, None),
        (perturbed, "110abc0"),
        (make_version(joe_bundle, root / "v120", "1.2.0", garbage_model=True), None),
    ]
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        for bundle, sha in bundles:
            registry.register(bundle, git_sha=sha)
    process = AgentProcess(home)
    try:
        yield process.start()
    finally:
        process.close()


def ttsops(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against ``agent`` (URL and token from the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        env={**agent.env, "COLUMNS": "200"},
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ids(agent: AgentProcess) -> list[int]:
    return [d["id"] for d in agent.api("GET", "/v1/deployments", params={"limit": 100})]


def test_deploy_rollback_redeploy_under_load_fails_no_request(agent: AgentProcess) -> None:
    """1.0.0 → 1.1.0 → rollback → 1.1.0 under load: no failure, each answer from a routed one."""
    first = ttsops(agent, "deploy", "1.0.0", "--wait")
    assert first.returncode == 0, first.stdout + first.stderr + agent.log()
    assert "1.0.0 is live" in first.stdout
    with LoadGenerator(agent.public_url) as load:
        steps = [
            ("deploy", "v1.1.0", "--wait"),
            ("rollback", "--reason", "listeners hear clicks"),
            ("deploy", "1.1.0", "--wait", "--reason", "clicks were the headphones"),
        ]
        for step in steps:
            done = ttsops(agent, *step)
            assert done.returncode == 0, done.stdout + done.stderr + agent.log()[-3000:]
    assert len(load.shots) > 10
    assert load.failures() == []
    windows = switch_windows(agent, sorted(_ids(agent)))
    assert [(old, new) for _, _, old, new in windows] == [
        ("1.0.0", "1.1.0"),
        ("1.1.0", "1.0.0"),
        ("1.0.0", "1.1.0"),
    ]
    for shot in load.shots:
        allowed = {f"joe@{v}" for v in allowed_versions(windows, "1.0.0", shot.started, shot.ended)}
        assert shot.version in allowed, (shot, windows)
    assert {shot.version for shot in load.shots} == {"joe@1.0.0", "joe@1.1.0"}


def test_status_says_what_is_live_with_slots_and_weights(agent: AgentProcess) -> None:
    """`ttsops status` shows the live version, its commit, and both slots with their weights."""
    done = ttsops(agent, "status")
    assert done.returncode == 0, done.stderr
    assert "1.1.0" in done.stdout and "110abc" in done.stdout
    assert f"{agent.public_url} (ready)" in done.stdout
    slots = agent.api("GET", "/v1/status")["slots"]
    weights = {(s["version"], s["state"], s["weight"]) for s in slots}
    assert weights == {("1.1.0", "ready", 100), ("1.0.0", "ready", 0)}


def test_rollback_history_records_who_and_why(agent: AgentProcess) -> None:
    """The rollback's reason and actor are in `ttsops history`; the retired deployment says so."""
    done = ttsops(agent, "history")
    assert done.returncode == 0, done.stderr
    assert "listeners hear clicks" in done.stdout
    assert "rolled_back" in done.stdout


def test_version_that_crashes_on_load_is_rolled_back(agent: AgentProcess) -> None:
    """A garbage model fails its load: rolled back by itself, no failed request, reason kept."""
    with LoadGenerator(agent.public_url) as load:
        done = ttsops(agent, "deploy", "1.2.0", "--wait")
    assert done.returncode == 1
    assert "rolled_back" in done.stderr and "cannot load" in done.stderr
    assert load.failures() == []
    assert {shot.version for shot in load.shots} == {"joe@1.1.0"}
    history = ttsops(agent, "history", "--version", "1.2.0")
    assert "failed to start" in history.stdout


def test_version_not_ready_within_its_start_timeout_is_rolled_back(agent: AgentProcess) -> None:
    """A slot that is not ready within the start timeout is rolled back; traffic never moved."""
    with LoadGenerator(agent.public_url) as load:
        done = ttsops(agent, "deploy", "1.0.0", "--start-timeout", "0.5", "--wait")
    assert done.returncode == 1
    assert "not ready after" in done.stderr
    assert load.failures() == []
    assert {shot.version for shot in load.shots} == {"joe@1.1.0"}
    assert "not ready after" in ttsops(agent, "history").stdout


def test_rollback_during_a_deployment_aborts_it(agent: AgentProcess) -> None:
    """`ttsops rollback` while a deployment is in flight aborts it; the live version stays."""
    agent.api("POST", "/v1/deployments", json={"version": "1.0.0"})
    done = ttsops(agent, "rollback", "--reason", "wrong tag")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aborting it" in done.stdout and "aborted" in done.stdout
    assert agent.api("GET", "/v1/deployments")[0]["state"] == "aborted"
    assert httpx.get(f"{agent.public_url}/version").json()["version"] == "1.1.0"


def test_management_api_requires_the_token(agent: AgentProcess) -> None:
    """No token or a wrong one gets 401; the CLI says which URL refused it."""
    assert httpx.get(f"{agent.url}/v1/status").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{agent.url}/v1/status", headers=wrong).status_code == 401
    assert agent.api("GET", "/v1/status")["live_version"] == "1.1.0"
    env_less = subprocess.run(
        [sys.executable, "-m", "ttsops", "status", "--agent", agent.url],
        env={**agent.env, "TTSOPS_TOKEN": "nope"},
        cwd=agent.home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert env_less.returncode == 1 and "refused the token" in env_less.stderr


def test_unreachable_agent_is_a_clear_error(agent: AgentProcess) -> None:
    """Pointing the CLI at a port with no agent exits 1 naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    done = ttsops(agent, "status", "--agent", url)
    assert done.returncode == 1
    assert url in done.stderr and "ttsops agent" in done.stderr


def test_unknown_version_is_refused_with_the_fix(agent: AgentProcess) -> None:
    """Deploying a version that is not registered exits 1 and says how to list and add one."""
    done = ttsops(agent, "deploy", "9.9.9")
    assert done.returncode == 1
    assert "9.9.9 is not registered" in done.stderr and "HTTP 404" in done.stderr


def test_second_agent_on_the_same_state_dir_is_refused(agent: AgentProcess) -> None:
    """One agent owns a state dir; a second one exits 1 naming the first one's pid."""
    done = ttsops(agent, "agent", "--state-dir", str(agent.state_dir), "--port",
                  str(free_port()), "--public-port", str(free_port()))  # fmt: skip
    assert done.returncode == 1
    assert f"another agent (pid {agent.proc.pid})" in done.stderr  # type: ignore[union-attr]
