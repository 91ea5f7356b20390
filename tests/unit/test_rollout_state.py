"""The deployment state machine: the transition table and ``transition`` on a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ttsops.bundle import Manifest
from ttsops.errors import IllegalTransitionError
from ttsops.registry import DeploymentState, Ledger
from ttsops.rollout import PHASE_EVENT, TRANSITIONS, Phase, load, start, transition


@pytest.fixture
def ledger(tmp_path: Path, joe_manifest: Manifest) -> Iterator[Ledger]:
    """A fresh SQLite ledger with joe 1.0.0 registered."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.add_version(joe_manifest, manifest_sha256="0" * 64)
        yield opened


def test_every_phase_can_reach_an_end() -> None:
    """From any phase some path of legal moves leads to a terminal phase."""
    for phase in Phase:
        seen, todo = {phase}, [phase]
        while todo:
            for nxt in TRANSITIONS[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        assert any(p.terminal for p in seen), phase


def test_terminal_phases_are_final_except_a_retired_live() -> None:
    """Nothing leaves a terminal phase, except a live deployment that a rollback retires."""
    for phase in Phase:
        if phase.terminal:
            expected = {Phase.ROLLED_BACK} if phase is Phase.LIVE else set()
            assert TRANSITIONS[phase] == expected


def test_promotion_cannot_skip_readiness() -> None:
    """Traffic can only shift after the new slot started (or was found warm)."""
    assert Phase.SHIFTING not in TRANSITIONS[Phase.STOPPING_OLD]
    assert Phase.LIVE not in TRANSITIONS[Phase.STARTING]
    assert Phase.LIVE not in TRANSITIONS[Phase.SHIFTING]


def test_illegal_transition_is_refused_and_not_persisted(ledger: Ledger) -> None:
    """A move outside the table raises, names the allowed ones, and writes nothing."""
    rollout = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    before = len(ledger.list_events())
    with pytest.raises(IllegalTransitionError, match="cannot go from pending to live"):
        transition(ledger, rollout, Phase.LIVE)
    assert len(ledger.list_events()) == before
    assert load(ledger, ledger.get_deployment(rollout.id)).phase is Phase.PENDING  # type: ignore[arg-type]


def test_transition_persists_the_phase_event_and_the_row(ledger: Ledger) -> None:
    """Each move is in the ledger (event with the full rollout, row state) when it returns."""
    rollout = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    moved = transition(ledger, rollout, Phase.STARTING, slot="blue", started_at=1.0)
    record = ledger.get_deployment(rollout.id)
    assert record is not None and record.state is DeploymentState.PROGRESSING
    event = next(e for e in ledger.list_events(deployment_id=rollout.id) if e.kind == PHASE_EVENT)
    assert event.data["phase"] == "starting" and event.data["slot"] == "blue"
    assert load(ledger, record) == moved


def test_load_repairs_a_row_left_behind_by_a_kill(ledger: Ledger) -> None:
    """If the process died between the phase event and the row update, the event wins."""
    rollout = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    moved = rollout.__class__(**{**rollout.__dict__, "phase": Phase.STARTING, "slot": "blue"})
    ledger.append_event(PHASE_EVENT, "written just before a kill", deployment_id=rollout.id,
                        version="1.0.0", data=moved.data())  # fmt: skip
    record = ledger.get_deployment(rollout.id)
    assert record is not None and record.state is DeploymentState.PENDING
    assert load(ledger, record).phase is Phase.STARTING
    repaired = ledger.get_deployment(rollout.id)
    assert repaired is not None and repaired.state is DeploymentState.PROGRESSING
