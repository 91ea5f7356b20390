"""The dashboard's "now": the live version, slots, readiness, patrol and the canary in flight.

Built from the agent's own state (its ``status``, the persisted rollout) and the ledger's
events — the dashboard keeps nothing of its own, so what it shows is what the agent and
``ttsops status``/``history`` see.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from statistics import fmean
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ttsops.registry import EventKind, EventRecord
from ttsops.rollout.state import PHASE_EVENT, Phase, Rollout

if TYPE_CHECKING:
    from ttsops.rollout.agent import Agent

__all__ = [
    "ActiveNow",
    "CanaryNow",
    "LiveNow",
    "NowView",
    "PatrolNow",
    "SideNow",
    "SlotNow",
    "WeightPoint",
    "WindowNow",
    "build_now",
]

_PATIENCE = 3
"""As ``rollout.canary``: a window short of data stays open up to this many intervals."""


class LiveNow(BaseModel):
    """The version that takes the traffic."""

    version: str | None
    """Live version; None when nothing is live."""
    ref: str | None = None
    """``name@version`` of its bundle."""
    digest: str | None = None
    """Bundle digest."""
    git_sha: str | None = None
    """Commit it was built from."""
    since: datetime | None = None
    """When its deployment went live."""
    deployment: int | None = None
    """Id of that deployment."""
    parent: str | None = None
    """What the bundle was derived from, if it was."""
    runtime: str = "process"
    """``process`` (``ttsops serve``) or ``container``."""
    images: list[str] = Field(default_factory=list)
    """Images built of the version (``ttsops image build``), newest first."""


class SlotNow(BaseModel):
    """One slot and its share of traffic."""

    slot: str
    version: str
    state: str
    """``starting``, ``ready``, ``failed`` or ``exited``."""
    weight: int
    """Router weight (%); 0 when out of the router."""
    backup: bool
    """Only used when the live slot fails."""
    port: int | None
    pid: int | None
    container: str | None
    detail: str
    kind: str = "bundle"
    """``bundle`` (ttsops serve of model files) or ``service`` (a team's own server)."""
    runs: str | None = None
    """For a service slot: its command line or image."""


class PatrolNow(BaseModel):
    """The patrol's latest probes through the router."""

    enabled: bool
    checks: int = 0
    """Probes run since the agent started."""
    consecutive_failures: int = 0
    last_reason: str | None = None
    """Why the latest probe failed; None when it passed."""
    last_check_at: datetime | None = None
    last_ok_at: datetime | None = None
    alarms: int = 0
    recent_alerts: list[str] = Field(default_factory=list)
    """The newest alert events' messages."""


class SideNow(BaseModel):
    """One slot's numbers in one analysis window."""

    requests: int
    errors: int
    error_rate: float | None
    """Share of requests that failed."""
    p95_s: float | None
    """Latency p95 of the probes (s)."""
    ovrl: float | None
    """Mean DNSMOS OVRL of the scored probes."""
    scored: int
    """Probes scored with DNSMOS."""


class WindowNow(BaseModel):
    """One judged analysis window (a ``canary.analysis`` event)."""

    at: datetime
    weight: int | None
    """The canary's share during the window (100 in the watch window)."""
    outcome: str
    """pass, fail, inconclusive or error."""
    action: str
    """What was decided: advance, hold or rollback."""
    reason: str
    canary: SideNow | None
    stable: SideNow | None


class WeightPoint(BaseModel):
    """The canary's share from a moment on."""

    at: datetime
    weight: int


class CanaryNow(BaseModel):
    """The canary in flight: its step, weight, windows and what is decided next."""

    step: int
    """1-based step in progress."""
    steps: list[int]
    weight: int
    """The new version's share now (%)."""
    window_started_at: datetime | None
    window_closes_at: datetime | None
    """When the open window is judged (later when it is short of data)."""
    next_decision: str
    """What is decided next, and when, in words."""
    windows: list[WindowNow]
    """Judged windows, oldest first."""
    weights: list[WeightPoint]
    """The weight over time, oldest first."""


class ActiveNow(BaseModel):
    """The deployment in flight."""

    id: int
    version: str
    strategy: str
    phase: str
    reason: str | None
    old_version: str | None
    actor: str | None
    """Who asked for it."""
    created_at: datetime
    can_abort: bool
    can_promote: bool
    """A canary in its steps or watch window."""


class NowView(BaseModel):
    """``GET /dashboard/api/now``: everything the live page shows."""

    at: datetime
    live: LiveNow
    public_url: str
    public_ready: bool
    """``/readyz`` through the router answers 200."""
    slots: list[SlotNow]
    patrol: PatrolNow
    active: ActiveNow | None
    canary: CanaryNow | None
    last_event_id: int
    """Newest event id in the ledger: changes whenever anything happened."""


def build_now(agent: Agent) -> NowView:
    """The live page's data from ``agent``'s state and the ledger."""
    status = agent.status()
    ledger = agent.ledger
    version = status["live_version"]
    record = ledger.find_version(version) if version else None
    live = LiveNow(
        version=version,
        ref=f"{record.name}@{record.version}" if record else None,
        digest=status["digest"],
        git_sha=status["git_sha"],
        since=status["live_since"],
        deployment=status["live_deployment"],
        parent=record.parent if record else None,
        runtime=agent.settings.agent.runtime,
        images=[i.reference for i in ledger.images(version)] if version else [],
    )
    events = ledger.list_events(limit=50)
    active = None
    canary = None
    if status["active_deployment"] is not None:
        rollout = agent.rollout(status["active_deployment"])
        deployment_events = ledger.list_events(deployment_id=rollout.id, limit=500)
        active = _active(rollout, deployment_events, agent)
        canary = _canary(rollout, deployment_events, agent.settings.canary.step_interval_s)
    return NowView(
        at=datetime.now(UTC),
        live=live,
        public_url=status["public_url"],
        public_ready=status["public_ready"],
        slots=[SlotNow(**{k: s[k] for k in SlotNow.model_fields}) for s in status["slots"]],
        patrol=_patrol(status["patrol"], events),
        active=active,
        canary=canary,
        last_event_id=events[0].id if events else 0,
    )


def _active(rollout: Rollout, events: list[EventRecord], agent: Agent) -> ActiveNow:
    record = agent.ledger.get_deployment(rollout.id)
    assert record is not None
    created = next((e for e in events if e.kind == EventKind.DEPLOYMENT_CREATED), None)
    return ActiveNow(
        id=rollout.id,
        version=rollout.version,
        strategy=rollout.strategy,
        phase=rollout.phase.value,
        reason=rollout.reason,
        old_version=rollout.old_version,
        actor=created.actor if created else None,
        created_at=record.created_at,
        can_abort=rollout.phase not in (Phase.DRAINING,) and not rollout.phase.terminal,
        can_promote=rollout.phase in (Phase.CANARY, Phase.WATCHING),
    )


def _canary(rollout: Rollout, events: list[EventRecord], interval_s: float) -> CanaryNow | None:
    if rollout.steps is None or rollout.weight is None:
        return None
    oldest_first = list(reversed(events))
    windows = [_window(e) for e in oldest_first if e.kind == EventKind.CANARY_ANALYSIS]
    weights: list[WeightPoint] = []
    for e in oldest_first:
        if e.kind != PHASE_EVENT or e.data.get("phase") not in ("canary", "watching"):
            continue
        weight = Rollout.from_data(e.data).weight
        if weight is not None and (not weights or weights[-1].weight != weight):
            weights.append(WeightPoint(at=e.at, weight=weight))
    opened = rollout.window_started_at
    closes = opened + interval_s if opened is not None else None
    return CanaryNow(
        step=min(rollout.step + 1, len(rollout.steps)),
        steps=list(rollout.steps),
        weight=rollout.weight,
        window_started_at=_when(opened),
        window_closes_at=_when(closes),
        next_decision=_next_decision(rollout, closes, interval_s, windows),
        windows=windows,
        weights=weights,
    )


def _next_decision(
    rollout: Rollout, closes: float | None, interval_s: float, windows: list[WindowNow]
) -> str:
    assert rollout.steps is not None
    left = max(0.0, closes - time.time()) if closes is not None else None
    when = f"in {left:.0f} s" if left is not None and left >= 1 else "now (once enough data)"
    if rollout.phase is Phase.WATCHING:
        what = (
            "watch window at 100%: judged against the stable slot's last window "
            f"{when}; a regression still rolls back, a pass makes it live"
        )
    else:
        total = len(rollout.steps)
        nxt = (
            f"step {rollout.step + 2} ({rollout.steps[rollout.step + 1]}%)"
            if rollout.step + 1 < total
            else "promotion"
        )
        what = (
            f"step {rollout.step + 1} of {total} at {rollout.weight}%: the window is judged "
            f"{when} (error rate, p95, DNSMOS of both slots; short of data it stays open up "
            f"to {_PATIENCE * interval_s:g} s); a pass moves to {nxt}"
        )
    last = windows[-1] if windows else None
    if last is not None:
        what += f". Last decision: {last.action} — {last.reason}"
    return what


def _window(event: EventRecord) -> WindowNow:
    data = event.data
    verdict = data.get("verdict") or {}
    return WindowNow(
        at=event.at,
        weight=data.get("weight") if data.get("phase") != "watching" else 100,
        outcome=str(verdict.get("outcome", "error")),
        action=str(data.get("action", "")),
        reason=str(data.get("reason", "")),
        canary=_side(data.get("canary")),
        stable=_side(data.get("stable")),
    )


def _side(data: dict[str, Any] | None) -> SideNow | None:
    if not data:
        return None
    requests, errors = int(data.get("requests", 0)), int(data.get("errors", 0))
    ovrl = [float(v) for v in data.get("ovrl", ())]
    return SideNow(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        p95_s=data.get("p95_s"),
        ovrl=fmean(ovrl) if ovrl else None,
        scored=len(ovrl),
    )


def _patrol(state: dict[str, Any] | None, events: list[EventRecord]) -> PatrolNow:
    alerts = [e.message for e in events if e.kind == EventKind.ALERT][:5]
    if state is None:
        return PatrolNow(enabled=False, recent_alerts=alerts)
    return PatrolNow(
        enabled=True,
        checks=state["checks"],
        consecutive_failures=state["consecutive_failures"],
        last_reason=state["last_reason"],
        last_check_at=_when(state["last_check_at"]),
        last_ok_at=_when(state["last_ok_at"]),
        alarms=state["alarms"],
        recent_alerts=alerts,
    )


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)
