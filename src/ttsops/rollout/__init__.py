"""Rollout: the agent that deploys versions on a host behind nginx, with instant rollback."""

from __future__ import annotations

from ttsops.rollout.agent import Agent, agent_token
from ttsops.rollout.client import AgentClient
from ttsops.rollout.controller import STRATEGIES, Controller, Slots
from ttsops.rollout.router import Route, Router
from ttsops.rollout.router_nginx import render_nginx
from ttsops.rollout.runtime import SLOT_NAMES, SlotInfo, SlotRuntime
from ttsops.rollout.runtime_nginx import NginxRouter, find_nginx
from ttsops.rollout.state import (
    PHASE_EVENT,
    TRANSITIONS,
    Phase,
    Rollout,
    load,
    start,
    transition,
)

__all__ = [
    "PHASE_EVENT",
    "SLOT_NAMES",
    "STRATEGIES",
    "TRANSITIONS",
    "Agent",
    "AgentClient",
    "Controller",
    "NginxRouter",
    "Phase",
    "Rollout",
    "Route",
    "Router",
    "SlotInfo",
    "SlotRuntime",
    "Slots",
    "agent_token",
    "find_nginx",
    "load",
    "render_nginx",
    "start",
    "transition",
]
