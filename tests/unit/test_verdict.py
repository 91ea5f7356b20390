"""The four-outcome verdict: how checks combine, and that missing data is never a pass."""

from __future__ import annotations

from ttsops.verdict import Check, Outcome, Verdict


def _check(name: str, outcome: Outcome) -> Check:
    return Check(name, outcome, f"{name} is {outcome.value}")


def test_all_passing_checks_pass() -> None:
    """Only when every check passes is the verdict a pass, with a one-line reason."""
    verdict = Verdict.from_checks([_check("a", Outcome.PASS), _check("b", Outcome.PASS)])
    assert verdict.outcome is Outcome.PASS
    assert verdict.passed
    assert verdict.reasons == ["all 2 checks passed"]


def test_fail_outranks_error_outranks_inconclusive() -> None:
    """The most severe outcome decides: fail, then error, then inconclusive."""
    checks = [
        _check("a", Outcome.INCONCLUSIVE),
        _check("b", Outcome.ERROR),
        _check("c", Outcome.PASS),
    ]
    assert Verdict.from_checks(checks).outcome is Outcome.ERROR
    assert Verdict.from_checks([*checks, _check("d", Outcome.FAIL)]).outcome is Outcome.FAIL
    assert Verdict.from_checks(checks[::2]).outcome is Outcome.INCONCLUSIVE


def test_no_checks_is_inconclusive() -> None:
    """A verdict with no evidence is inconclusive, never a pass."""
    verdict = Verdict.from_checks([])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert not verdict.passed


def test_reasons_name_what_did_not_pass() -> None:
    """The reasons list the message and every non-passing check, not the passing ones."""
    verdict = Verdict.of(Outcome.FAIL, "candidate did not load", [_check("ok", Outcome.PASS)])
    assert verdict.reasons == ["candidate did not load"]
    mixed = Verdict.from_checks([_check("ok", Outcome.PASS), _check("slow", Outcome.FAIL)])
    assert mixed.reasons == ["slow is fail"]
    assert mixed.to_dict()["checks"][1]["outcome"] == "fail"
