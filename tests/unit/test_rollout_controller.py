"""Controller ticks on a real SQLite ledger, with fakes at the slot and router seams.

The fakes stand in for processes and nginx only so each tick's decision can be driven
and checked one by one; the real slots and router are tested in tests/e2e/test_agent_*.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rollout_fakes import Clock, FakeRouter, FakeSlots

from ttsops.bundle import Manifest
from ttsops.registry import DeploymentState, Ledger
from ttsops.rollout import Controller, Phase, Rollout, load, start, transition


@pytest.fixture
def ledger(tmp_path: Path, joe_manifest: Manifest) -> Iterator[Ledger]:
    """A fresh SQLite ledger with joe 1.0.0, 1.1.0 and 1.2.0 registered."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        for n, version in enumerate(("1.0.0", "1.1.0", "1.2.0")):
            options = {**joe_manifest.engine_options, "noise_scale": 0.5 + n / 10}
            variant = joe_manifest.model_copy(
                update={"version": version, "engine_options": options}
            )
            opened.add_version(variant, manifest_sha256="0" * 64)
        yield opened


def _controller(ledger: Ledger, slots: FakeSlots, router: FakeRouter, **kw: object) -> Controller:
    return Controller(ledger, slots, router, start_timeout_s=60, clock=kw.pop("clock", Clock()),
                      **kw)  # type: ignore[arg-type]  # fmt: skip


def _run(ctl: Controller, rollout: Rollout, slots: FakeSlots, ready: bool = True) -> Rollout:
    """Tick until terminal; every started slot becomes ready at once if ``ready``."""
    for _ in range(20):
        if rollout.phase.terminal:
            return rollout
        rollout = ctl.step(rollout)
        for name, info in slots.slots.items():
            if ready and info.state == "starting":
                slots.make(name, "ready")
    raise AssertionError(f"not terminal: {rollout}")


def _state(ledger: Ledger, rollout: Rollout) -> DeploymentState:
    record = ledger.get_deployment(rollout.id)
    assert record is not None
    return record.state


def test_first_deploy_goes_live_through_each_phase(ledger: Ledger) -> None:
    """Pending → starting → shifting → draining → live, each persisted, blue gets 100%."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    r = start(ledger, "1.0.0", "blue-green", reason=None, actor="me")
    r = ctl.step(r)
    assert r.phase is Phase.STARTING and slots.log == ["start blue 1.0.0"]
    assert _state(ledger, r) is DeploymentState.PROGRESSING
    assert ctl.step(r).phase is Phase.STARTING  # not ready yet: nothing changes
    slots.make("blue", "ready")
    r = ctl.step(r)
    assert r.phase is Phase.SHIFTING and router.routes() == []
    r = ctl.step(r)
    assert r.phase is Phase.DRAINING and router.live() == "1.0.0"
    r = ctl.step(r)
    assert r.phase is Phase.LIVE and _state(ledger, r) is DeploymentState.LIVE
    assert ledger.live_version() == "1.0.0"


def test_blue_green_keeps_old_as_backup_until_the_switch_then_warm(ledger: Ledger) -> None:
    """While shifting the old slot is a backup; after it leaves the router it stays warm."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = _run(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots)
    assert r.phase is Phase.LIVE and r.slot == "green" and r.old_version == "1.0.0"
    shifting = router.history[-2]
    assert [(x.slot, x.weight, x.backup) for x in shifting] == [
        ("green", 100, False),
        ("blue", 0, True),
    ]
    assert [x.slot for x in router.routes()] == ["green"]
    assert slots.slots["blue"].state == "ready"  # kept warm for an instant rollback
    assert "stop blue" not in slots.log


def test_without_keep_warm_the_old_slot_is_stopped_after_the_switch(ledger: Ledger) -> None:
    """With keep_previous_warm off, the old slot is stopped only after the router switched."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router, keep_previous_warm=False)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    _run(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots)
    assert slots.log[-1] == "stop blue"
    assert router.live() == "1.1.0"


def test_slot_that_exits_on_start_is_rolled_back_and_traffic_never_moves(ledger: Ledger) -> None:
    """A crash while loading ends rolled_back with the reason; the router never left 1.0.0."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = ctl.step(start(ledger, "1.2.0", "blue-green", reason=None, actor="me"))
    slots.make("green", "exited", "exited with code 1: cannot load model")
    r = ctl.step(r)
    assert r.phase is Phase.ROLLING_BACK
    r = ctl.step(r)
    assert r.phase is Phase.ROLLED_BACK and "cannot load model" in (r.reason or "")
    assert all(x.version == "1.0.0" for routes in router.history for x in routes)
    assert ledger.live_version() == "1.0.0"


def test_start_timeout_rolls_back(ledger: Ledger) -> None:
    """A slot still not ready after the start timeout is rolled back, saying how long it waited."""
    slots, router, clock = FakeSlots(), FakeRouter(), Clock()
    ctl = _controller(ledger, slots, router, clock=clock)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = ctl.step(start(ledger, "1.1.0", "blue-green", reason=None, actor="me"))
    clock.now += 59
    assert ctl.step(r).phase is Phase.STARTING
    clock.now += 2
    r = _run(ctl, ctl.step(r), slots, ready=False)
    assert r.phase is Phase.ROLLED_BACK and "not ready after 61.0 s" in (r.reason or "")
    assert router.live() == "1.0.0" and slots.slots["green"].state == "exited"


