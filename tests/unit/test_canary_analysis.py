"""Canary analysis: scrapes to windows, windows to a verdict, verdicts to a decision."""

from __future__ import annotations

import json
import math

import pytest

from ttsops.rollout.analysis import (
    BROKEN,
    SPEECH_ROUTE,
    Action,
    Scrape,
    Tally,
    Window,
    analyze,
    decide,
    parse_scrape,
    quantile,
    window,
)
from ttsops.server.metrics import ServerMetrics
from ttsops.settings import CanarySettings
from ttsops.verdict import Check, Outcome, Verdict

POLICY = CanarySettings()
GOOD_OVRL = (3.1, 3.2, 3.0)


def _record(m: ServerMetrics, status: str, seconds: float, n: int = 1) -> None:
    for _ in range(n):
        m.requests.labels(route=SPEECH_ROUTE, status=status).inc()
        m.latency.labels(route=SPEECH_ROUTE).observe(seconds)


def _noise(m: ServerMetrics) -> None:
    """Requests on another route, which the analysis must ignore."""
    for _ in range(7):
        m.requests.labels(route="/healthz", status="500").inc()
        m.latency.labels(route="/healthz").observe(50.0)


def _check(verdict: Verdict, name: str) -> Check:
    return next(c for c in verdict.checks if c.name == name)


# --- parse_scrape -------------------------------------------------------------------------


def test_parse_scrape_reads_the_speech_route_from_real_exposition_text() -> None:
    """Status counts and cumulative latency buckets come from a real replica's /metrics."""
    m = ServerMetrics()
    _record(m, "200", 0.3, n=8)
    _record(m, "503", 3.0, n=2)
    _noise(m)

    scrape = parse_scrape(m.render().decode(), at=12.5)

    assert scrape.at == 12.5
    assert scrape.statuses == {"200": 8.0, "503": 2.0}
    bounds = [le for le, _ in scrape.buckets]
    assert bounds == [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, math.inf]
    counts = dict(scrape.buckets)
    assert counts[0.25] == 0
    assert counts[0.5] == 8
    assert counts[2] == 8
    assert counts[4] == 10
    assert counts[math.inf] == 10


def test_parse_scrape_can_read_another_route() -> None:
    """The route argument picks whose counters are read."""
    m = ServerMetrics()
    _record(m, "200", 0.3)
    _noise(m)

    scrape = parse_scrape(m.render().decode(), at=0.0, route="/healthz")

    assert scrape.statuses == {"500": 7.0}
    assert dict(scrape.buckets)[math.inf] == 7


def test_parse_scrape_without_the_metrics_is_empty() -> None:
    """A replica that has not served the route yet yields an empty scrape, not an error."""
    fresh = parse_scrape(ServerMetrics().render().decode(), at=1.0)
    assert fresh == Scrape(1.0, {}, ())
    assert parse_scrape("", at=2.0) == Scrape(2.0, {}, ())


# --- window -------------------------------------------------------------------------------


def test_window_is_the_difference_between_two_real_scrapes() -> None:
    """Only what happened between the scrapes counts, including a status seen first."""
    m = ServerMetrics()
    _record(m, "200", 0.3, n=10)
    before = parse_scrape(m.render().decode(), at=100.0)
    _record(m, "200", 0.3, n=8)
    _record(m, "503", 3.0, n=2)
    _noise(m)
    after = parse_scrape(m.render().decode(), at=130.0)

    w = window(before, after, ovrl=[3.1, 3.0])

    assert w.requests == 10
    assert w.errors == 2
    assert w.error_rate == pytest.approx(0.2)
    # rank 9.5 of 10 falls in (2, 4] holding counts 9 and 10: 2 + 2 * 1.5 / 2
    assert w.p95_s == pytest.approx(3.5)
    assert w.ovrl == (3.1, 3.0)


