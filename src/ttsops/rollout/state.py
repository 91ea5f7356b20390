"""A deployment's phases: the enum, the transition table, and the one function that moves.

The phase and everything a tick needs to resume (slots, the version it replaces, start
time) live in the data of a ``rollout.phase`` event in the ledger; the deployment row's
coarse ``DeploymentState`` follows the phase. ``transition`` writes the event first and the
row second, so after a kill -9 between the two the event wins and ``load`` repairs the row.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from ttsops.errors import IllegalTransitionError
from ttsops.registry import DeploymentRecord, DeploymentState, Ledger

__all__ = [
    "PHASE_EVENT",
    "TRANSITIONS",
    "Phase",
    "Rollout",
    "load",
    "start",
    "transition",
]

PHASE_EVENT = "rollout.phase"
"""Event kind of a phase change; its data is the full ``Rollout`` after the change."""


class Phase(StrEnum):
    """Where a deployment is; the agent's controller moves it one step per tick."""

    PENDING = "pending"
    """Accepted; nothing started yet."""

    STOPPING_OLD = "stopping_old"
    """``recreate`` only: the old slot drains and stops (the downtime starts here)."""

    STARTING = "starting"
    """The new slot's process starts and loads the model; waiting for ``/readyz``."""

    SHIFTING = "shifting"
    """The router sends new requests to the new slot (the old one stays as backup)."""

    CANARY = "canary"
    """``canary`` only: the new slot takes a step's share of traffic (10%, then 50%…) and
    each window is analysed against the stable slot: advance, repeat or roll back."""

    WATCHING = "watching"
    """``canary`` only: promoted to 100% (the old slot stays as backup); a regression
    found before the watch window ends still rolls back."""

    DRAINING = "draining"
    """The old slot leaves the router, finishes its streams and stops (or stays warm)."""

    ROLLING_BACK = "rolling_back"
    """Traffic returns to the old version; the new slot stops."""

    LIVE = "live"
    """The new version takes 100% of traffic."""

    ROLLED_BACK = "rolled_back"
    """The old version serves again; the reason says why."""

    FAILED = "failed"
    """Could not be carried out and there was no older version to return to."""

    ABORTED = "aborted"
    """Cancelled by a person; the old version serves again."""

    @property
    def terminal(self) -> bool:
        """True when no tick changes this phase any more."""
        return self in (Phase.LIVE, Phase.ROLLED_BACK, Phase.FAILED, Phase.ABORTED)

    @property
    def state(self) -> DeploymentState:
        """The coarse ledger state this phase is shown as."""
        return _STATE[self]


_STATE = {
    Phase.PENDING: DeploymentState.PENDING,
    Phase.STOPPING_OLD: DeploymentState.PROGRESSING,
    Phase.STARTING: DeploymentState.PROGRESSING,
    Phase.SHIFTING: DeploymentState.PROGRESSING,
    Phase.CANARY: DeploymentState.PROGRESSING,
    Phase.WATCHING: DeploymentState.PROGRESSING,
    Phase.DRAINING: DeploymentState.PROGRESSING,
    Phase.ROLLING_BACK: DeploymentState.PROGRESSING,
    Phase.LIVE: DeploymentState.LIVE,
    Phase.ROLLED_BACK: DeploymentState.ROLLED_BACK,
    Phase.FAILED: DeploymentState.FAILED,
    Phase.ABORTED: DeploymentState.ABORTED,
}

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset(
        {Phase.STOPPING_OLD, Phase.STARTING, Phase.SHIFTING, Phase.ROLLING_BACK, Phase.FAILED}
    ),
    Phase.STOPPING_OLD: frozenset({Phase.STARTING, Phase.ROLLING_BACK}),
    Phase.STARTING: frozenset({Phase.SHIFTING, Phase.CANARY, Phase.ROLLING_BACK}),
    Phase.SHIFTING: frozenset({Phase.DRAINING, Phase.ROLLING_BACK}),
    Phase.CANARY: frozenset({Phase.CANARY, Phase.WATCHING, Phase.DRAINING, Phase.ROLLING_BACK}),
    Phase.WATCHING: frozenset({Phase.WATCHING, Phase.DRAINING, Phase.ROLLING_BACK}),
    Phase.DRAINING: frozenset({Phase.LIVE}),
    Phase.ROLLING_BACK: frozenset({Phase.ROLLED_BACK, Phase.FAILED, Phase.ABORTED}),
    Phase.LIVE: frozenset({Phase.ROLLED_BACK}),
    Phase.ROLLED_BACK: frozenset(),
    Phase.FAILED: frozenset(),
    Phase.ABORTED: frozenset(),
}
"""Every legal move; ``LIVE → ROLLED_BACK`` is a later rollback retiring a live deployment;
``CANARY → CANARY`` is the next step (or a repeated window), persisted like any move."""


