"""`ttsops down`: the agent, its drained slots and its nginx stop, and it says what it stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from agent_fixtures import AgentProcess

from ttsops.rollout.procs import alive, read_pid

pytestmark = pytest.mark.slow


def _run(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        env={**agent.env, "COLUMNS": "200"},
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_down_stops_agent_slots_and_router(tmp_path: Path, joe_bundle: Path) -> None:
    """After a deploy, `ttsops down` leaves no agent, slot or nginx; `ttsops agent stop` then
    finds none."""
    home = tmp_path / "home"
    agent = AgentProcess(home)
    home.mkdir()
    assert _run(agent, "register", str(joe_bundle), "--version", "1.0.0").returncode == 0
    try:
        agent.start()
        deployed = _run(agent, "deploy", "1.0.0", "--wait")
        assert deployed.returncode == 0, deployed.stderr
        slot_pids = [read_pid(p) for p in agent.state_dir.glob("slots/*/pid")]
        nginx_pid = read_pid(agent.state_dir / "nginx" / "nginx.pid")
        down = _run(agent, "down")
        assert down.returncode == 0, down.stderr
        assert "stopped agent agent" in down.stdout
        assert "stopped slot" in down.stdout and "1.0.0, process pid" in down.stdout
        assert f"stopped router nginx (pid {nginx_pid})" in down.stdout
        assert agent.proc is not None and agent.proc.wait(30) is not None
        assert all(pid is not None and not alive(pid, "ttsops serve") for pid in slot_pids)
        assert nginx_pid is not None and not alive(nginx_pid, "nginx")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{agent.public_url}/healthz", timeout=5)
        again = _run(agent, "agent", "stop")  # the same command under the agent's name
        assert again.returncode == 0 and "nothing was running" in again.stdout
    finally:
        agent.close()