def test_a_stream_that_broke_after_its_200_is_an_error_not_another_request() -> None:
    """ttsops_broken_streams: answered 200 (counted once), then cut: one more error."""
    m = ServerMetrics()
    _record(m, "200", 0.3, n=4)
    before = parse_scrape(m.render().decode(), at=0.0)
    assert BROKEN not in before.statuses
    _record(m, "200", 0.3, n=6)
    m.broken.inc(2)
    after = parse_scrape(m.render().decode(), at=30.0)

    w = window(before, after)

    assert (w.requests, w.errors) == (6, 2)
    verdict = analyze(w, Window(30, 0, 0.3, GOOD_OVRL), POLICY)
    assert _check(verdict, "error_rate").outcome is Outcome.FAIL


def test_window_after_a_restart_uses_the_new_counters_alone() -> None:
    """A counter that went down means the slot restarted; its new counters are the window."""
    before = Scrape(0.0, {"200": 50.0}, ((0.5, 50.0), (math.inf, 50.0)))
    after = Scrape(30.0, {"200": 7.0, "503": 1.0}, ((0.5, 6.0), (math.inf, 8.0)))

    w = window(before, after)

    assert (w.requests, w.errors) == (8, 1)
    assert w.p95_s == 0.5


def test_window_detects_a_restart_from_the_histogram_alone() -> None:
    """Latency buckets that went down also mark a restart, even if statuses grew."""
    before = Scrape(0.0, {"200": 5.0}, ((1.0, 5.0), (math.inf, 5.0)))
    after = Scrape(30.0, {"200": 9.0}, ((1.0, 3.0), (math.inf, 4.0)))

    w = window(before, after)

    assert w.requests == 9
    assert w.p95_s == 1.0  # rank 3.8 of 4 falls in +Inf: the largest finite bound


def test_window_without_requests_has_no_p95() -> None:
    """A window with no requests has no error rate and no latency p95."""
    scrape = Scrape(0.0, {"200": 4.0}, ((0.5, 4.0), (math.inf, 4.0)))
    w = window(scrape, Scrape(30.0, scrape.statuses, scrape.buckets))
    assert (w.requests, w.errors, w.p95_s, w.error_rate) == (0, 0, None, None)


# --- quantile -----------------------------------------------------------------------------

BUCKETS = ((0.1, 2.0), (0.5, 10.0), (1.0, 18.0), (math.inf, 20.0))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.05, 0.05),  # rank 1 in (0, 0.1] holding 2: 0 + 0.1 * 1/2
        (0.5, 0.5),  # rank 10 is the top of (0.1, 0.5]
        (0.75, 0.8125),  # rank 15 in (0.5, 1] holding 11..18: 0.5 + 0.5 * 5/8
        (0.9, 1.0),  # rank 18 is the top of (0.5, 1]
        (0.95, 1.0),  # rank 19 in +Inf: the largest finite bound
    ],
)
def test_quantile_interpolates_like_promql(q: float, expected: float) -> None:
    """Quantiles interpolate inside their bucket, from 0 for the first, capped below +Inf."""
    assert quantile(BUCKETS, q) == pytest.approx(expected)


def test_quantile_of_an_empty_histogram_is_none() -> None:
    """No observations give no quantile rather than a made-up number."""
    assert quantile(((0.5, 0.0), (math.inf, 0.0)), 0.95) is None
    assert quantile((), 0.95) is None


def test_quantile_refuses_q_outside_0_to_1() -> None:
    """A q outside 0..1 is a programming error and says which value was given."""
    with pytest.raises(ValueError, match=r"got 95"):
        quantile(BUCKETS, 95)


# --- analyze ------------------------------------------------------------------------------


def test_a_healthy_canary_passes_all_three_checks() -> None:
    """Similar errors, latency and audio quality on both slots pass."""
    canary = Window(24, 0, 0.42, GOOD_OVRL)
    stable = Window(30, 0, 0.40, (3.0, 3.1, 3.2))

    verdict = analyze(canary, stable, POLICY)

    assert verdict.outcome is Outcome.PASS
    assert [c.name for c in verdict.checks] == ["error_rate", "latency_p95", "audio_quality"]
    assert all(c.outcome is Outcome.PASS for c in verdict.checks)


