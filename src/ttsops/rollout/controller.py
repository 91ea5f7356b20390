"""The controller: one restartable tick of a deployment.

``step`` reads nothing from memory but the rollout it is given (which ``state.load``
rebuilds from the ledger), takes one step, persists the next phase before acting on it,
and returns. Killed at any point, the next agent repeats at most the step it was in, and
every step is idempotent: starting a slot that already runs the version, applying routes
already applied, stopping a stopped slot.

A slot leaving the router (the old one after a switch, the new one in a rollback) keeps
the browser sessions it holds (``router.SessionRouter``) until they are quiet or
``drain_timeout_s`` has passed, with no weight for new ones; only then does it leave the
routes and stop. Past the timeout it still leaves at a pause of its sessions, so a press
is not cut between its requests, but waits at most ``SESSION_PAUSE_WAIT_S`` more for one.
That wait lives in memory, like a canary window: a restarted agent waits again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ttsops.errors import RolloutError, TtsopsError
from ttsops.registry import Ledger
from ttsops.registry.records import DeploymentState
from ttsops.rollout.canary import CanarySteps, Observer
from ttsops.rollout.router import Route, Router, SessionRouter
from ttsops.rollout.runtime import SLOT_NAMES, SlotInfo
from ttsops.rollout.state import Phase, Rollout, load, transition
from ttsops.settings import CanarySettings

__all__ = [
    "SESSION_IDLE_S",
    "SESSION_PAUSE_S",
    "SESSION_PAUSE_WAIT_S",
    "STRATEGIES",
    "Controller",
    "Slots",
]

SESSION_IDLE_S = 10.0
"""A leaving slot's browser sessions count as active while one of their requests is open
or one started or ended this recently (a press of a UI button and its event stream and
download follow each other within a second)."""

SESSION_PAUSE_S = 1.0
"""Past the drain timeout, a leaving slot goes at the first pause this long in its sessions
(nothing open, no request started or ended): between two presses, not in the middle of one
(whose queue join, event stream and download would otherwise reach different slots)."""

SESSION_PAUSE_WAIT_S = 15.0
"""How long past the drain timeout a leaving slot waits for that pause; sessions that never
pause (a stream that stays open) are cut then."""

_SERVICE_GRACE_S = 15.0
"""Beyond a service's own start timeout, the time its last readiness check may take."""

STRATEGIES = ("blue-green", "canary", "recreate", "rollback")
"""``blue-green``: new slot beside the old, all traffic switched at once; ``canary``: new
slot beside the old, traffic shifted in analysed steps (``rollout.canary``); ``recreate``:
old stops first (one model fits); ``rollback``: blue-green to an older version, reusing its
warm slot when there is one."""


class Slots(Protocol):
    """The controller's seam to slot processes (``SlotRuntime`` is the real one)."""

    def start(self, slot: str, version: str) -> None:
        """Start ``version`` in ``slot``."""
        ...

    def status(self, slot: str) -> SlotInfo | None:
        """What ``slot`` does now; None if nothing was started there."""
        ...

    def stop(self, slot: str) -> None:
        """Drain and stop ``slot``."""
        ...


