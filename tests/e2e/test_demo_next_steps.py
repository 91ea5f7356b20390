"""What `make demo` prints at the end works as printed, against a real agent laid out as the demo's.

The demo itself takes minutes, so this starts a real agent (nginx, a slot of joe) the way
scripts/demo.py does — state under ``.demo/home``, the token at ``.demo/home/agent/token``,
no ``TTSOPS_TOKEN`` — in a directory that stands for the checkout, and runs the ``$`` lines
of ``demo_kit.next_steps`` in one bash, from that directory, with a user's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agent_fixtures import AgentProcess

from ttsops.registry import Registry
from ttsops.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from demo_kit import next_steps, write_token

pytestmark = pytest.mark.slow


def _user_env(**extra: str) -> dict[str, str]:
    """A shell's environment: nothing of ttsops set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    return {**env, "COLUMNS": "100", "NO_COLOR": "1", **extra}


def _commands(text: str) -> list[str]:
    """The ``$`` lines of the printed text, continuation lines joined."""
    commands: list[str] = []
    continued = False
    for raw in text.splitlines():
        line = raw.strip()
        if continued:
            commands[-1] += "\n" + line
        elif line.startswith("$ "):
            commands.append(line[2:])
        else:
            continue
        continued = line.endswith("\\")
    return commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Iterator[AgentProcess]:
    """A checkout after `make demo`: .venv, the agent's state in .demo/home, joe 1.0.0 live."""
    root = tmp_path_factory.mktemp("checkout")
    (root / ".venv").symlink_to(sys.prefix)  # the venv running these tests
    assert (root / ".venv" / "bin" / "ttsops").is_file(), "the ttsops script is not installed"
    home = root / ".demo" / "home"
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        registry.register(joe_bundle)
    agent = AgentProcess(home)
    write_token(agent.state_dir, "test-token")  # as scripts/demo.py does, before the start
    del agent.env["TTSOPS_TOKEN"], agent.env["TTSOPS_AGENT_URL"]
    try:
        agent.start()
        created = agent.api("POST", "/v1/deployments", json={"version": "1.0.0"})
        assert agent.wait_terminal(created["id"])["state"] == "live", agent.log()[-3000:]
        yield agent
    finally:
        agent.close()


def test_printed_commands_work_as_printed(demo: AgentProcess) -> None:
    """Every `$` line the demo prints but `make demo-stop` exits 0 as printed, status included."""
    said_at_start = " ".join(demo.log().split())
    assert f"token in {demo.state_dir / 'token'}" in said_at_start  # the file, not the env
    commands = _commands(next_steps("1.0.0", demo.url, demo.public_url))
    assert commands[-1].startswith("make demo-stop")  # stops the real demo by its PIDs
    run = commands[:-1]
    script = "set -e\n" + "".join(f"echo '>>> {n}'\n{c}\n" for n, c in enumerate(run))
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=demo.home.parent.parent,  # the checkout's root
        env=_user_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = dict(zip(run, done.stdout.split(">>> ")[1:], strict=True))
    status = next(out for cmd, out in said.items() if "ttsops status" in cmd)
    assert "1.0.0" in status and "(ready)" in status
    history = next(out for cmd, out in said.items() if "ttsops history" in cmd)
    assert "blue-green" in history and "live" in history
    shown = next(out for cmd, out in said.items() if "ttsops show 1.0.0" in cmd)
    assert "Deployments" in shown
    with wave.open(str(demo.home.parent.parent / "hello.wav")) as audio:
        assert audio.getnframes() / audio.getframerate() > 0.3
    # The printed API docs address, through the router (the slots here run without the UI).
    assert f"API docs: {demo.public_url}/docs" in next_steps("1.0.0", demo.url, demo.public_url)
    assert httpx.get(f"{demo.public_url}/docs", timeout=30).status_code == 200


def test_status_without_a_token_says_where_it_looked(tmp_path: Path) -> None:
    """No TTSOPS_TOKEN and no token file: exit 1 naming the file and how to fix it, not a 401."""
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "status"],
        cwd=tmp_path,
        env=_user_env(TTSOPS_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert str(tmp_path / "home" / "agent" / "token") in done.stderr
    assert "TTSOPS_HOME" in done.stderr and "401" not in done.stderr