def test_error_rate_above_the_limit_fails_with_the_numbers() -> None:
    """A canary failing 3 of 24 requests while stable fails none fails, saying so."""
    verdict = analyze(Window(24, 3, 0.4, GOOD_OVRL), Window(30, 0, 0.4, GOOD_OVRL), POLICY)

    check = _check(verdict, "error_rate")
    assert verdict.outcome is Outcome.FAIL
    assert check.outcome is Outcome.FAIL
    assert check.reason == (
        "canary error rate 12.5% (3 of 24 requests) is above the limit 2.0% (stable 0.0% of 30)"
    )
    assert check.observed == pytest.approx(0.125)
    assert check.limit == pytest.approx(0.02)
    assert check.details["canary"]["errors"] == 3
    assert check.details["stable"]["requests"] == 30


def test_errors_the_stable_slot_has_too_are_not_blamed_on_the_canary() -> None:
    """With stable at 10% errors the limit rises to 11%: 10% passes, 12.5% still fails."""
    stable = Window(30, 3, 0.4, GOOD_OVRL)

    same = _check(analyze(Window(20, 2, 0.4, GOOD_OVRL), stable, POLICY), "error_rate")
    worse = _check(analyze(Window(24, 3, 0.4, GOOD_OVRL), stable, POLICY), "error_rate")
    alone = _check(analyze(Window(20, 2, 0.4, GOOD_OVRL), Window(30, 0, 0.4), POLICY), "error_rate")

    assert same.outcome is Outcome.PASS
    assert same.limit == pytest.approx(0.11)
    assert "within the limit 11.0% (stable 10.0% of 30)" in same.reason
    assert worse.outcome is Outcome.FAIL
    assert alone.outcome is Outcome.FAIL


def test_stable_errors_count_only_with_enough_stable_requests() -> None:
    """A stable slot with too few requests does not raise the canary's error limit."""
    check = _check(analyze(Window(20, 2, 0.4), Window(3, 2, 0.4), POLICY), "error_rate")

    assert check.outcome is Outcome.FAIL
    assert check.limit == pytest.approx(0.02)
    assert "stable 2 of 3, too few to count" in check.reason


def test_error_rate_on_the_limit_passes_despite_float_rounding() -> None:
    """A rate equal to the limit is not above it, though 0.06 + 0.01 < 0.07 in floats."""
    policy = CanarySettings(max_error_rate=0.0, max_error_rate_increase=0.01)
    # stable 6 of 100: the limit 0.06 + 0.01 is 0.06999999999999999, canary 7 of 100 is 0.07
    check = _check(analyze(Window(100, 7, 0.4), Window(100, 6, 0.4), policy), "error_rate")
    assert check.outcome is Outcome.PASS
    check = _check(analyze(Window(100, 8, 0.4), Window(100, 6, 0.4), policy), "error_rate")
    assert check.outcome is Outcome.FAIL


def test_too_few_canary_requests_is_inconclusive_even_if_all_failed() -> None:
    """A canary with 4 failed requests of 4 is inconclusive, and never a pass."""
    verdict = analyze(Window(4, 4, 0.4, GOOD_OVRL), Window(30, 0, 0.4, GOOD_OVRL), POLICY)

    check = _check(verdict, "error_rate")
    assert check.outcome is Outcome.INCONCLUSIVE
    assert check.reason == (
        "canary answered 4 requests, fewer than the 5 needed to judge its error rate"
    )
    assert verdict.outcome is Outcome.INCONCLUSIVE


def test_a_canary_that_answers_nothing_is_inconclusive() -> None:
    """No requests and no scored probes leave every check inconclusive, not passing."""
    verdict = analyze(Window(0, 0, None), Window(30, 0, 0.4, GOOD_OVRL), POLICY)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert {c.outcome for c in verdict.checks} == {Outcome.INCONCLUSIVE}


