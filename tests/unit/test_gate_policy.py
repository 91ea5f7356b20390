"""The gate's rules on measured results: floors, paired regressions, signal sanity."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ttsops.gate.policy import judge, sanity_problems
from ttsops.gate.results import Role, UtteranceResult
from ttsops.settings import GateSettings
from ttsops.verdict import Outcome, Verdict

RATE = 22050
SETTINGS = GateSettings()


def _results(
    role: Role,
    n: int = 20,
    seed: int = 0,
    add: dict[str, float] | None = None,
    scale: dict[str, float] | None = None,
) -> list[UtteranceResult]:
    """n plausible utterances of one model, with metrics shifted by ``add`` or ``scale``."""
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
        for key, value in (scale or {}).items():
            metrics[key] = float(metrics[key] or 0) * value
        out.append(
            UtteranceResult(
                role, f"s{i:02d}", "text", "text", metrics, "text", RATE, 0, 2.5, None, {}
            )
        )
    return out


def _judge(cand: list[UtteranceResult], base: list[UtteranceResult], **kw: Any) -> Verdict:
    return judge(cand, base, SETTINGS.model_copy(update=kw), expected_rate=RATE)


def _outcomes(verdict: Verdict) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in verdict.checks}


def test_an_equal_candidate_passes_every_check() -> None:
    """A candidate that scores like the baseline passes, with every check passing."""
    verdict = _judge(_results("candidate", seed=1), _results("baseline", seed=2))
    assert verdict.outcome is Outcome.PASS, verdict.reasons
    assert set(_outcomes(verdict).values()) == {Outcome.PASS}


def test_a_mos_drop_beyond_the_limit_fails_and_names_it() -> None:
    """A 0.3 OVRL drop on every sentence fails ovrl_drop with the numbers in the reason."""
    verdict = _judge(_results("candidate", add={"ovrl": -0.3}), _results("baseline"))
    assert verdict.outcome is Outcome.FAIL
    assert _outcomes(verdict)["ovrl_drop"] is Outcome.FAIL
    reason = next(r for r in verdict.reasons if "OVRL" in r)
    assert "dropped 0.30" in reason
    assert "at most 0.1" in reason


def test_a_slower_candidate_fails_the_speed_ratio() -> None:
    """Three times the real-time factor of the baseline fails rtf_ratio: 'slower'."""
    verdict = _judge(_results("candidate", scale={"rtf": 3.0}), _results("baseline"))
    assert _outcomes(verdict)["rtf_ratio"] is Outcome.FAIL
    assert any("slower" in r for r in verdict.reasons)


def test_one_noisy_sentence_does_not_decide() -> None:
    """A single sentence with a large drop leaves the OVRL check short of a fail."""
    cand = _results("candidate")
    cand[3] = replace(cand[3], metrics={**cand[3].metrics, "ovrl": 1.5})
    verdict = _judge(cand, _results("baseline"))
    assert _outcomes(verdict)["ovrl_drop"] is not Outcome.FAIL


def test_an_interval_straddling_the_limit_is_inconclusive() -> None:
    """A drop right at the limit with noisy pairs is inconclusive, which is not a pass."""
    rng = np.random.default_rng(5)
    cand = [
        replace(
            r, metrics={**r.metrics, "ovrl": (r.metrics["ovrl"] or 0) - 0.1 + rng.normal(0, 0.2)}
        )
        for r in _results("candidate")
    ]
    verdict = _judge(cand, _results("baseline"))
    assert _outcomes(verdict)["ovrl_drop"] is Outcome.INCONCLUSIVE
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any("straddles" in r for r in verdict.reasons)


def test_too_few_sentences_are_inconclusive() -> None:
    """Three scored pairs are below min_utterances: the comparisons are inconclusive."""
    verdict = _judge(_results("candidate", n=3), _results("baseline", n=3))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any("only 3 sentences" in r for r in verdict.reasons)


def test_failed_synthesis_fails_the_gate() -> None:
    """A sentence the candidate could not synthesize fails, quoting the error."""
    cand = _results("candidate")
    cand[0] = replace(cand[0], metrics={}, error="piper failed on 'text'")
    verdict = _judge(cand, _results("baseline"))
    assert _outcomes(verdict)["synthesis"] is Outcome.FAIL
    assert any("piper failed" in r for r in verdict.reasons)


def test_silence_and_wrong_rate_are_sanity_failures() -> None:
    """Silent audio and a sample rate other than the manifest's are named problems."""
    silent = replace(_results("candidate", n=1)[0], speech_s=0.0)
    assert sanity_problems(silent, SETTINGS, RATE) == ["silent"]
    wrong = replace(_results("candidate", n=1)[0], sample_rate=16000)
    assert sanity_problems(wrong, SETTINGS, RATE) == ["sample rate 16000 Hz, manifest says 22050"]
    cand = [replace(r, speech_s=0.0) for r in _results("candidate")]
    verdict = _judge(cand, _results("baseline"))
    assert _outcomes(verdict)["signal_sanity"] is Outcome.FAIL
    assert any("silent" in r for r in verdict.reasons)


def test_thresholds_come_from_settings() -> None:
    """Raising the allowed OVRL drop turns the same results from fail into pass."""
    cand, base = _results("candidate", add={"ovrl": -0.3}), _results("baseline")
    assert _outcomes(_judge(cand, base))["ovrl_drop"] is Outcome.FAIL
    assert _outcomes(_judge(cand, base, max_ovrl_drop=0.5))["ovrl_drop"] is Outcome.PASS


def test_nan_audio_fails_the_finite_check() -> None:
    """Any NaN/inf sample fails 'finite'."""
    cand = _results("candidate")
    cand[2] = replace(cand[2], nonfinite=12)
    assert _outcomes(_judge(cand, _results("baseline")))["finite"] is Outcome.FAIL
