"""The canary strategy tick by tick: steps, promotion, watch, holds and rollbacks.

Slots, router and clock are the fakes of ``rollout_fakes``; the observer is scripted with
the windows each step should see. The real observer on real slots is in
tests/e2e/test_agent_canary.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rollout_fakes import Clock, FakeRouter, FakeSlots

from ttsops.bundle import Manifest
from ttsops.registry import DeploymentState, EventKind, Ledger
from ttsops.rollout import Controller, Phase, Rollout, start
from ttsops.rollout.analysis import Window
from ttsops.rollout.observer import SlotObservation
from ttsops.settings import CanarySettings

GOOD = Window(requests=20, errors=0, p95_s=0.8, ovrl=(3.2, 3.3, 3.1))
ERRORS = Window(requests=20, errors=5, p95_s=0.8, ovrl=(3.2, 3.3, 3.1))
SLOW = Window(requests=20, errors=0, p95_s=3.0, ovrl=(3.2, 3.3, 3.1))
THIN = Window(requests=1, errors=0, p95_s=0.8, ovrl=())


@dataclass
class ScriptedObserver:
    """Observer seam: each closed window returns the next scripted canary window."""

    canary: list[Window]
    stable: Window = GOOD
    opened: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    _open: dict[str, float] = field(default_factory=dict)

    def open(self, key: str, ports: Mapping[str, int]) -> float:
        if key not in self._open:
            self._open[key] = self.clock()
            self.opened.append((key, dict(ports)))
        return self._open[key]

    def filled(self, key: str) -> bool:
        return True

    def close(self, key: str) -> SlotObservation:
        self._open.pop(key)
        if not self.canary:
            return SlotObservation(error="script ran out")
        return SlotObservation(canary=self.canary.pop(0), stable=self.stable)


@pytest.fixture
def ledger(tmp_path: Path, joe_manifest: Manifest) -> Iterator[Ledger]:
    """A fresh SQLite ledger with joe 1.0.0 and 1.1.0 registered."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        for version in ("1.0.0", "1.1.0"):
            opened.add_version(
                joe_manifest.model_copy(update={"version": version}), manifest_sha256="0" * 64
            )
        yield opened


POLICY = CanarySettings(steps=[10, 50, 100], step_interval_s=30, watch_s=60)


def _setup(
    ledger: Ledger, windows: list[Window], policy: CanarySettings = POLICY
) -> tuple[Controller, FakeSlots, FakeRouter, ScriptedObserver]:
    """A controller with 1.0.0 live on blue and an observer scripted with ``windows``."""
    slots, router = FakeSlots(), FakeRouter()
    observer = ScriptedObserver(list(windows))
    ctl = Controller(ledger, slots, router, clock=observer.clock, observer=observer, canary=policy)
    r = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    while not r.phase.terminal:
        r = ctl.step(r)
        if slots.slots["blue"].state == "starting":
            slots.make("blue", "ready")
    return ctl, slots, router, observer


def _run(ctl: Controller, r: Rollout, slots: FakeSlots, clock: Clock) -> list[Rollout]:
    """Tick to the end, 10 s of clock per tick; every rollout seen, in order."""
    seen = [r]
    for _ in range(200):
        if r.phase.terminal:
            return seen
        r = ctl.step(r)
        seen.append(r)
        for name, info in slots.slots.items():
            if info.state == "starting":
                slots.make(name, "ready")
        clock.now += 10
    raise AssertionError(f"not terminal: {r}")


