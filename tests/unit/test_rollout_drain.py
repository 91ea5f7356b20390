"""A leaving slot keeps its browser sessions: controller ticks with sessions at the router seam.

The fakes stand in for processes and nginx so each tick can be driven by hand (the session
activity is what nginx's session log would say); tests/integration/test_router_sticky.py
and tests/e2e/test_browser_sessions.py run the real router and real browsers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rollout_fakes import Clock, FakeRouter, FakeSlots

from ttsops.bundle import Manifest
from ttsops.registry import Ledger
from ttsops.rollout import Controller, Phase, Rollout, start
from ttsops.rollout.controller import SESSION_IDLE_S, SESSION_PAUSE_S, SESSION_PAUSE_WAIT_S
from ttsops.rollout.router import SessionActivity, SessionRouter


class SessionsRouter(FakeRouter):
    """The router seam with browser sessions: the test says what each slot's sessions do."""

    def __init__(self) -> None:
        super().__init__()
        self.activity: dict[str, SessionActivity] = {}

    def sessions(self, slot: str) -> SessionActivity:
        """What the test set for ``slot``."""
        return self.activity.get(slot, SessionActivity(0, None))


@pytest.fixture
def ledger(tmp_path: Path, joe_manifest: Manifest) -> Iterator[Ledger]:
    """A fresh SQLite ledger with joe 1.0.0 and 1.1.0 registered."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        for version in ("1.0.0", "1.1.0"):
            opened.add_version(
                joe_manifest.model_copy(update={"version": version}), manifest_sha256="0" * 64
            )
        yield opened


def _tick_to(ctl: Controller, r: Rollout, slots: FakeSlots, phase: Phase) -> Rollout:
    for _ in range(20):
        if r.phase is phase:
            return r
        r = ctl.step(r)
        for name, info in slots.slots.items():
            if info.state == "starting":
                slots.make(name, "ready")
    raise AssertionError(f"never reached {phase}: {r}")


def _setup(ledger: Ledger) -> tuple[Controller, FakeSlots, SessionsRouter, Clock]:
    slots, router, clock = FakeSlots(), SessionsRouter(), Clock()
    ctl = Controller(ledger, slots, router, clock=clock, drain_timeout_s=30)
    assert isinstance(router, SessionRouter)
    r = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    _tick_to(ctl, r, slots, Phase.LIVE)
    return ctl, slots, router, clock


def _shape(router: FakeRouter) -> list[tuple[str, int, bool]]:
    return [(x.slot, x.weight, x.backup) for x in router.routes()]


def test_the_old_slot_keeps_its_active_sessions_after_a_switch(ledger: Ledger) -> None:
    """Blue's sessions are busy: it stays in the routes (weight 0) until they go quiet."""
    ctl, slots, router, clock = _setup(ledger)
    r = _tick_to(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots,
                 Phase.DRAINING)  # fmt: skip
    router.activity["blue"] = SessionActivity(1, clock.now)  # a stream is open on blue
    r = ctl.step(r)
    assert r.phase is Phase.DRAINING
    assert _shape(router) == [("green", 100, False), ("blue", 0, True)]
    clock.now += 20
    router.activity["blue"] = SessionActivity(0, clock.now - 1)  # just ended
    assert ctl.step(r).phase is Phase.DRAINING
    clock.now += SESSION_IDLE_S
    r = ctl.step(r)
    assert r.phase is Phase.LIVE
    assert _shape(router) == [("green", 100, False)]


def test_sessions_that_never_pause_are_cut_a_while_after_the_drain_timeout(
    ledger: Ledger,
) -> None:
    """However busy its sessions, the old slot leaves SESSION_PAUSE_WAIT_S after the timeout."""
    ctl, slots, router, clock = _setup(ledger)
    ctl.keep_previous_warm = False
    r = _tick_to(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots,
                 Phase.DRAINING)  # fmt: skip
    router.activity["blue"] = SessionActivity(3, clock.now)
    assert ctl.step(r).phase is Phase.DRAINING
    clock.now += 30  # the drain timeout: three requests are still open
    router.activity["blue"] = SessionActivity(3, clock.now)
    assert ctl.step(r).phase is Phase.DRAINING and "stop blue" not in slots.log
    clock.now += SESSION_PAUSE_WAIT_S - 0.1
    router.activity["blue"] = SessionActivity(3, clock.now)
    assert ctl.step(r).phase is Phase.DRAINING
    clock.now += 0.1
    assert ctl.step(r).phase is Phase.LIVE
    assert _shape(router) == [("green", 100, False)] and slots.log[-1] == "stop blue"


def test_past_the_drain_timeout_the_old_slot_leaves_between_two_presses(ledger: Ledger) -> None:
    """Busy sessions at the timeout: blue stays through a press, leaves at the pause after."""
    ctl, slots, router, clock = _setup(ledger)
    r = _tick_to(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots,
                 Phase.DRAINING)  # fmt: skip
    router.activity["blue"] = SessionActivity(1, clock.now)
    assert ctl.step(r).phase is Phase.DRAINING
    clock.now += 30
    router.activity["blue"] = SessionActivity(0, clock.now - 0.2)  # a join just ended
    assert ctl.step(r).phase is Phase.DRAINING  # its event stream follows
    router.activity["blue"] = SessionActivity(1, clock.now)  # the stream is open
    clock.now += 2
    assert ctl.step(r).phase is Phase.DRAINING
    router.activity["blue"] = SessionActivity(0, clock.now)  # the press is done
    clock.now += SESSION_PAUSE_S
    r = ctl.step(r)
    assert r.phase is Phase.LIVE
    assert _shape(router) == [("green", 100, False)]


def test_without_sessions_the_switch_does_not_wait(ledger: Ledger) -> None:
    """API traffic only (no session seen on blue): draining ends in the same tick, as before."""
    ctl, slots, _, _ = _setup(ledger)
    r = _tick_to(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots,
                 Phase.DRAINING)  # fmt: skip
    assert ctl.step(r).phase is Phase.LIVE


def test_a_rolled_back_slot_keeps_its_sessions_but_gets_nothing_new(ledger: Ledger) -> None:
    """Rolling back: green keeps only its sessions (weight 0, no backup), then stops."""
    ctl, slots, router, clock = _setup(ledger)
    r = _tick_to(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots,
                 Phase.SHIFTING)  # fmt: skip
    r = ctl.to(r, Phase.ROLLING_BACK, "listeners hear clicks")
    router.activity["green"] = SessionActivity(0, clock.now)
    r = ctl.step(r)
    assert r.phase is Phase.ROLLING_BACK
    assert _shape(router) == [("blue", 100, False), ("green", 0, False)]
    assert "stop green" not in slots.log
    clock.now += SESSION_IDLE_S
    r = ctl.step(r)
    assert r.phase is Phase.ROLLED_BACK
    assert _shape(router) == [("blue", 100, False)] and slots.log[-1] == "stop green"
