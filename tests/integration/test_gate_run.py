"""`run_gate` on real derived candidates: what passes, what fails, and the reasons it gives.

Each candidate is gated once against joe on a short slice of the shipped set (module
fixtures), and several tests read the same report. The pass case uses 14 short sentences
(two looks, 10 and 14); the fail cases use 5 (the fewest a verdict may rest on): a broken
model fails by a wide margin. The cache tests gate 5 sentences twice with a SQLite ledger
as the score cache; one broken gate runs on the whole shipped set to show it stops early.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from gate_fixtures import derived, unloadable_bundle  # noqa: F401 - fixtures

from ttsops.errors import GateError
from ttsops.gate import EvalSet, GateReport, Outcome, load_eval_set, run_gate
from ttsops.registry import Ledger
from ttsops.settings import GateSettings

SHORT_IDS = (
    "pangram-01",
    "questions-01",
    "numbers-04",
    "questions-02",
    "numbers-06",
    "tongue-twister-01",
    "questions-03",
    "punctuation-02",
    "short-01",
    "punctuation-04",
    "questions-04",
    "punctuation-01",
    "punctuation-03",
    "names-03",
)


def _sentences(count: int) -> EvalSet:
    shipped = load_eval_set()
    chosen = tuple(u for u in shipped.utterances if u.id in SHORT_IDS[:count])
    return replace(shipped, utterances=chosen, extra=())


def _gate(candidate: Path, baseline: Path, count: int, **kw: object) -> GateReport:
    return run_gate(candidate, baseline, settings=GateSettings(), eval_set=_sentences(count), **kw)


def _outcomes(report: GateReport) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in report.verdict.checks}


@pytest.fixture(scope="module")
def retrained(
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[GateReport, Path]:
    """joe@1.1.0 (perturb 0.01) gated against joe on 14 sentences, audio kept."""
    audio = tmp_path_factory.mktemp("gate-audio")
    progress: list[int] = []
    report = _gate(
        derived("retrained"),
        joe_bundle,
        14,
        audio_dir=audio,
        on_progress=lambda done, total, result: progress.append(done),
    )
    assert progress[0] == 0
    assert progress[-1] == 28
    return report, audio


@pytest.fixture(scope="module")
def broken(derived: Callable[[str], Path], joe_bundle: Path) -> GateReport:  # noqa: F811
    """joe@1.3.0 (perturb 0.5) gated against joe on 5 sentences."""
    return _gate(derived("broken"), joe_bundle, 5)


@pytest.fixture(scope="module")
def int8(derived: Callable[[str], Path], joe_bundle: Path) -> GateReport:  # noqa: F811
    """joe@1.4.0 (int8) gated against joe on 5 sentences."""
    return _gate(derived("int8"), joe_bundle, 5)


def test_a_retrained_voice_passes(retrained: tuple[GateReport, Path]) -> None:
    """perturb 0.01 — inaudibly different — passes every check."""
    report, _ = retrained
    assert report.verdict.outcome is Outcome.PASS, report.to_markdown()
    assert report.candidate.ref == "joe@1.1.0"
    assert report.candidate.recipe == "perturb sigma=0.01 seed=0"


def test_the_pass_rests_on_real_scores(retrained: tuple[GateReport, Path]) -> None:
    """Both models have DNSMOS near 3.2, a WER, an RTF and a transcript for every sentence."""
    report, _ = retrained
    for role in ("candidate", "baseline"):
        results = report.results(role)
        assert len(results) == 14
        assert all(r.transcript for r in results)
        assert all(r.metrics["rtf"] for r in results)
        ovrl = [r.metrics["ovrl"] or 0.0 for r in results]
        assert 2.9 < sum(ovrl) / len(ovrl) < 3.6
    by_name = {s.metric.name: s for s in report.summaries}
    assert by_name["ovrl"].delta is not None
    assert abs(by_name["ovrl"].delta.estimate) < 0.1


def test_the_audio_is_kept_for_listening(retrained: tuple[GateReport, Path]) -> None:
    """With an audio dir, every spoken sentence of both models is a WAV file in it."""
    _, audio = retrained
    assert len(list((audio / "candidate").glob("*.wav"))) == 14
    assert (audio / "baseline" / "pangram-01.wav").stat().st_size > 10_000


def test_a_broken_voice_fails_on_quality_and_intelligibility(broken: GateReport) -> None:
    """perturb 0.5 fails the DNSMOS floors, the WER ceiling and the regression limits."""
    outcomes = _outcomes(broken)
    assert broken.verdict.outcome is Outcome.FAIL
    for name in ("ovrl_floor", "p808_floor", "wer_ceiling", "ovrl_drop", "wer_rise"):
        assert outcomes[name] is Outcome.FAIL, name


def test_int8_fails_on_speed_and_mos(int8: GateReport) -> None:
    """int8 is slower on this CPU and sounds worse: the reasons name both."""
    outcomes = _outcomes(int8)
    assert int8.verdict.outcome is Outcome.FAIL
    assert outcomes["rtf_ratio"] is Outcome.FAIL
    assert outcomes["p808_drop"] is Outcome.FAIL
    reasons = " ".join(int8.verdict.reasons)
    assert "the candidate is slower" in reasons
    assert "DNSMOS P.808 dropped" in reasons


def test_a_silent_voice_fails_its_signal_checks(
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
) -> None:
    """A model that returns silence fails: every sentence is 'silent', WER is 1."""
    report = _gate(derived("silent"), joe_bundle, 5)
    assert report.verdict.outcome is Outcome.FAIL
    assert _outcomes(report)["signal_sanity"] is Outcome.FAIL
    assert all(r.speech_s == 0.0 for r in report.results("candidate"))
    assert all(r.metrics["wer"] == 1.0 for r in report.results("candidate"))
    assert any("silent" in reason for reason in report.verdict.reasons)


def test_a_candidate_that_cannot_load_fails(
    unloadable_bundle: Path,  # noqa: F811
    joe_bundle: Path,
) -> None:
    """A model file onnxruntime cannot read is a fail naming the file, not a crash."""
    report = _gate(unloadable_bundle, joe_bundle, 5)
    assert report.verdict.outcome is Outcome.FAIL
    assert "did not load" in report.verdict.message
    assert "onnxruntime cannot load en_US-joe-medium.onnx" in report.verdict.message
    assert report.utterances == []


def test_a_baseline_that_cannot_load_is_an_error(
    unloadable_bundle: Path,  # noqa: F811
    joe_bundle: Path,
) -> None:
    """Without a working baseline there is nothing to compare with: GateError."""
    with pytest.raises(GateError, match=r"baseline .* did not load"):
        _gate(joe_bundle, unloadable_bundle, 5, workers=1)


@pytest.fixture(scope="module")
def score_ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """A SQLite ledger that serves as the gates' score cache in this module."""
    return Ledger.open(f"sqlite:///{tmp_path_factory.mktemp('cache') / 'ledger.db'}")


