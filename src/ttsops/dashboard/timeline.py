"""The dashboard's history: every release, deployment and rollback on one timeline.

Read from the ledger only (deployments, their ``deployment.created`` events, ``release``
events and gate reports), the same records ``ttsops history`` prints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from ttsops.registry import (
    DeploymentRecord,
    DeploymentState,
    EventKind,
    EventRecord,
    GateReportRecord,
    Ledger,
)

__all__ = ["HistoryView", "TimelineItem", "build_history"]

_ENDS = frozenset(s.value for s in DeploymentState if s.terminal)
"""Deployment states that end a deployment."""


class TimelineItem(BaseModel):
    """One thing that happened to a version."""

    kind: str
    """``release``, ``deployment``, ``rollback`` or ``gate``."""
    at: datetime
    """When it started."""
    version: str
    title: str
    """One line: what it was."""
    actor: str | None
    """Who asked for it."""
    reason: str | None
    """Why it was asked for, or why it ended as it did."""
    outcome: str
    """live, rolled_back, failed, aborted, progressing…; a gate's verdict; a release's outcome."""
    duration_s: float | None
    """Seconds from start to end; None while in flight."""
    deployment: int | None = None
    """Deployment id, for deployments and rollbacks (and a release's deployment)."""
    gate_report: int | None = None
    """Id of the gate report that judged the version (open it at ``gate/<id>``)."""


class HistoryView(BaseModel):
    """``GET /dashboard/api/history``: the timeline, newest first."""

    version: str | None
    """The version filter, if any."""
    versions: list[str]
    """Every registered version, newest first (the filter's choices)."""
    items: list[TimelineItem] = Field(default_factory=list)


def build_history(ledger: Ledger, version: str | None = None, limit: int = 200) -> HistoryView:
    """The timeline of ``version`` (default every version), newest first."""
    deployments = ledger.list_deployments(version=version, limit=limit)
    events = ledger.list_events(version=version, limit=20 * limit)
    reports = ledger.gate_reports(version)
    created = {
        e.deployment_id: e
        for e in events
        if e.kind == EventKind.DEPLOYMENT_CREATED and e.deployment_id is not None
    }
    ends: dict[int, EventRecord] = {}
    for e in events:  # newest first: the oldest terminal state event of each deployment wins
        if e.kind == EventKind.DEPLOYMENT_STATE and e.data.get("to") in _ENDS:
            ends[e.deployment_id or 0] = e
    items = [_deployment(d, created.get(d.id), ends.get(d.id), reports) for d in deployments]
    items += [_release(e) for e in events if e.kind == EventKind.RELEASE]
    items += [_gate(r, events) for r in reports[:limit]]
    items.sort(key=lambda item: item.at, reverse=True)
    return HistoryView(
        version=version,
        versions=[v.version for v in ledger.list_versions()],
        items=items[:limit],
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _report_for(version: str, at: datetime, reports: list[GateReportRecord]) -> int | None:
    """The newest gate report of ``version`` made before ``at`` (reports are newest first)."""
    return next(
        (r.id for r in reports if r.version == version and _aware(r.created_at) <= _aware(at)),
        None,
    )


def _deployment(
    d: DeploymentRecord,
    created: EventRecord | None,
    ended: EventRecord | None,
    reports: list[GateReportRecord],
) -> TimelineItem:
    """A deployment; its duration runs to its first end (a later rollback retires it)."""
    start = _aware(d.created_at)
    end = _aware(ended.at) if ended else (_aware(d.finished_at) if d.finished_at else None)
    asked = created.data.get("reason") if created else None
    first = ended.data.get("reason") if ended else None
    reason = d.reason or asked
    if first and ended and ended.data.get("to") != d.state.value:
        reason = f"{ended.data.get('to')}: {first}; then {d.state.value}: {d.reason}"
    rollback = d.strategy == "rollback"
    return TimelineItem(
        kind="rollback" if rollback else "deployment",
        at=start,
        version=d.version,
        title=f"#{d.id} {'rollback to' if rollback else 'deploy'} {d.version} ({d.strategy})",
        actor=created.actor if created else None,
        reason=reason,
        outcome=d.state.value,
        duration_s=(end - start).total_seconds() if end else None,
        deployment=d.id,
        gate_report=_report_for(d.version, start, reports),
    )


def _release(e: EventRecord) -> TimelineItem:
    data: dict[str, Any] = e.data
    gate = data.get("gate") or {}
    timings = data.get("timings") or {}
    total = timings.get("total")
    return TimelineItem(
        kind="release",
        at=_aware(e.at),
        version=e.version or str(data.get("version", "")),
        title=f"release {data.get('version', e.version)} to {data.get('target', '?')}"
        + (f" (gate {gate['verdict']})" if gate.get("verdict") else ""),
        actor=e.actor,
        reason=data.get("reason") or e.message,
        outcome=str(data.get("outcome", "")),
        duration_s=float(total) if total is not None else None,
        deployment=e.deployment_id,
        gate_report=gate.get("report_id"),
    )


def _gate(r: GateReportRecord, events: list[EventRecord]) -> TimelineItem:
    reported = next(
        (
            e
            for e in events
            if e.kind == EventKind.GATE_REPORTED and e.data.get("report_id") == r.id
        ),
        None,
    )
    verdict = r.summary.get("verdict") or {}
    reasons = verdict.get("reasons") or ([r.summary["error"]] if "error" in r.summary else [])
    wall = (r.summary.get("timing") or {}).get("wall_s")
    return TimelineItem(
        kind="gate",
        at=_aware(r.created_at),
        version=r.version,
        title=f"gate {r.version}" + (f" vs {r.baseline}" if r.baseline else ""),
        actor=reported.actor if reported else None,
        reason="; ".join(str(x) for x in reasons) or None,
        outcome=r.verdict.value,
        duration_s=float(wall) if wall is not None else None,
        gate_report=r.id,
    )