class Controller:
    """Moves deployments through their phases, one persisted step per ``step`` call."""

    def __init__(
        self,
        ledger: Ledger,
        slots: Slots,
        router: Router,
        *,
        start_timeout_s: float = 120.0,
        keep_previous_warm: bool = True,
        clock: Callable[[], float] = time.time,
        actor: str | None = None,
        observer: Observer | None = None,
        canary: CanarySettings | None = None,
        drain_timeout_s: float = 30.0,
    ) -> None:
        """Wire the ledger, the slots and the router; ``clock`` is wall time (persisted).

        ``observer`` measures canary windows; without one the ``canary`` strategy is refused.
        ``drain_timeout_s`` bounds how long a leaving slot keeps its browser sessions.
        """
        self.ledger = ledger
        self.slots = slots
        self.router = router
        self.start_timeout_s = start_timeout_s
        self.keep_previous_warm = keep_previous_warm
        self.clock = clock
        self.actor = actor
        self.drain_timeout_s = drain_timeout_s
        self._drains: dict[tuple[int, str], float] = {}
        self.canary = (
            CanarySteps(self, observer, canary or CanarySettings(), clock) if observer else None
        )

    def to(
        self, rollout: Rollout, phase: Phase, reason: str | None = None, **kw: object
    ) -> Rollout:
        """Persist the move of ``rollout`` to ``phase`` (see ``state.transition``)."""
        return transition(self.ledger, rollout, phase, reason=reason, actor=self.actor, **kw)

    def step(self, rollout: Rollout) -> Rollout:
        """Take one step; returns the rollout as persisted afterwards (maybe unchanged)."""
        handlers = {
            Phase.PENDING: self._pending,
            Phase.STOPPING_OLD: self._stopping_old,
            Phase.STARTING: self._starting,
            Phase.SHIFTING: self._shifting,
            Phase.CANARY: self._canary,
            Phase.WATCHING: self._watching,
            Phase.DRAINING: self._draining,
            Phase.ROLLING_BACK: self._rolling_back,
        }
        handler = handlers.get(rollout.phase)
        return rollout if handler is None else handler(rollout)

    def live_route(self) -> Route | None:
        """The route that takes the traffic now, if any."""
        return next((r for r in self.router.routes() if r.weight > 0 and not r.backup), None)

    # -- phases -----------------------------------------------------------------------------

    def _pending(self, r: Rollout) -> Rollout:
        live = self.live_route()
        old_slot, old_version = (live.slot, live.version) if live else (None, None)
        for name in SLOT_NAMES:
            info = self.slots.status(name)
            if name != old_slot and info and info.state == "ready" and info.version == r.version:
                # A warm slot already serves it (a rollback to the kept previous version).
                return self.to(
                    r, Phase.SHIFTING, slot=name, old_slot=old_slot, old_version=old_version
                )
        slot = next(name for name in SLOT_NAMES if name != old_slot)
        if r.strategy == "recreate" and old_slot is not None:
            return self.to(
                r,
                Phase.STOPPING_OLD,
                f"recreate: stopping {old_version} first; the service is down until "
                f"{r.version} is ready",
                slot=slot,
                old_slot=old_slot,
                old_version=old_version,
                stopped_at=self.clock(),
            )
        r = self.to(
            r,
            Phase.STARTING,
            slot=slot,
            old_slot=old_slot,
            old_version=old_version,
            started_at=self.clock(),
        )
        return self._start(r)

    def _stopping_old(self, r: Rollout) -> Rollout:
        assert r.old_slot is not None
        self.slots.stop(r.old_slot)
        r = self.to(r, Phase.STARTING, started_at=self.clock())
        return self._start(r)

    def _start(self, r: Rollout) -> Rollout:
        assert r.slot is not None
        try:
            self.slots.start(r.slot, r.version)
        except TtsopsError as exc:
            return self.to(r, Phase.ROLLING_BACK, f"cannot start {r.version}: {exc.message}")
        return r

    def _starting(self, r: Rollout) -> Rollout:
        assert r.slot is not None and r.started_at is not None
        info = self.slots.status(r.slot)
        if info is None or info.version != r.version:
            return self._start(r)  # killed between persisting STARTING and starting the slot
        if info.state == "ready":
            if r.strategy == "canary":
                return self._steps().begin(r)
            return self.to(r, Phase.SHIFTING)
        if info.state in ("exited", "failed"):
            return self.to(
                r, Phase.ROLLING_BACK, f"slot {r.slot} ({r.version}) failed to start: {info.detail}"
            )
        waited = self.clock() - r.started_at
        # A service's prober fails it after its own start_timeout_s, naming what it answered.
        own = info.start_timeout_s + _SERVICE_GRACE_S if info.start_timeout_s else 0.0
        limit = r.start_timeout_s or max(self.start_timeout_s, own)
        if waited > limit:
            return self.to(
                r,
                Phase.ROLLING_BACK,
                f"slot {r.slot} ({r.version}) not ready after {waited:.1f} s (start timeout "
                f"{limit:g} s; raise it with --start-timeout or [agent] start_timeout_s if the "
                "model loads slowly)",
            )
        return r

    def _shifting(self, r: Rollout) -> Rollout:
        assert r.slot is not None
        info = self.slots.status(r.slot)
        if info is None or info.state != "ready" or info.port is None:
            why = info.detail if info else "not running"
            return self.to(r, Phase.ROLLING_BACK, f"slot {r.slot} lost readiness: {why}")
        routes = [Route(r.slot, info.port, r.version, 100)]
        old = self.ready_slot(r.old_slot, r.old_version)
        if old is not None and old.port is not None and r.old_slot != r.slot:
            routes.append(Route(old.slot, old.port, old.version, 0, backup=True))
        try:
            self.apply(routes)
        except RolloutError as exc:
            return self.to(r, Phase.ROLLING_BACK, exc.message)
        downtime = None if r.stopped_at is None else round(self.clock() - r.stopped_at, 3)
        note = f"downtime {downtime:.1f} s" if downtime is not None else None
        return self.to(r, Phase.DRAINING, note, downtime_s=downtime)

    def _draining(self, r: Rollout) -> Rollout:
        assert r.slot is not None
        info = self.slots.status(r.slot)
        if info is not None and info.port is not None:
            live = Route(r.slot, info.port, r.version, 100)
            old = self.ready_slot(r.old_slot, r.old_version) if r.old_slot != r.slot else None
            if old is not None and old.port is not None and self._holds_sessions(r, old.slot):
                # New sessions and requests go to the new slot; the old one's sessions stay.
                self.apply([live, Route(old.slot, old.port, old.version, 0, backup=True)])
                return r
            self.apply([live])
        if r.old_slot is not None and r.old_slot != r.slot and not self.keep_previous_warm:
            self.slots.stop(r.old_slot)
        done = self.to(r, Phase.LIVE)
        if r.retires is not None:
            self._retire(r.retires, r.reason)
        return done

    def _steps(self) -> CanarySteps:
        if self.canary is None:
            raise RolloutError("this controller has no canary observer; the canary cannot run")
        return self.canary

    def _canary(self, r: Rollout) -> Rollout:
        return self._steps().canary(r)

    def _watching(self, r: Rollout) -> Rollout:
        return self._steps().watching(r)

    def _rolling_back(self, r: Rollout) -> Rollout:
        end = Phase.ABORTED if r.abort else Phase.ROLLED_BACK
        if r.old_version is None or r.old_slot is None:
            # Nothing to return to (a first deployment, or aborted before it chose slots):
            # leave the router alone unless it points at the slot being stopped.
            live = self.live_route()
            if r.slot is not None:
                if live is not None and live.slot == r.slot:
                    self.apply([])
                self.slots.stop(r.slot)
            return self.to(r, end if r.abort else Phase.FAILED)
        old = self.slots.status(r.old_slot)
        if old is None or old.state in ("exited", "failed") or old.version != r.old_version:
            self.slots.start(r.old_slot, r.old_version)  # recreate, or a slot that died
            return r
        if old.state != "ready" or old.port is None:
            return r
        back = Route(r.old_slot, old.port, r.old_version, 100)
        new = self.ready_slot(r.slot, r.version) if r.slot != r.old_slot else None
        if new is not None and new.port is not None and self._holds_sessions(r, new.slot):
            # Everything new goes back to the old slot; the new one keeps only its sessions.
            self.apply([back, Route(new.slot, new.port, r.version, 0)])
            return r
        self.apply([back])
        if r.slot is not None and r.slot != r.old_slot:
            self.slots.stop(r.slot)
        return self.to(r, end)

    # -- helpers ----------------------------------------------------------------------------

    def ready_slot(self, slot: str | None, version: str | None) -> SlotInfo | None:
        """``slot``'s status when it is ready and serves ``version``, else None."""
        if slot is None:
            return None
        info = self.slots.status(slot)
        ok = info is not None and info.state == "ready" and info.version == version
        return info if ok else None

    def _holds_sessions(self, r: Rollout, slot: str) -> bool:
        """True while leaving ``slot`` still has active browser sessions and time to serve them.

        The drain of ``slot`` starts at the first call for this deployment; it ends when its
        sessions are quiet (nothing open, nothing for ``SESSION_IDLE_S``), or after
        ``drain_timeout_s`` at their first pause (nothing open, nothing for
        ``SESSION_PAUSE_S``), or ``SESSION_PAUSE_WAIT_S`` later without one. A router that
        cannot tell (no sessions) never waits.
        """
        if not isinstance(self.router, SessionRouter) or self.drain_timeout_s <= 0:
            return False
        now = self.clock()
        since = self._drains.setdefault((r.id, slot), now)
        seen = self.router.sessions(slot)
        waited = now - since
        if waited < self.drain_timeout_s:
            quiet_s = SESSION_IDLE_S
        elif waited < self.drain_timeout_s + SESSION_PAUSE_WAIT_S:
            quiet_s = SESSION_PAUSE_S
        else:
            quiet_s = 0.0
        recent = seen.last_at is not None and now - seen.last_at < quiet_s
        if quiet_s > 0 and (seen.open > 0 or recent):
            return True
        self._drains.pop((r.id, slot), None)
        return False

    def apply(self, routes: list[Route]) -> None:
        """Apply ``routes`` unless they are the routes already applied."""
        if self.router.routes() != routes:
            self.router.apply(routes)

    def _retire(self, deployment_id: int, reason: str | None) -> None:
        record = self.ledger.get_deployment(deployment_id)
        if record is None or record.state != DeploymentState.LIVE:
            return
        self.to(load(self.ledger, record), Phase.ROLLED_BACK, reason or "rolled back")
