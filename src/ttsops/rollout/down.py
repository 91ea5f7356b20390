"""Stopping a host: the agent, its slots (processes or containers) and its router, drained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ttsops.errors import ContainerError
from ttsops.rollout.procs import alive, read_pid, stop_pid
from ttsops.rollout.runtime import SLOT_NAMES, SlotRuntime
from ttsops.rollout.runtime_nginx import NginxRouter
from ttsops.settings import Settings

__all__ = ["Stopped", "stop_host"]


@dataclass(frozen=True)
class Stopped:
    """One thing ``stop_host`` stopped."""

    what: str
    """``agent``, ``slot`` or ``router``."""

    name: str
    """The slot's name, ``nginx`` or ``agent``."""

    detail: str
    """PID, version, container id: what a user checks."""


def stop_host(settings: Settings, state_dir: Path) -> list[Stopped]:
    """Stop the agent of ``state_dir`` first (so it heals nothing), then drain the slots, then
    the router; what was stopped, in that order."""
    done: list[Stopped] = []
    agent_pid = read_pid(state_dir / "agent.lock")
    if agent_pid is not None and alive(agent_pid, "ttsops agent"):
        stop_pid(agent_pid, "ttsops agent", grace_s=20)
        done.append(Stopped("agent", "agent", f"pid {agent_pid}"))
    drain = settings.agent.drain_timeout_s
    processes = SlotRuntime(state_dir, _no_fetch, drain_timeout_s=drain, probe=False)
    for slot in SLOT_NAMES:
        info = processes.status(slot)
        if info is not None and info.pid is not None:
            processes.stop(slot)
            done.append(Stopped("slot", slot, f"{info.version}, process pid {info.pid}"))
    done += _stop_containers(settings, state_dir)
    if read_pid(state_dir / "nginx" / "nginx.pid") is not None:  # else nginx may not exist
        router = NginxRouter(state_dir, public_port=settings.agent.public_port)
        nginx_pid = router.pid()
        if nginx_pid is not None:
            router.stop()
            done.append(Stopped("router", "nginx", f"pid {nginx_pid}"))
    return done


def _no_fetch(version: str) -> Path:
    raise AssertionError("stopping never fetches")


def _stop_containers(settings: Settings, state_dir: Path) -> list[Stopped]:
    from ttsops.containers import find_engine
    from ttsops.containers.slots import OWNER_LABEL, SLOT_LABEL, slot_log, slot_owner

    try:
        engine = find_engine()
    except ContainerError:
        if settings.agent.runtime == "container":
            raise
        return []
    found = engine.run(
        "ps", "-aq", "--no-trunc", "--filter", f"label={OWNER_LABEL}={slot_owner(state_dir)}"
    )
    done = []
    for cid in found.stdout.split():
        labels = engine.run("inspect", "--format", "{{json .Config.Labels}}", cid).stdout
        slot = _label(labels, SLOT_LABEL)
        version = _label(labels, "io.ttsops.version")
        engine.run("stop", "-t", str(int(settings.agent.drain_timeout_s + 5)), cid, check=False)
        if slot in SLOT_NAMES:  # kept where `ttsops logs` finds a removed container's log
            kept = slot_log(state_dir, slot)
            kept.parent.mkdir(parents=True, exist_ok=True)
            said = engine.run("logs", cid, check=False)  # its stdout, then its stderr
            kept.write_text(said.stdout + said.stderr, encoding="utf-8")
        engine.run("rm", "-f", cid, check=False)
        done.append(Stopped("slot", slot, f"{version}, container {cid[:12]}"))
    return done


def _label(labels_json: str, key: str) -> str:
    import json

    try:
        value = json.loads(labels_json or "{}").get(key)
    except ValueError:
        return "?"
    return str(value) if value else "?"