def test_a_much_slower_canary_fails_latency() -> None:
    """p95 1.0 s against stable 0.4 s is above both 1.5× and the 0.25 s slack: fail."""
    verdict = analyze(Window(24, 0, 1.0, GOOD_OVRL), Window(30, 0, 0.4, GOOD_OVRL), POLICY)

    check = _check(verdict, "latency_p95")
    assert verdict.outcome is Outcome.FAIL
    assert check.outcome is Outcome.FAIL
    assert check.observed == 1.0
    assert check.limit == pytest.approx(0.65)  # max(0.4 * 1.5, 0.4 + 0.25)
    assert check.reason.startswith("canary latency p95 1.00 s is above the limit 0.65 s")
    assert "stable p95 0.40 s" in check.reason
    assert check.details["stable"]["p95_s"] == 0.4


@pytest.mark.parametrize(
    ("canary_p95", "stable_p95", "outcome"),
    [
        (0.30, 0.10, Outcome.PASS),  # 3× slower but only 0.2 s: within the slack
        (0.36, 0.10, Outcome.FAIL),  # 3.6× and 0.26 s slower
        (2.90, 2.00, Outcome.PASS),  # 0.9 s slower but only 1.45×
        (3.10, 2.00, Outcome.FAIL),  # 1.55× and 1.1 s slower
    ],
)
def test_latency_fails_only_above_both_the_ratio_and_the_slack(
    canary_p95: float, stable_p95: float, outcome: Outcome
) -> None:
    """A latency failure needs both the ratio and the absolute slack to be exceeded."""
    verdict = analyze(Window(24, 0, canary_p95), Window(30, 0, stable_p95), POLICY)
    assert _check(verdict, "latency_p95").outcome is outcome


def test_latency_needs_enough_requests_on_both_slots() -> None:
    """Too few stable requests make latency inconclusive even if the canary is slow."""
    check = _check(analyze(Window(24, 0, 5.0), Window(4, 0, 0.4), POLICY), "latency_p95")
    assert check.outcome is Outcome.INCONCLUSIVE
    assert check.reason == (
        "24 canary and 4 stable requests, fewer than the 5 each slot needs to compare latency p95"
    )


def test_latency_without_a_histogram_is_inconclusive() -> None:
    """Requests counted but no latency histogram is missing data, not a pass."""
    check = _check(analyze(Window(24, 0, None), Window(30, 0, 0.4), POLICY), "latency_p95")
    assert check.outcome is Outcome.INCONCLUSIVE
    assert "canary slot reported no latency histogram for its 24 requests" in check.reason


def test_worse_audio_fails_quality() -> None:
    """Canary probes 0.4 below stable in mean OVRL exceed the allowed 0.3 drop."""
    canary = Window(24, 0, 0.4, (2.8, 2.9, 2.7))
    stable = Window(30, 0, 0.4, (3.2, 3.3, 3.1))

    check = _check(analyze(canary, stable, POLICY), "audio_quality")

    assert check.outcome is Outcome.FAIL
    assert check.observed == pytest.approx(0.4)
    assert check.limit == pytest.approx(0.3)
    assert check.reason == (
        "canary mean DNSMOS OVRL 2.80 (3 probes) is 0.40 below the stable slot's 3.20 "
        "(3 probes), more than the allowed drop 0.30"
    )
    assert check.details["canary"]["mean_ovrl"] == pytest.approx(2.8)


def test_a_small_audio_drop_passes() -> None:
    """A 0.2 drop in mean OVRL is within the allowed 0.3."""
    canary = Window(24, 0, 0.4, (3.0, 3.1, 2.9))
    stable = Window(30, 0, 0.4, (3.2, 3.3, 3.1))
    check = _check(analyze(canary, stable, POLICY), "audio_quality")
    assert check.outcome is Outcome.PASS
    assert check.observed == pytest.approx(0.2)


def test_too_few_scored_probes_is_inconclusive() -> None:
    """Fewer than min_scored probes on either slot leave audio quality inconclusive."""
    canary = Window(24, 0, 0.4, (1.0, 1.0))
    check = _check(analyze(canary, Window(30, 0, 0.4, GOOD_OVRL), POLICY), "audio_quality")
    assert check.outcome is Outcome.INCONCLUSIVE
    assert check.reason.startswith("2 canary and 3 stable probes were scored with DNSMOS")

    policy = CanarySettings(min_scored=2)
    check = _check(analyze(canary, Window(30, 0, 0.4, GOOD_OVRL), policy), "audio_quality")
    assert check.outcome is Outcome.FAIL