def test_canary_walks_the_steps_watches_and_goes_live(ledger: Ledger) -> None:
    """10% → 50% → 100% (watched) → live; the router carried each share to the new slot."""
    ctl, slots, router, obs = _setup(ledger, [GOOD] * 6)
    r = start(ledger, "1.1.0", "canary", reason=None, actor="ci")
    seen = _run(ctl, r, slots, obs.clock)
    assert seen[-1].phase is Phase.LIVE
    shares = [[(x.version, x.weight, x.backup) for x in routes] for routes in router.history]
    assert [("1.1.0", 10, False), ("1.0.0", 90, False)] in shares
    assert [("1.1.0", 50, False), ("1.0.0", 50, False)] in shares
    assert [("1.1.0", 100, False), ("1.0.0", 0, True)] in shares
    phases = [x.phase for x in seen]
    assert phases.index(Phase.CANARY) < phases.index(Phase.WATCHING) < phases.index(Phase.LIVE)
    # Two steps of one window each, then 60 s of watch in 30 s windows.
    assert len(obs.opened) == 4
    assert all(ports == {"canary": 41002, "stable": 41001} for _, ports in obs.opened)
    analyses = [e for e in ledger.list_events(limit=100) if e.kind == EventKind.CANARY_ANALYSIS]
    assert len(analyses) == 4 and all(e.data["action"] == "advance" for e in analyses)
    assert ledger.live_version() == "1.1.0"


