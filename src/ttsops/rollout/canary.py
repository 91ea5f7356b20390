"""The ``canary`` strategy's steps: shift a share, analyse a window, then advance or roll back.

The controller hands the ``canary`` and ``watching`` phases to ``CanarySteps``. Each tick
it makes sure the router gives the new slot its step's share, that a window of
observation is open for both slots (``Observer``: metrics scrapes plus probe syntheses),
and once the window is ``step_interval_s`` old, closes it, judges it with
``analysis.analyze`` and acts on ``analysis.decide``: next step, repeat the window, or roll
back with the failing numbers in the reason. Every analysis is an event in the ledger.

A window lives only in the observer's memory: an agent killed mid-window opens a new one
when it comes back, so a step may take longer after a restart but is never judged on half
the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from ttsops.errors import RolloutError
from ttsops.registry import EventKind
from ttsops.rollout.analysis import Action, Decision, Tally, Window, analyze, decide
from ttsops.rollout.router import Route
from ttsops.rollout.state import Phase, Rollout
from ttsops.settings import CanarySettings
from ttsops.verdict import Outcome, Verdict

if TYPE_CHECKING:
    from ttsops.rollout.controller import Controller
    from ttsops.rollout.runtime import SlotInfo

__all__ = ["CanarySteps", "Observation", "Observer"]

_PATIENCE = 3
"""A window short of data stays open up to this many step intervals before it is judged."""

_UNANSWERED_LIMIT = 3
"""Readiness checks in a row a live slot may leave unanswered before the canary ends."""


class Observation(Protocol):
    """What an observer saw of both slots over one window."""

    canary: Window | None
    stable: Window | None
    error: str | None


class Observer(Protocol):
    """The seam to what is measured: slot metrics and probe syntheses (``SlotObserver``)."""

    def open(self, key: str, ports: Mapping[str, int]) -> float:
        """Make sure window ``key`` is open on ``ports`` (role → port); when it opened."""
        ...

    def filled(self, key: str) -> bool:
        """True when window ``key`` has enough data to judge."""
        ...

    def close(self, key: str) -> Observation:
        """End window ``key`` and return what both roles did in it."""
        ...


class CanarySteps:
    """Runs the ``canary`` and ``watching`` phases for a ``Controller``."""

    def __init__(
        self,
        controller: Controller,
        observer: Observer,
        policy: CanarySettings,
        clock: Callable[[], float],
    ) -> None:
        """Act through ``controller`` (router, slots, ledger), measure through ``observer``."""
        self.c = controller
        self.observer = observer
        self.policy = policy
        self.clock = clock
        self._misses: dict[tuple[int, str], int] = {}

    def begin(self, r: Rollout) -> Rollout:
        """From ``starting``: the first step, or straight to 100% when nothing is live."""
        if self.c.ready_slot(r.old_slot, r.old_version) is None:
            return self.c.to(
                r,
                Phase.SHIFTING,
                "canary: no stable version serves, so there is nothing to compare with; "
                "switching straight to 100%",
            )
        steps = tuple(self.policy.steps)
        return self.c.to(
            r,
            Phase.CANARY,
            f"canary step 1 of {len(steps)}: {steps[0]}% of traffic",
            steps=steps,
            step=0,
            window_started_at=self.clock(),
            tally=Tally().to_dict(),
        )

    # -- phases -----------------------------------------------------------------------------

    def canary(self, r: Rollout) -> Rollout:
        """One tick of a step: route the share, observe, and judge once the window is full."""
        ports = self._ports(r)
        if isinstance(ports, Rollout):
            return ports
        weight = r.weight or 0
        try:
            self.c.apply(self._routes(r, ports, weight))
        except RolloutError as exc:
            return self.c.to(r, Phase.ROLLING_BACK, exc.message)
        verdict = self._judge(r, ports)
        if verdict is None:
            return r
        decision, stable = verdict
        return self._act(r, decision, stable, ports)

    def watching(self, r: Rollout) -> Rollout:
        """One tick after promotion: keep judging until the watch window has passed."""
        ports = self._ports(r)
        if isinstance(ports, Rollout):
            return ports
        verdict = self._judge(r, ports)
        if verdict is None:
            return r
        decision, _ = verdict
        if decision.action is Action.ROLLBACK:
            return self.c.to(
                r, Phase.ROLLING_BACK, f"after promotion: {decision.reason}", tally=_t(decision)
            )
        assert r.promoted_at is not None
        now = self.clock()
        if decision.action is Action.ADVANCE and now - r.promoted_at >= self.policy.watch_s:
            return self.c.to(
                r,
                Phase.DRAINING,
                f"canary promoted: no regression in the {self.policy.watch_s:g} s watch window",
                tally=_t(decision),
            )
        return self.c.to(r, Phase.WATCHING, tally=_t(decision), window_started_at=now)

    # -- pieces -----------------------------------------------------------------------------

    def _ports(self, r: Rollout) -> dict[str, int] | Rollout:
        """Ports of both slots; the rollout moved to ``rolling_back`` when one is gone, or
        ``r`` unchanged (this tick skipped) while a live slot's check went unanswered.

        A slot that exited or failed ends the canary at once. One that is alive but did not
        answer its readiness check in time (a busy host: a long synthesis, a stalled event
        loop) is given ``_UNANSWERED_LIMIT`` checks in a row before it counts as lost.
        """
        assert r.slot is not None
        new = self.c.slots.status(r.slot)
        if new is None or new.state != "ready" or new.port is None:
            if self._unanswered(r, "canary", new):
                return r
            why = new.detail if new and new.detail else (new.state if new else "not running")
            return self.c.to(
                r, Phase.ROLLING_BACK, f"canary slot {r.slot} ({r.version}) lost readiness: {why}"
            )
        old_info = self.c.slots.status(r.old_slot) if r.old_slot else None
        old = self.c.ready_slot(r.old_slot, r.old_version)
        if old is None or old.port is None:
            same = old_info is not None and old_info.version == r.old_version
            if same and self._unanswered(r, "stable", old_info):
                return r
            return self.c.to(
                r,
                Phase.ROLLING_BACK,
                f"stable slot {r.old_slot} ({r.old_version}) stopped serving during the canary; "
                "restoring it",
            )
        self._misses.pop((r.id, "canary"), None)
        self._misses.pop((r.id, "stable"), None)
        return {"canary": new.port, "stable": old.port}

    def _unanswered(self, r: Rollout, role: str, info: SlotInfo | None) -> bool:
        """True while ``info`` is a live process whose check went unanswered fewer than
        ``_UNANSWERED_LIMIT`` times in a row (counted per deployment and role)."""
        alive = info is not None and (info.pid is not None or info.container is not None)
        if info is None or not alive or info.state != "starting" or info.port is None:
            return False
        key = (r.id, role)
        self._misses[key] = self._misses.get(key, 0) + 1
        return self._misses[key] < _UNANSWERED_LIMIT

    def _routes(self, r: Rollout, ports: Mapping[str, int], weight: int) -> list[Route]:
        assert r.slot is not None and r.old_slot is not None and r.old_version is not None
        canary = Route(r.slot, ports["canary"], r.version, weight)
        if weight >= 100:
            return [canary, Route(r.old_slot, ports["stable"], r.old_version, 0, backup=True)]
        return [canary, Route(r.old_slot, ports["stable"], r.old_version, 100 - weight)]

    def _judge(self, r: Rollout, ports: Mapping[str, int]) -> tuple[Decision, Window] | None:
        """Judge the window once it is full; None while it is still filling."""
        key = f"{r.id}:{r.phase.value}:{r.step}:{r.window_started_at}"
        age = self.clock() - self.observer.open(key, ports)
        interval = self.policy.step_interval_s
        if age < interval or (age < _PATIENCE * interval and not self.observer.filled(key)):
            return None  # still filling: thin traffic and slow probes get a longer window
        seen = self.observer.close(key)
        stable = seen.stable
        if r.phase is Phase.WATCHING and r.stable is not None:
            # The old slot only gets probes now: judge errors and latency against what it
            # did under real traffic in the last step, audio against its probes now.
            last = Window.from_dict(r.stable)
            stable = Window(
                last.requests,
                last.errors,
                last.p95_s,
                seen.stable.ovrl if seen.stable and seen.stable.ovrl else last.ovrl,
            )
        if seen.error is not None or seen.canary is None or stable is None:
            verdict = Verdict.of(Outcome.ERROR, seen.error or "no measurements in the window")
        else:
            verdict = analyze(seen.canary, stable, self.policy)
        tally = Tally.from_dict(r.tally or {})
        decision = decide(verdict, tally, self.policy)
        self._record(r, verdict, decision, seen.canary, stable)
        return decision, stable or Window(0, 0, None)

    def _act(
        self, r: Rollout, decision: Decision, stable: Window, ports: Mapping[str, int]
    ) -> Rollout:
        assert r.steps is not None
        now = self.clock()
        if decision.action is Action.ROLLBACK:
            return self.c.to(r, Phase.ROLLING_BACK, decision.reason, tally=_t(decision))
        if decision.action is Action.HOLD:
            return self.c.to(
                r, Phase.CANARY, decision.reason, tally=_t(decision), window_started_at=now
            )
        nxt = r.step + 1
        if r.steps[nxt] < 100:
            return self.c.to(
                r,
                Phase.CANARY,
                f"canary step {nxt + 1} of {len(r.steps)}: {r.steps[nxt]}% of traffic",
                step=nxt,
                window_started_at=now,
                tally=_t(decision),
            )
        return self._promote(r, decision, stable, ports, now)

    def _promote(
        self,
        r: Rollout,
        decision: Decision,
        stable: Window,
        ports: Mapping[str, int],
        now: float,
    ) -> Rollout:
        """The new version takes every request; the old one stays as backup."""
        nxt = r.step + 1
        try:
            self.c.apply(self._routes(r, ports, 100))
        except RolloutError as exc:
            return self.c.to(r, Phase.ROLLING_BACK, exc.message)
        if self.policy.watch_s <= 0:
            return self.c.to(r, Phase.DRAINING, "canary promoted", step=nxt, tally=_t(decision))
        return self.c.to(
            r,
            Phase.WATCHING,
            f"canary promoted to 100%; watching for {self.policy.watch_s:g} s",
            step=nxt,
            promoted_at=now,
            window_started_at=now,
            tally=_t(decision),
            stable=stable.to_dict(),
        )

    def _record(
        self,
        r: Rollout,
        verdict: Verdict,
        decision: Decision,
        canary: Window | None,
        stable: Window | None,
    ) -> None:
        share = "100% (watch)" if r.phase is Phase.WATCHING else f"{r.weight}%"
        self.c.ledger.append_event(
            EventKind.CANARY_ANALYSIS,
            f"deployment #{r.id} of {r.version} at {share}: {verdict.outcome.value} → "
            f"{decision.action.value}: {'; '.join(verdict.reasons)}",
            version=r.version,
            deployment_id=r.id,
            actor=self.c.actor,
            data={
                "phase": r.phase.value,
                "weight": r.weight,
                "verdict": verdict.to_dict(),
                "action": decision.action.value,
                "reason": decision.reason,
                "canary": canary.to_dict() if canary else None,
                "stable": stable.to_dict() if stable else None,
            },
        )


def _t(decision: Decision) -> dict[str, object]:
    return decision.tally.to_dict()