# --- decide -------------------------------------------------------------------------------


def _verdict(*checks: tuple[str, Outcome]) -> Verdict:
    return Verdict.from_checks(Check(n, o, f"{n} reason") for n, o in checks)


def test_a_pass_advances_and_resets_the_runs_but_keeps_failures() -> None:
    """A pass advances; inconclusive and error runs restart, failures stay for the deployment."""
    tally = Tally({"latency_p95": 1}, inconclusive=2, errors=1)
    verdict = _verdict(("error_rate", Outcome.PASS), ("latency_p95", Outcome.PASS))

    decision = decide(verdict, tally, POLICY)

    assert decision.action is Action.ADVANCE
    assert decision.tally == Tally({"latency_p95": 1})
    assert "error_rate reason" in decision.reason


def test_a_failure_within_its_limit_holds_and_repeats_the_window() -> None:
    """A first latency failure (limit 1) holds, counting it, and the second rolls back."""
    verdict = _verdict(("error_rate", Outcome.PASS), ("latency_p95", Outcome.FAIL))

    first = decide(verdict, Tally(inconclusive=2, errors=1), POLICY)

    assert first.action is Action.HOLD
    assert first.tally == Tally({"latency_p95": 1})
    assert first.reason == (
        "latency_p95 failed 1 analysis (limit 1): latency_p95 reason; repeating the window"
    )

    second = decide(verdict, first.tally, POLICY)

    assert second.action is Action.ROLLBACK
    assert second.tally.failures == {"latency_p95": 2}
    assert second.reason == "latency_p95 failed 2 analyses (limit 1): latency_p95 reason"


def test_failures_count_over_the_whole_deployment() -> None:
    """A pass between two latency failures does not forgive the first."""
    fail = _verdict(("latency_p95", Outcome.FAIL))
    tally = decide(fail, Tally(), POLICY).tally
    tally = decide(_verdict(("latency_p95", Outcome.PASS)), tally, POLICY).tally
    assert decide(fail, tally, POLICY).action is Action.ROLLBACK


def test_an_error_rate_failure_rolls_back_at_once_with_the_check_reason() -> None:
    """The default error_rate limit is 0: the first failure rolls back, quoting the check."""
    canary, stable = Window(24, 3, 0.4, GOOD_OVRL), Window(30, 0, 0.4, GOOD_OVRL)

    decision = decide(analyze(canary, stable, POLICY), Tally(), POLICY)

    assert decision.action is Action.ROLLBACK
    assert decision.reason == (
        "error_rate failed 1 analysis (limit 0): canary error rate 12.5% (3 of 24 requests) "
        "is above the limit 2.0% (stable 0.0% of 30)"
    )


def test_a_rollback_names_every_failing_check() -> None:
    """With several checks failing, the reason names each with its count and limit."""
    verdict = _verdict(
        ("error_rate", Outcome.FAIL),
        ("latency_p95", Outcome.FAIL),
        ("audio_quality", Outcome.PASS),
    )

    decision = decide(verdict, Tally(), POLICY)

    assert decision.action is Action.ROLLBACK
    assert "error_rate failed 1 analysis (limit 0): error_rate reason" in decision.reason
    assert "latency_p95 failed 1 analysis (limit 1): latency_p95 reason" in decision.reason
    assert "audio_quality" not in decision.reason
    assert decision.tally.failures == {"error_rate": 1, "latency_p95": 1}


def test_checks_missing_from_failure_limits_get_zero() -> None:
    """A configured failure_limits without a check allows that check no failure."""
    policy = CanarySettings(failure_limits={"error_rate": 2})
    assert decide(_verdict(("error_rate", Outcome.FAIL)), Tally(), policy).action is Action.HOLD
    decision = decide(_verdict(("audio_quality", Outcome.FAIL)), Tally(), policy)
    assert decision.action is Action.ROLLBACK
    assert "audio_quality failed 1 analysis (limit 0)" in decision.reason