def test_errors_roll_back_at_the_first_window_with_the_numbers(ledger: Ledger) -> None:
    """error_rate has no failure allowance: 25% errors at 10% traffic rolls back at once."""
    ctl, slots, router, obs = _setup(ledger, [ERRORS])
    seen = _run(ctl, start(ledger, "1.1.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    end = seen[-1]
    assert end.phase is Phase.ROLLED_BACK
    assert end.reason is not None and "error_rate" in end.reason and "25.0%" in end.reason
    assert router.live() == "1.0.0" and router.routes()[0].weight == 100
    assert slots.log[-1] == "stop green"
    assert ledger.live_version() == "1.0.0"


def test_a_slow_window_is_repeated_once_then_rolls_back(ledger: Ledger) -> None:
    """latency_p95 may fail one window (limit 1): the window repeats; the second fails it."""
    ctl, slots, _, obs = _setup(ledger, [SLOW, SLOW])
    seen = _run(ctl, start(ledger, "1.1.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    holds = [x for x in seen if x.phase is Phase.CANARY and x.reason and "repeating" in x.reason]
    assert holds and holds[0].step == 0  # the repeat stays at 10%
    assert seen[-1].phase is Phase.ROLLED_BACK
    assert seen[-1].reason is not None and "latency_p95" in seen[-1].reason


def test_one_noisy_slow_window_does_not_stop_a_good_canary(ledger: Ledger) -> None:
    """A single slow window within the limit is repeated, and the canary still goes live."""
    ctl, slots, _, obs = _setup(ledger, [SLOW] + [GOOD] * 6)
    seen = _run(ctl, start(ledger, "1.1.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    assert seen[-1].phase is Phase.LIVE


def test_thin_traffic_is_never_a_pass(ledger: Ledger) -> None:
    """Windows without enough data hold the step, then roll back: missing data never passes."""
    policy = CanarySettings(step_interval_s=30, inconclusive_limit=2)
    ctl, slots, _, obs = _setup(ledger, [THIN] * 5, policy)
    seen = _run(ctl, start(ledger, "1.1.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    assert all(x.weight in (None, 10) for x in seen)  # never got past the first step
    assert seen[-1].phase is Phase.ROLLED_BACK
    assert seen[-1].reason is not None and "missing data is never a pass" in seen[-1].reason


def test_a_regression_in_the_watch_window_still_rolls_back(ledger: Ledger) -> None:
    """Promoted to 100%, then errors appear: back to the old version, which was kept warm."""
    ctl, slots, router, obs = _setup(ledger, [GOOD, GOOD, ERRORS])
    seen = _run(ctl, start(ledger, "1.1.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    assert Phase.WATCHING in [x.phase for x in seen]
    end = seen[-1]
    assert end.phase is Phase.ROLLED_BACK
    assert end.reason is not None and end.reason.startswith("after promotion")
    assert router.live() == "1.0.0"
    record = ledger.get_deployment(end.id)
    assert record is not None and record.state is DeploymentState.ROLLED_BACK


def test_canary_slot_dying_mid_step_rolls_back(ledger: Ledger) -> None:
    """The new slot exits during a step: traffic returns to the stable slot at once."""
    ctl, slots, router, obs = _setup(ledger, [GOOD] * 6)
    r = start(ledger, "1.1.0", "canary", reason=None, actor="ci")
    while r.phase is not Phase.CANARY:
        r = ctl.step(r)
        if slots.slots.get("green") and slots.slots["green"].state == "starting":
            slots.make("green", "ready")
    slots.make("green", "exited", "killed by signal 9")
    seen = _run(ctl, r, slots, obs.clock)
    assert seen[-1].phase is Phase.ROLLED_BACK
    assert "killed by signal 9" in (seen[-1].reason or "")
    assert router.live() == "1.0.0"


def _to_canary(ctl: Controller, slots: FakeSlots, r: Rollout) -> Rollout:
    while r.phase is not Phase.CANARY:
        r = ctl.step(r)
        if slots.slots.get("green") and slots.slots["green"].state == "starting":
            slots.make("green", "ready")
    return r


def test_one_unanswered_check_of_the_stable_slot_does_not_end_the_canary(
    ledger: Ledger,
) -> None:
    """A busy stable slot misses one readiness check (alive, no answer): the canary goes on."""
    ctl, slots, _router, obs = _setup(ledger, [GOOD] * 6)
    r = _to_canary(ctl, slots, start(ledger, "1.1.0", "canary", reason=None, actor="ci"))
    slots.make("blue", "starting")  # what a timed-out /readyz of a live process looks like
    r = ctl.step(r)
    assert r.phase is Phase.CANARY
    seen = _run(ctl, r, slots, obs.clock)
    assert seen[-1].phase is Phase.LIVE


def test_a_stable_slot_that_stays_unanswered_ends_the_canary(ledger: Ledger) -> None:
    """Three unanswered checks in a row: the stable slot counts as lost and is restored."""
    ctl, slots, _router, _obs = _setup(ledger, [GOOD] * 6)
    r = _to_canary(ctl, slots, start(ledger, "1.1.0", "canary", reason=None, actor="ci"))
    phases = []
    for _ in range(3):
        slots.make("blue", "starting")
        r = ctl.step(r)
        phases.append(r.phase)
    assert phases[:2] == [Phase.CANARY, Phase.CANARY]
    assert phases[2] is Phase.ROLLING_BACK
    assert "stable slot blue (1.0.0) stopped serving" in (r.reason or "")


def test_first_canary_with_nothing_live_goes_straight_to_100(ledger: Ledger) -> None:
    """No stable version to compare with: the canary becomes a plain switch, and says so."""
    slots, router, obs = FakeSlots(), FakeRouter(), ScriptedObserver([])
    ctl = Controller(ledger, slots, router, clock=obs.clock, observer=obs, canary=POLICY)
    seen = _run(ctl, start(ledger, "1.0.0", "canary", reason=None, actor="ci"), slots, obs.clock)
    assert seen[-1].phase is Phase.LIVE and obs.opened == []
    assert any("nothing to compare with" in (x.reason or "") for x in seen)


def test_abort_during_a_step_returns_to_the_stable_version(ledger: Ledger) -> None:
    """A person aborts at 50%: the deployment ends aborted and the old version has it all."""
    from ttsops.rollout import transition

    ctl, slots, router, obs = _setup(ledger, [GOOD] * 6)
    r = start(ledger, "1.1.0", "canary", reason=None, actor="ci")
    while not (r.phase is Phase.CANARY and r.weight == 50):
        r = ctl.step(r)
        if slots.slots.get("green") and slots.slots["green"].state == "starting":
            slots.make("green", "ready")
        obs.clock.now += 10
    r = transition(ledger, r, Phase.ROLLING_BACK, reason="aborted by me", abort=True)
    seen = _run(ctl, r, slots, obs.clock)
    assert seen[-1].phase is Phase.ABORTED and router.live() == "1.0.0"
