"""Patrol: counts failed probes in a row, alarms once per streak; heal_action picks the cure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import pytest

from ttsops.rollout import Patrol, PatrolState, heal_action


class Script:
    """A probe that answers a fixed sequence of results (None: ok; str: reason; Exception)."""

    def __init__(self, results: Iterable[str | None | Exception]) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self) -> str | None:
        result = self.results[self.calls]
        self.calls += 1
        if isinstance(result, Exception):
            raise result
        return result


def _patrol(
    results: Iterable[str | None | Exception],
    failures: int = 3,
    on_alarm: Callable[[list[str]], None] | None = None,
) -> tuple[Patrol, list[list[str]]]:
    alarms: list[list[str]] = []
    ticks = iter(range(1000, 10**6))
    patrol = Patrol(
        Script(results),
        interval_s=30.0,
        failures=failures,
        on_alarm=on_alarm or alarms.append,
        clock=lambda: float(next(ticks)),
    )
    return patrol, alarms


def test_a_fresh_patrol_has_checked_nothing() -> None:
    """Before the first check every counter is zero and no time is known."""
    patrol, _ = _patrol([])
    assert patrol.state == PatrolState(0, None, None, None, 0, 0)


def test_failures_in_a_row_are_counted_and_a_success_resets_them() -> None:
    """Each failure adds to the streak with its reason; a pass ends it and records the time."""
    patrol, alarms = _patrol(["HTTP 500: a", "HTTP 500: b", None, "timed out after 30 s"])
    first = patrol.check()
    assert (first.consecutive_failures, first.last_reason, first.last_ok_at) == (
        1,
        "HTTP 500: a",
        None,
    )
    assert patrol.check().consecutive_failures == 2
    passed = patrol.check()
    assert passed.consecutive_failures == 0
    assert passed.last_reason is None
    assert passed.last_ok_at == passed.last_check_at == 1002.0
    again = patrol.check()
    assert (again.consecutive_failures, again.checks, again.last_ok_at) == (1, 4, 1002.0)
    assert patrol.state == again
    assert alarms == []


def test_the_alarm_fires_once_at_the_threshold_with_the_streaks_reasons() -> None:
    """The third failure in a row alarms with all three reasons; the fourth and fifth do not."""
    reasons = ["HTTP 500: x", "connection refused", "empty audio", "HTTP 503: y", "HTTP 503: z"]
    patrol, alarms = _patrol([None, *reasons])
    patrol.check()
    states = [patrol.check() for _ in reasons]
    assert [s.consecutive_failures for s in states] == [1, 2, 3, 4, 5]
    assert [s.alarms for s in states] == [0, 0, 1, 1, 1]
    assert alarms == [reasons[:3]]


def test_a_success_rearms_the_alarm_for_the_next_streak() -> None:
    """After a pass, a new streak reaching the threshold alarms again."""
    patrol, alarms = _patrol(["a", "b", None, "c", None, "d", "e"], failures=2)
    for _ in range(7):
        patrol.check()
    assert alarms == [["a", "b"], ["d", "e"]]
    assert patrol.state.alarms == 2


def test_a_threshold_of_one_alarms_on_the_first_failure() -> None:
    """With failures=1 a single failed probe alarms."""
    patrol, alarms = _patrol(["HTTP 500: boom"], failures=1)
    assert patrol.check().alarms == 1
    assert alarms == [["HTTP 500: boom"]]


def test_an_exception_in_the_probe_counts_as_a_failure_with_its_message() -> None:
    """A probe that raises is a failed probe whose reason names the exception."""
    patrol, alarms = _patrol([RuntimeError("socket exploded"), OSError("disk gone")], failures=2)
    assert "socket exploded" in (patrol.check().last_reason or "")
    state = patrol.check()
    assert state.consecutive_failures == 2
    assert len(alarms) == 1
    assert "RuntimeError" in alarms[0][0]
    assert "disk gone" in alarms[0][1]


def test_an_exception_in_the_alarm_handler_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing handler does not break the patrol; the alarm still counts, once."""

    def explode(reasons: list[str]) -> None:
        raise ValueError("webhook module is broken")

    patrol, _ = _patrol(["a", "b", "c"], failures=2, on_alarm=explode)
    patrol.check()
    assert patrol.check().alarms == 1
    assert patrol.check().alarms == 1
    assert "the alarm handler failed" in caplog.text


def test_start_checks_on_its_interval_and_stop_is_immediate() -> None:
    """The thread probes every interval; stop() returns at once and no probe follows."""
    probed = threading.Event()
    calls: list[float] = []

    def probe() -> str | None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            probed.set()
        return None

    patrol = Patrol(probe, interval_s=0.01, failures=3, on_alarm=lambda r: None)
    patrol.start()
    assert probed.wait(10)
    patrol.stop()
    settled = len(calls)
    time.sleep(0.1)
    assert len(calls) == settled
    assert patrol.state.checks == settled >= 3

    hourly = Patrol(probe, interval_s=3600, failures=3, on_alarm=lambda r: None)
    hourly.start()
    began = time.monotonic()
    hourly.stop()
    assert time.monotonic() - began < 1.0
    assert hourly.state.checks == 0


def test_bad_settings_are_refused() -> None:
    """A threshold under 1 or an interval of 0 is a programming error, said at once."""
    with pytest.raises(ValueError, match="failures=0"):
        Patrol(lambda: None, interval_s=1, failures=0, on_alarm=lambda r: None)
    with pytest.raises(ValueError, match="interval_s=0"):
        Patrol(lambda: None, interval_s=0, failures=1, on_alarm=lambda r: None)


@pytest.mark.parametrize(
    ("live_for_s", "recent_s", "has_previous", "action"),
    [
        (60.0, 900.0, True, "rollback"),  # just went live and there is one to go back to
        (60.0, 900.0, False, "restart"),  # first version ever: nothing to roll back to
        (3600.0, 900.0, True, "restart"),  # served well for an hour: blame the process
        (900.0, 900.0, True, "restart"),  # exactly at the limit is no longer recent
        (None, 900.0, True, "restart"),  # unknown go-live time: do the safe thing
        (0.0, 0.0, True, "restart"),  # recent_s 0 turns rollback off
    ],
)
def test_heal_action(
    live_for_s: float | None, recent_s: float, has_previous: bool, action: str
) -> None:
    """Roll back a version that went live recently when a previous one exists; else restart."""
    assert heal_action(live_for_s, recent_s, has_previous) == action