def test_first_version_that_fails_ends_failed_with_nothing_routed(ledger: Ledger) -> None:
    """With no older version to return to, a failed first deployment is failed, not live."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    r = ctl.step(start(ledger, "1.2.0", "blue-green", reason=None, actor="me"))
    slots.make("blue", "failed", "model cannot serve")
    r = _run(ctl, r, slots, ready=False)
    assert r.phase is Phase.FAILED and router.live() is None


def test_recreate_stops_old_first_and_reports_downtime(ledger: Ledger) -> None:
    """recreate stops the old slot before starting the new one and records the downtime."""
    slots, router, clock = FakeSlots(), FakeRouter(), Clock()
    ctl = _controller(ledger, slots, router, clock=clock, keep_previous_warm=False)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = ctl.step(start(ledger, "1.1.0", "recreate", reason=None, actor="me"))
    assert r.phase is Phase.STOPPING_OLD
    r = ctl.step(r)
    assert slots.log[-2:] == ["stop blue", "start green 1.1.0"]
    clock.now += 7.5
    r = _run(ctl, r, slots)
    assert r.phase is Phase.LIVE and r.downtime_s == 7.5


def test_recreate_failure_restarts_the_old_version(ledger: Ledger) -> None:
    """When recreate's new version fails, the stopped old version is started again."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = ctl.step(ctl.step(start(ledger, "1.2.0", "recreate", reason=None, actor="me")))
    slots.make("green", "exited", "crash")
    r = _run(ctl, r, slots)
    assert r.phase is Phase.ROLLED_BACK
    assert "start blue 1.0.0" in slots.log[-3:] and router.live() == "1.0.0"


def test_rollback_to_a_warm_slot_is_only_a_router_switch(ledger: Ledger) -> None:
    """Rolling back to the kept-warm version starts nothing and retires the live deployment."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    live = _run(ctl, start(ledger, "1.1.0", "blue-green", reason=None, actor="me"), slots)
    started = len([line for line in slots.log if line.startswith("start")])
    r = start(ledger, "1.0.0", "rollback", reason="rollback by ci: clicks", actor="ci",
              retires=live.id)  # fmt: skip
    r = ctl.step(r)
    assert r.phase is Phase.SHIFTING and r.slot == "blue"
    r = _run(ctl, r, slots)
    assert r.phase is Phase.LIVE and router.live() == "1.0.0"
    assert len([line for line in slots.log if line.startswith("start")]) == started
    assert _state(ledger, live) is DeploymentState.ROLLED_BACK
    assert ledger.live_version() == "1.0.0"


def test_a_new_controller_resumes_from_the_ledger(ledger: Ledger) -> None:
    """After a kill, a fresh controller loads the persisted phase and finishes the deployment."""
    slots, router = FakeSlots(), FakeRouter()
    _run(_controller(ledger, slots, router), start(ledger, "1.0.0", "blue-green", reason=None,
                                                   actor="me"), slots)  # fmt: skip
    first = _controller(ledger, slots, router)
    r = first.step(start(ledger, "1.1.0", "blue-green", reason=None, actor="me"))
    slots.make("green", "ready")
    first.step(r)  # → shifting, then the process "dies"
    record = ledger.get_deployment(r.id)
    assert record is not None
    resumed = load(ledger, record)
    assert resumed.phase is Phase.SHIFTING
    done = _run(_controller(ledger, slots, router), resumed, slots)
    assert done.phase is Phase.LIVE and router.live() == "1.1.0"


def test_starting_phase_without_a_process_starts_it_again(ledger: Ledger) -> None:
    """Killed after persisting ``starting`` but before the slot started: the next tick starts it."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    r = ctl.step(start(ledger, "1.0.0", "blue-green", reason=None, actor="me"))
    del slots.slots["blue"]
    ctl.step(r)
    assert slots.log == ["start blue 1.0.0", "start blue 1.0.0"]


def test_abort_before_any_step_leaves_the_live_version_routed(ledger: Ledger) -> None:
    """Aborting a deployment that has not started anything ends aborted; routes are untouched."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    pending = start(ledger, "1.1.0", "blue-green", reason=None, actor="me")
    aborted = transition(ledger, pending, Phase.ROLLING_BACK, reason="aborted by me", abort=True)
    r = _run(ctl, aborted, slots)
    assert r.phase is Phase.ABORTED and _state(ledger, r) is DeploymentState.ABORTED
    assert router.live() == "1.0.0" and slots.log == ["start blue 1.0.0"]


def test_abort_while_starting_stops_the_new_slot_and_keeps_the_old(ledger: Ledger) -> None:
    """Aborting while the new slot loads stops it and ends aborted with who asked."""
    slots, router = FakeSlots(), FakeRouter()
    ctl = _controller(ledger, slots, router)
    _run(ctl, start(ledger, "1.0.0", "blue-green", reason=None, actor="me"), slots)
    r = ctl.step(start(ledger, "1.1.0", "blue-green", reason=None, actor="me"))
    r = transition(ledger, r, Phase.ROLLING_BACK, reason="aborted by ci: wrong tag", abort=True)
    r = _run(ctl, r, slots, ready=False)
    assert r.phase is Phase.ABORTED and r.reason == "aborted by ci: wrong tag"
    assert slots.log[-1] == "stop green" and router.live() == "1.0.0"
