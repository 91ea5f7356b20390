"""Rounds: the gate judges after each round and stops once every answer it needs is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ttsops.gate.policy import judge
from ttsops.gate.results import Role, UtteranceResult
from ttsops.gate.rounds import annotate, decide, look_settings, plan_rounds
from ttsops.settings import GateSettings
from ttsops.verdict import Outcome, Verdict

RATE = 22050
SETTINGS = GateSettings()
PLAN = plan_rounds(30, 60, 10, 0.95)


def _results(
    role: Role, n: int, add: dict[str, float] | None = None, seed: int = 0
) -> list[UtteranceResult]:
    """n plausible utterances of one model, metrics shifted by ``add``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        metrics: dict[str, float | None] = {
            "ovrl": 3.2 + 0.15 * np.sin(i) + rng.normal(0, 0.01),
            "sig": 3.5,
            "bak": 4.1,
            "p808": 4.0 + 0.1 * np.cos(i) + rng.normal(0, 0.01),
            "wer": 0.2 + 0.05 * np.sin(3 * i),
            "rtf": 0.1 + 0.01 * np.cos(i),
            "latency_s": 0.3,
            "duration_s": 3.0 + i * 0.1,
            "sec_per_char": 0.08,
            "leading_silence_s": 0.05,
            "trailing_silence_s": 0.15,
            "longest_pause_s": 0.2,
            "clipping": 0.0,
            "lufs": -20.0,
        }
        for key, value in (add or {}).items():
            metrics[key] = float(metrics[key] or 0) + value
        out.append(UtteranceResult(role, f"s{i:02d}", "t", "t", metrics, "t", RATE, 0, 2.5))
    return out


def _look(cand: list[UtteranceResult], base: list[UtteranceResult]) -> Verdict:
    return judge(cand, base, look_settings(SETTINGS, PLAN), expected_rate=RATE)


def test_the_looks_are_fixed_before_the_first_round() -> None:
    """Rounds of 10 through the core 30 and the pool's 30 more: six looks, Bonferroni each."""
    assert PLAN.looks == (10, 20, 30, 40, 50, 60)
    assert PLAN.confidence == pytest.approx(1 - 0.05 / 6)
    assert plan_rounds(14, 14, 10, 0.95).looks == (10, 14)
    assert plan_rounds(5, 5, 10, 0.95).confidence == pytest.approx(0.95)


def test_a_broken_candidate_fails_after_the_first_round() -> None:
    """A 1.5-point OVRL drop on 10 sentences is a decided fail: the gate stops there."""
    verdict = _look(_results("candidate", 10, {"ovrl": -1.5}), _results("baseline", 10))
    decision = decide(verdict, 10, PLAN, SETTINGS)
    assert verdict.outcome is Outcome.FAIL
    assert decision.stop
    assert "ovrl_drop" in decision.decided_fail
    assert "failed after 10 sentences" in decision.why


def test_a_good_candidate_needs_the_whole_core_to_pass() -> None:
    """Every check passing on 10 sentences is not yet a pass; on the core 30 it is."""
    early = _look(_results("candidate", 10, seed=1), _results("baseline", 10, seed=2))
    assert early.outcome is Outcome.PASS
    assert not decide(early, 10, PLAN, SETTINGS).stop
    full = _look(_results("candidate", 30, seed=1), _results("baseline", 30, seed=2))
    decision = decide(full, 30, PLAN, SETTINGS)
    assert decision.stop
    assert decision.why == "every check passed on 30 sentences"


def test_an_undecided_check_asks_for_the_extended_pool() -> None:
    """A P.808 drop right at its limit after the core set continues instead of answering."""
    noisy = [
        replace(r, metrics={**r.metrics, "p808": (r.metrics["p808"] or 0) - 0.15 + 0.2 * (-1) ** i})
        for i, r in enumerate(_results("candidate", 30))
    ]
    verdict = _look(noisy, _results("baseline", 30))
    assert next(c for c in verdict.checks if c.name == "p808_drop").outcome is Outcome.INCONCLUSIVE
    decision = decide(verdict, 30, PLAN, SETTINGS)
    assert not decision.stop
    assert "p808_drop" in decision.undecided


def test_still_undecided_when_the_pool_is_spent_is_inconclusive_never_a_pass() -> None:
    """At the last look an open check stops the gate as inconclusive, and says so."""
    noisy = [
        replace(r, metrics={**r.metrics, "p808": (r.metrics["p808"] or 0) - 0.15 + 0.2 * (-1) ** i})
        for i, r in enumerate(_results("candidate", 60))
    ]
    verdict = _look(noisy, _results("baseline", 60))
    decision = decide(verdict, 60, PLAN, SETTINGS)
    final = annotate(verdict, decision, 60, PLAN)
    assert decision.stop
    assert final.outcome is Outcome.INCONCLUSIVE
    assert any("even with the extended pool: all 60 sentences" in r for r in final.reasons)


def test_a_share_check_fails_early_only_when_the_core_cannot_undo_it() -> None:
    """2 bad of 10 (20%) may still end ≤ 10% of 30; 4 bad of 10 cannot: that one stops."""

    def with_bad(bad: int) -> Verdict:
        cand = _results("candidate", 10)
        cand = [
            replace(r, metrics={**r.metrics, "clipping": 0.5}) if i < bad else r
            for i, r in enumerate(cand)
        ]
        return _look(cand, _results("baseline", 10))

    assert not decide(with_bad(2), 10, PLAN, SETTINGS).stop
    decision = decide(with_bad(4), 10, PLAN, SETTINGS)
    assert decision.stop
    assert decision.decided_fail == ("signal_sanity",)


def test_sentences_that_fail_to_synthesize_stop_the_gate_as_a_fail() -> None:
    """A sentence that did not synthesize stays failed: missing data is never a pass."""
    cand = _results("candidate", 10)
    cand[3] = replace(cand[3], metrics={}, error="boom")
    verdict = _look(cand, _results("baseline", 10))
    decision = decide(verdict, 10, PLAN, SETTINGS)
    final = annotate(verdict, decision, 10, PLAN)
    assert decision.stop
    assert final.outcome is Outcome.FAIL
    assert "synthesis" in decision.decided_fail
