"""Helpers of the container tests: the engine found here, `ttsops` runs, image builds, agents.

The images are cached by the engine (base image and wheels keyed by their recipe), so only
the first run on a machine builds them; the tests share the tags below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ttsops.containers import ContainerEngine, find_engine
from ttsops.errors import ContainerError

__all__ = [
    "BAKED",
    "ENGINE",
    "STORE",
    "WHY",
    "build",
    "close_agent",
    "container_agent",
    "container_marks",
    "deploy",
    "owned",
    "readable",
    "speak",
    "ttsops",
]

BAKED = "localhost/ttsops-test-joe:1.0.0"
"""joe 1.0.0 with the model baked in."""

STORE = "localhost/ttsops-test-joe-store:1.0.0"
"""A store image of joe 1.0.0 (the model fetched at start)."""


def _engine_or_reason() -> tuple[ContainerEngine | None, str]:
    try:
        engine = find_engine()
    except ContainerError as exc:
        return None, exc.message
    if engine.kind == "podman" and os.geteuid() != 0:
        return None, "podman here is set up rootful only: run the container tests as root"
    return engine, ""


ENGINE, WHY = _engine_or_reason()
"""The engine the tests drive (podman with ttsops' private config here), or why there is none."""


def container_marks() -> list[pytest.MarkDecorator]:
    """The marks of every container test module."""
    return [
        pytest.mark.container,
        pytest.mark.slow,
        pytest.mark.timeout(900),  # the first run on a machine builds the base image and wheels
        pytest.mark.skipif(ENGINE is None, reason=f"no container engine: {WHY}"),
    ]


def ttsops(
    *args: str, home: Path, timeout: float = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ttsops ARGS`` with its registry under ``home``."""
    keep = ("TTSOPS_CONTAINERS_DIR",)  # where the engine's caches are: the tests' too
    env = {
        k: v for k, v in os.environ.items() if k in keep or not k.startswith(("TTSOPS_", "AWS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=home,
        env={**env, "TTSOPS_HOME": str(home), "COLUMNS": "200", **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def readable(path: Path) -> None:
    """Make a tree readable by the containers' non-root user."""
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | (0o555 if p.is_dir() else 0o444))


def build(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """``ttsops image build ARGS --json`` in ``home``: its answer."""
    started = time.monotonic()
    done = ttsops("image", "build", *args, "--json", home=home, extra_env=extra_env)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    print(f"\nimage build {args}: {time.monotonic() - started:.1f} s")
    return result


def speak(url: str) -> httpx.Response:
    """One WAV synthesis at ``url``."""
    body = {"model": "tts-1", "input": "Hello from a container.", "voice": "alloy"}
    return httpx.post(f"{url}/v1/audio/speech", json={**body, "response_format": "wav"}, timeout=60)


def container_agent(
    home: Path,
    joe_bundle: Path,
    extra_toml: str = "",
    *,
    image: str = BAKED,
    model: str = "baked",
    env: dict[str, str] | None = None,
) -> Any:
    """An agent (not started) over joe 1.0.0 and its image, slots as containers."""
    from agent_fixtures import AgentProcess

    home.mkdir()
    done = ttsops("register", str(joe_bundle), "--version", "1.0.0", home=home, extra_env=env)
    assert done.returncode == 0, done.stderr
    built = build(home, "1.0.0", "--tag", image, "--model", model, extra_env=env)
    (home / "ttsops.toml").write_text(
        '[agent]\nruntime = "container"\ndrain_timeout_s = 10\nstart_timeout_s = 600\n\n'
        '[agent.container]\nmemory = "1g"\n' + extra_toml
    )
    agent = AgentProcess(home)
    agent.env.update(env or {})
    agent.image_id = built["id"]
    return agent


def owned(engine: ContainerEngine, agent: Any, *, running: bool = False) -> list[str]:
    """Ids of the containers the agent's state dir owns."""
    from ttsops.containers.slots import OWNER_LABEL, slot_owner

    args = ["ps", "-q", "--no-trunc", "--filter"]
    args.append(f"label={OWNER_LABEL}={slot_owner(agent.state_dir)}")
    done = engine.run(*args) if running else engine.run(*args[:1], "-a", *args[1:])
    return done.stdout.split()


def deploy(agent: Any, version: str = "1.0.0") -> None:
    """``ttsops deploy VERSION --wait`` through the agent; it must go live."""
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "deploy", version, "--wait"],
        env=agent.env,
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + agent.log()[-3000:]


def close_agent(engine: ContainerEngine, agent: Any) -> None:
    """End the agent (and its nginx), then remove every container it owns, by id."""
    agent.close()
    for cid in owned(engine, agent):
        engine.run("rm", "-f", "-t", "10", cid, check=False)
