"""The agent's Prometheus metrics: what the dashboard and the alert rules read from it.

``GET /metrics`` is read at scrape time from the agent's own state — the router's routes,
the slots, the deployment in flight, the patrol — and from the ledger's events, so the
counters (analyses, rollbacks, alerts) carry on across agent restarts instead of starting
at zero. ``GET /metrics/targets`` lists the slots for Prometheus' HTTP service discovery:
their ports change at every deployment.

Neither route asks for the bearer token, so a Prometheus on the host can scrape them
without a secret: they reveal versions, weights and counts, never tokens or audio. The
agent listens on 127.0.0.1 by default; put it behind the host's firewall if it does not.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import BaseModel

from ttsops import __version__
from ttsops.registry import EventKind, EventRecord, Ledger
from ttsops.rollout.state import Phase, load
from ttsops.server.contract import error_responses

if TYPE_CHECKING:
    from ttsops.rollout.agent import Agent

__all__ = [
    "ROLLBACK_TRIGGERS",
    "AgentCollector",
    "EventTally",
    "TargetGroup",
    "metrics_router",
    "slot_targets",
]

ROLLBACK_TRIGGERS = ("deployment", "patrol", "manual")
"""``trigger`` of ``ttsops_agent_rollbacks_total``: the agent rolled back a deployment in
flight (a failed canary analysis, a slot that never got ready); the patrol healed by
rolling back; a person or CI asked (``ttsops rollback``)."""

_OUTCOMES = ("pass", "fail", "inconclusive", "error")
_ALERT_KINDS = ("deployment.rolled_back", "deployment.failed", "patrol.failed")
_PAGE = 500


class EventTally:
    """Counts of the ledger's events that matter to monitoring, read incrementally."""

    def __init__(self) -> None:
        self.cursor = 0
        """Id of the newest event counted."""
        self.analyses: Counter[str] = Counter(dict.fromkeys(_OUTCOMES, 0))
        self.checks: Counter[tuple[str, str]] = Counter()
        self.rollbacks: Counter[str] = Counter(dict.fromkeys(ROLLBACK_TRIGGERS, 0))
        self.alerts: Counter[str] = Counter(dict.fromkeys(_ALERT_KINDS, 0))
        self._lock = threading.Lock()

    def update(self, ledger: Ledger) -> None:
        """Count the events added since the last update (all of them, the first time)."""
        with self._lock:
            limit = _PAGE
            while True:
                batch = ledger.list_events(limit=limit)
                fresh = [e for e in batch if e.id > self.cursor]
                if len(fresh) < len(batch) or len(batch) < limit:
                    break
                limit *= 4  # every event of the page is new: look further back
            for event in sorted(fresh, key=lambda e: e.id):
                self._count(event)
                self.cursor = event.id

    def _count(self, event: EventRecord) -> None:
        data = event.data or {}
        if event.kind == EventKind.CANARY_ANALYSIS:
            verdict = data.get("verdict") or {}
            self.analyses[str(verdict.get("outcome", "error"))] += 1
            for check in verdict.get("checks") or []:
                self.checks[(str(check.get("name")), str(check.get("outcome")))] += 1
        elif event.kind == EventKind.ALERT:
            kind = str(data.get("kind", ""))
            self.alerts[kind] += 1
            if kind == "deployment.rolled_back":
                self.rollbacks["deployment"] += 1
            heal = str((data.get("details") or {}).get("heal", ""))
            if kind == "patrol.failed" and heal.startswith("rollback"):
                self.rollbacks["patrol"] += 1
        elif event.kind == EventKind.DEPLOYMENT_CREATED:
            if data.get("strategy") == "rollback" and event.actor != "patrol":
                self.rollbacks["manual"] += 1