@dataclass(frozen=True)
class Rollout:
    """Everything a tick needs about one deployment, persisted with each phase change."""

    id: int
    """Deployment id in the ledger."""

    version: str
    """Version being made live."""

    strategy: str
    """``blue-green``, ``canary``, ``recreate`` or ``rollback``."""

    phase: Phase
    """Where it is."""

    slot: str | None = None
    """Slot that runs (or will run) ``version``."""

    old_slot: str | None = None
    """Slot of the version being replaced, if any."""

    old_version: str | None = None
    """Version being replaced (the rollback target), if any."""

    reason: str | None = None
    """Why it is in this phase (for rollbacks: what failed or who asked and why)."""

    started_at: float | None = None
    """Wall-clock time the new slot was started (the start timeout counts from here)."""

    stopped_at: float | None = None
    """``recreate``: wall-clock time the old slot was told to stop (the downtime start)."""

    abort: bool = False
    """Set when a person aborted it: ends ``aborted`` instead of ``rolled_back``."""

    retires: int | None = None
    """``rollback``: the live deployment this one replaces, marked rolled back at the end."""

    start_timeout_s: float | None = None
    """This deployment's start timeout; None uses the agent's ``[agent] start_timeout_s``."""

    downtime_s: float | None = None
    """``recreate``: seconds between stopping the old slot and serving the new one."""

    steps: tuple[int, ...] | None = None
    """``canary``: traffic share (%) of each step, fixed when the canary starts."""

    step: int = 0
    """``canary``: index in ``steps`` of the step in progress."""

    window_started_at: float | None = None
    """``canary``: wall-clock time the step (or its repeated window) began."""

    promoted_at: float | None = None
    """``canary``: wall-clock time the new version took 100% (the watch window starts)."""

    tally: dict[str, Any] | None = None
    """``canary``: what the analyses so far concluded (``analysis.Tally``)."""

    stable: dict[str, Any] | None = None
    """``canary``: the stable slot's last full window (``analysis.Window``); the watch
    window compares the promoted version with it."""

    @property
    def weight(self) -> int | None:
        """``canary``: the new slot's traffic share in the step in progress."""
        if self.steps is None or self.phase not in (Phase.CANARY, Phase.WATCHING):
            return None
        return 100 if self.phase is Phase.WATCHING else self.steps[self.step]

    def data(self) -> dict[str, Any]:
        """JSON form, stored in the phase event."""
        out = asdict(self)
        out["phase"] = self.phase.value
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Rollout:
        """Inverse of ``data``."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["phase"] = Phase(known["phase"])
        if known.get("steps") is not None:
            known["steps"] = tuple(known["steps"])
        return cls(**known)


def start(
    ledger: Ledger,
    version: str,
    strategy: str,
    *,
    reason: str | None,
    actor: str | None,
    retires: int | None = None,
    start_timeout_s: float | None = None,
) -> Rollout:
    """Create the deployment row and its first phase event (``pending``)."""
    record = ledger.create_deployment(version, strategy, reason=reason, actor=actor)
    rollout = Rollout(
        id=record.id,
        version=version,
        strategy=strategy,
        phase=Phase.PENDING,
        reason=reason,
        retires=retires,
        start_timeout_s=start_timeout_s,
    )
    _persist(ledger, rollout, f"deployment #{record.id} of {version} accepted", actor)
    return rollout


def load(ledger: Ledger, record: DeploymentRecord) -> Rollout:
    """The persisted rollout of ``record``; repairs the row if a kill left it behind."""
    events = [
        e for e in ledger.list_events(deployment_id=record.id, limit=200) if e.kind == PHASE_EVENT
    ]
    if not events:
        # Created but killed before its first phase event: it never started anything.
        return Rollout(
            id=record.id, version=record.version, strategy=record.strategy, phase=Phase.PENDING
        )
    rollout = Rollout.from_data(events[0].data)
    if record.state != rollout.phase.state and not record.state.terminal:
        ledger.update_deployment_state(record.id, rollout.phase.state, reason=rollout.reason)
    return rollout


def transition(
    ledger: Ledger,
    rollout: Rollout,
    phase: Phase,
    *,
    reason: str | None = None,
    actor: str | None = None,
    **changes: Any,
) -> Rollout:
    """Move ``rollout`` to ``phase`` and persist it (event, then row) before anyone acts on it.

    Refuses a move the table does not list with ``IllegalTransitionError``.
    """
    if phase not in TRANSITIONS[rollout.phase]:
        allowed = ", ".join(sorted(p.value for p in TRANSITIONS[rollout.phase])) or "none"
        raise IllegalTransitionError(
            f"deployment #{rollout.id} of {rollout.version}: cannot go from "
            f"{rollout.phase.value} to {phase.value} (allowed: {allowed})"
        )
    moved = replace(rollout, phase=phase, reason=reason or rollout.reason, **changes)
    message = f"deployment #{rollout.id} of {rollout.version}: {rollout.phase.value} → {phase}"
    _persist(ledger, moved, message + (f" ({reason})" if reason else ""), actor)
    if phase.state != rollout.phase.state:
        ledger.update_deployment_state(rollout.id, phase.state, reason=moved.reason, actor=actor)
    return moved


def _persist(ledger: Ledger, rollout: Rollout, message: str, actor: str | None) -> None:
    data = rollout.data()
    data["at"] = time.time()
    ledger.append_event(
        PHASE_EVENT,
        message,
        version=rollout.version,
        deployment_id=rollout.id,
        data=data,
        actor=actor,
    )