def test_a_failed_verdict_without_failed_checks_rolls_back() -> None:
    """A fail decided outright counts as a failed analysis with no allowance."""
    decision = decide(Verdict.of(Outcome.FAIL, "canary slot died"), Tally(), POLICY)
    assert decision.action is Action.ROLLBACK
    assert "canary slot died" in decision.reason


def test_inconclusive_analyses_hold_until_the_limit_then_roll_back() -> None:
    """Three inconclusive windows in a row hold; the fourth rolls back: no data, no pass."""
    verdict = _verdict(("error_rate", Outcome.INCONCLUSIVE), ("latency_p95", Outcome.PASS))
    tally = Tally({"latency_p95": 1})
    for n in (1, 2, 3):
        decision = decide(verdict, tally, POLICY)
        assert decision.action is Action.HOLD
        assert decision.tally == Tally({"latency_p95": 1}, inconclusive=n)
        tally = decision.tally

    decision = decide(verdict, tally, POLICY)

    assert decision.action is Action.ROLLBACK
    assert decision.reason == (
        "no verdict after 4 analyses in a row: error_rate reason; missing data is never a pass"
    )


def test_an_inconclusive_limit_of_zero_rolls_back_at_once() -> None:
    """With inconclusive_limit 0 the first inconclusive window rolls back."""
    policy = CanarySettings(inconclusive_limit=0)
    decision = decide(_verdict(("audio_quality", Outcome.INCONCLUSIVE)), Tally(), policy)
    assert decision.action is Action.ROLLBACK


def test_errors_hold_until_the_limit_then_roll_back() -> None:
    """Scrapes that fail hold the step until error_limit is passed, quoting the message."""
    verdict = Verdict.of(Outcome.ERROR, "scrape of the canary failed: connection refused")
    policy = CanarySettings(error_limit=1)

    first = decide(verdict, Tally(), policy)
    second = decide(verdict, first.tally, policy)

    assert first.action is Action.HOLD
    assert first.tally.errors == 1
    assert "connection refused" in first.reason
    assert second.action is Action.ROLLBACK
    assert second.tally.errors == 2
    assert "2 analyses in a row (limit 1)" in second.reason
    assert "connection refused" in second.reason


def test_a_failure_resets_the_inconclusive_and_error_runs() -> None:
    """A failed analysis within its limit ends the runs of inconclusive and error analyses."""
    decision = decide(_verdict(("latency_p95", Outcome.FAIL)), Tally(inconclusive=3), POLICY)
    assert decision.tally == Tally({"latency_p95": 1})
    nxt = decide(_verdict(("error_rate", Outcome.INCONCLUSIVE)), decision.tally, POLICY)
    assert nxt.action is Action.HOLD


def test_alternating_errors_and_inconclusives_cannot_hold_forever() -> None:
    """An error does not reset the inconclusive run, nor an inconclusive the error run."""
    error = Verdict.of(Outcome.ERROR, "scrape failed")
    inconclusive = _verdict(("error_rate", Outcome.INCONCLUSIVE))
    tally = Tally(inconclusive=3)

    tally = decide(error, tally, POLICY).tally
    assert tally == Tally(inconclusive=3, errors=1)
    assert decide(inconclusive, tally, POLICY).action is Action.ROLLBACK


# --- persistence --------------------------------------------------------------------------


def test_window_survives_a_json_round_trip() -> None:
    """A window persisted as JSON in the ledger reads back equal."""
    for w in (Window(24, 3, 0.42, (3.1, 2.9)), Window(0, 0, None)):
        assert Window.from_dict(json.loads(json.dumps(w.to_dict()))) == w


def test_tally_survives_a_json_round_trip() -> None:
    """A tally persisted with the rollout reads back equal; an empty record is a fresh tally."""
    tally = Tally({"latency_p95": 1, "audio_quality": 2}, inconclusive=1, errors=2)
    assert Tally.from_dict(json.loads(json.dumps(tally.to_dict()))) == tally
    assert Tally.from_dict({}) == Tally()