class AgentCollector:
    """A ``prometheus_client`` collector over one agent, read at each scrape."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.tally = EventTally()

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: ``collect`` reads the ledger, so registering must not."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, from the agent's state now and the ledger's events."""
        agent = self.agent
        self.tally.update(agent.ledger)
        info = GaugeMetricFamily(
            "ttsops_agent_info",
            "The agent, labelled with its ttsops version.",
            labels=["ttsops_version"],
        )
        info.add_metric([__version__], 1)
        yield info
        yield from self._live()
        yield from self._deployment()
        yield from self._slots()
        yield from self._patrol()
        yield from self._counters()

    def _live(self) -> Iterator[Metric]:
        route = self.agent.controller.live_route()
        live = GaugeMetricFamily(
            "ttsops_agent_live_version_info",
            "1 for the version that takes the live traffic (absent when none is live).",
            labels=["version", "digest", "git_sha"],
        )
        if route is not None:
            record = self.agent.ledger.find_version(route.version)
            digest = record.digest if record else ""
            live.add_metric([route.version, digest, (record.git_sha or "") if record else ""], 1)
        yield live

    def _deployment(self) -> Iterator[Metric]:
        records = self.agent.ledger.list_deployments(limit=1)
        phase = GaugeMetricFamily(
            "ttsops_agent_deployment_phase",
            "The newest deployment's phase: 1 for the phase it is in, 0 for the others.",
            labels=["deployment", "version", "strategy", "phase"],
        )
        active = GaugeMetricFamily(
            "ttsops_agent_deployment_active", "1 while a deployment is in flight."
        )
        weight = GaugeMetricFamily(
            "ttsops_agent_canary_weight",
            "The share (%) of new requests the canary in flight takes; 0 when none.",
        )
        rollout = load(self.agent.ledger, records[0]) if records else None
        if rollout is not None:
            labels = [str(rollout.id), rollout.version, rollout.strategy]
            for each in Phase:
                phase.add_metric([*labels, each.value], 1 if each is rollout.phase else 0)
        in_flight = rollout is not None and not rollout.phase.terminal
        active.add_metric([], 1 if in_flight else 0)
        weight.add_metric([], (rollout.weight or 0) if rollout is not None and in_flight else 0)
        yield from (phase, active, weight)

    def _slots(self) -> Iterator[Metric]:
        share = GaugeMetricFamily(
            "ttsops_agent_slot_weight",
            "The router's share (%) of new requests to each slot (0 for a backup).",
            labels=["slot", "version"],
        )
        ready = GaugeMetricFamily(
            "ttsops_agent_slot_ready",
            "1 when the slot answers /readyz with 200, else 0 (starting, failed, exited).",
            labels=["slot", "version", "state"],
        )
        for view in self.agent.slot_views():
            share.add_metric([view.slot, view.version], view.weight)
            ready.add_metric(
                [view.slot, view.version, view.state], 1 if view.state == "ready" else 0
            )
        yield from (share, ready)

    def _patrol(self) -> Iterator[Metric]:
        patrol = self.agent.patrol
        enabled = GaugeMetricFamily(
            "ttsops_agent_patrol_enabled", "1 when the patrol probes the service."
        )
        enabled.add_metric([], 1 if patrol is not None else 0)
        yield enabled
        if patrol is None:
            return
        state = patrol.state
        checks = CounterMetricFamily(
            "ttsops_agent_patrol_checks", "Patrol probes run since the agent started."
        )
        checks.add_metric([], state.checks)
        alarms = CounterMetricFamily(
            "ttsops_agent_patrol_alarms", "Patrol alarms (failing streaks) since the agent started."
        )
        alarms.add_metric([], state.alarms)
        streak = GaugeMetricFamily(
            "ttsops_agent_patrol_consecutive_failures",
            "Failed patrol probes in a row, now; 0 after a passing one.",
        )
        streak.add_metric([], state.consecutive_failures)
        yield from (checks, alarms, streak)
        for name, at, what in (
            ("last_check", state.last_check_at, "the latest patrol probe finished"),
            ("last_success", state.last_ok_at, "a patrol probe last passed"),
        ):
            if at is not None:
                family = GaugeMetricFamily(
                    f"ttsops_agent_patrol_{name}_timestamp_seconds", f"When {what}."
                )
                family.add_metric([], at)
                yield family

    def _counters(self) -> Iterator[Metric]:
        tally = self.tally
        analyses = CounterMetricFamily(
            "ttsops_agent_canary_analyses",
            "Canary analysis windows by verdict (pass, fail, inconclusive, error).",
            labels=["outcome"],
        )
        for outcome, n in sorted(tally.analyses.items()):
            analyses.add_metric([outcome], n)
        checks = CounterMetricFamily(
            "ttsops_agent_canary_checks",
            "Canary checks (error_rate, latency_p95, audio_quality) by outcome.",
            labels=["check", "outcome"],
        )
        for (name, outcome), n in sorted(tally.checks.items()):
            checks.add_metric([name, outcome], n)
        rollbacks = CounterMetricFamily(
            "ttsops_agent_rollbacks",
            "Rollbacks by trigger: deployment (the agent rolled a deployment back by itself), "
            "patrol (healing), manual (`ttsops rollback`).",
            labels=["trigger"],
        )
        for trigger, n in sorted(tally.rollbacks.items()):
            rollbacks.add_metric([trigger], n)
        alerts = CounterMetricFamily(
            "ttsops_agent_alerts", "Alerts the agent raised, by kind.", labels=["kind"]
        )
        for kind, n in sorted(tally.alerts.items()):
            alerts.add_metric([kind], n)
        yield from (analyses, checks, rollbacks, alerts)


class TargetGroup(BaseModel):
    """One entry of Prometheus HTTP service discovery: a slot to scrape."""

    targets: list[str]
    """``127.0.0.1:PORT`` of the slot's ``ttsops serve``."""

    labels: dict[str, str]
    """``slot`` and ``version``, added to every series scraped from it."""


def slot_targets(agent: Agent) -> list[TargetGroup]:
    """The slots with a port, as Prometheus HTTP service discovery lists targets."""
    return [
        TargetGroup(
            targets=[f"127.0.0.1:{view.port}"],
            labels={"slot": view.slot, "version": view.version},
        )
        for view in agent.slot_views()
        if view.port is not None and view.state != "exited"
    ]


def metrics_router(agent: Agent) -> APIRouter:
    """``GET /metrics`` and ``GET /metrics/targets`` of ``agent``; no token needed (see above)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent))
    router = APIRouter(tags=["monitoring"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text exposition format; no token needed.",
            },
            **error_responses(405, 500, 503),
        },
    )
    async def metrics() -> Response:
        """Deployment phase, canary weight, slots, analyses, rollbacks, patrol (no auth)."""
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/metrics/targets",
        summary="Slots to scrape (Prometheus HTTP service discovery)",
        responses=error_responses(405, 500, 503),
    )
    async def targets() -> list[TargetGroup]:
        """``[{"targets": ["127.0.0.1:PORT"], "labels": {"slot", "version"}}]`` (no auth)."""
        return await asyncio.to_thread(slot_targets, agent)

    return router
