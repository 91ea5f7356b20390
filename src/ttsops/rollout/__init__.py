"""Rollout: the agent that deploys versions on a host behind nginx, with instant rollback."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PHASE_EVENT",
    "SLOT_NAMES",
    "STRATEGIES",
    "TRANSITIONS",
    "Agent",
    "AgentClient",
    "Alert",
    "Controller",
    "NginxRouter",
    "Patrol",
    "PatrolState",
    "Phase",
    "Rollout",
    "Route",
    "Router",
    "SlotInfo",
    "SlotRuntime",
    "Slots",
    "agent_token",
    "find_nginx",
    "heal_action",
    "load",
    "probe_speech",
    "render_nginx",
    "send_webhook",
    "start",
    "transition",
]

# Names load on first use, so the CLI's client commands (and `ttsops --help`) do not import
# the agent's FastAPI app, SQLAlchemy and the controller.
_HOME = {
    "Agent": "agent",
    "agent_token": "agent",
    "Alert": "alerts",
    "send_webhook": "alerts",
    "AgentClient": "client",
    "STRATEGIES": "controller",
    "Controller": "controller",
    "Slots": "controller",
    "Patrol": "patrol",
    "PatrolState": "patrol",
    "heal_action": "patrol",
    "probe_speech": "patrol",
    "Route": "router",
    "Router": "router",
    "render_nginx": "router_nginx",
    "SLOT_NAMES": "runtime",
    "SlotInfo": "runtime",
    "SlotRuntime": "runtime",
    "NginxRouter": "runtime_nginx",
    "find_nginx": "runtime_nginx",
    "PHASE_EVENT": "state",
    "TRANSITIONS": "state",
    "Phase": "state",
    "Rollout": "state",
    "load": "state",
    "start": "state",
    "transition": "state",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'ttsops.rollout' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ttsops.rollout.{module}"), name)