@pytest.fixture(scope="module")
def cached_pair(
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
    score_ledger: Ledger,
) -> tuple[GateReport, GateReport]:
    """The retrained voice gated twice against joe on 5 sentences, with the score cache."""
    first = _gate(derived("retrained"), joe_bundle, 5, cache=score_ledger)
    second = _gate(derived("retrained"), joe_bundle, 5, cache=score_ledger)
    return first, second


def _scores(report: GateReport, role: str) -> list[dict[str, float | None]]:
    return [
        {k: v for k, v in r.metrics.items() if k not in ("rtf", "latency_s")}
        for r in report.results(role)
    ]


def test_a_second_gate_reuses_the_cached_baseline(
    cached_pair: tuple[GateReport, GateReport],
) -> None:
    """The second gate does not synthesize the baseline: its scores come from the cache."""
    first, second = cached_pair
    assert first.provenance["baseline"]["source"] == "fresh"
    assert first.provenance["cache"]["stored"] == {"candidate": 5, "baseline": 5}
    assert second.provenance["baseline"]["source"] == "cache"
    assert second.provenance["baseline"]["cached"] == 5
    assert "scored_at" in second.provenance["baseline"]
    assert [r["baseline_scored"] for r in second.rounds] == [0]
    # only the few timing sentences were spoken again, and none was scored
    assert second.rounds[0]["baseline_timed"] == GateSettings().timing_sentences
    assert _scores(second, "baseline") == _scores(first, "baseline")
    assert all(r.metrics["rtf"] is not None for r in second.results("baseline"))
    assert "from the cache" in second.to_markdown()


def test_repeat_gates_of_one_candidate_score_identically(
    cached_pair: tuple[GateReport, GateReport],
) -> None:
    """Seeded synthesis: the candidate, spoken afresh both times, gets the same scores."""
    first, second = cached_pair
    assert second.provenance["candidate"]["source"] == "fresh"
    assert _scores(second, "candidate") == _scores(first, "candidate")
    assert [r.transcript for r in second.results("candidate")] == [
        r.transcript for r in first.results("candidate")
    ]


def test_another_synthesis_seed_misses_the_cache(
    cached_pair: tuple[GateReport, GateReport],
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
    score_ledger: Ledger,
) -> None:
    """A changed key (synthesis_seed 1) finds nothing cached: the baseline is scored again."""
    report = run_gate(
        derived("retrained"),
        joe_bundle,
        settings=GateSettings(synthesis_seed=1),
        eval_set=_sentences(5),
        cache=score_ledger,
    )
    assert report.provenance["baseline"]["source"] == "fresh"
    assert [r["baseline_scored"] for r in report.rounds] == [5]


def test_a_broken_voice_fails_after_the_first_round(
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
) -> None:
    """perturb 0.5 on the shipped set stops after round 1: 10 sentences, not 30 or 60."""
    shipped = load_eval_set()
    report = run_gate(derived("broken"), joe_bundle, settings=GateSettings(), eval_set=shipped)
    assert report.verdict.outcome is Outcome.FAIL
    assert len(report.rounds) == 1
    assert report.rounds[0]["sentences"] == GateSettings().round_size
    assert len(report.results("candidate")) == 10 < len(shipped.utterances)
    assert "failed after 10 sentences" in report.rounds[0]["why"]
    assert "Decided after round 1 of at most 6" in report.to_markdown()
