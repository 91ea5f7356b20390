"""The gate's rules: thresholds from ``[gate]`` in ttsops.toml applied to measured results.

Three kinds of check, each a ``Check`` of the shared verdict type:

- hard checks on the candidate: every sentence synthesizes, no NaN/inf, the sample rate
  is the manifest's, and few sentences fail a signal sanity check (silence, clipping,
  pace, loudness);
- floors on the candidate's means (DNSMOS OVRL and P.808, WER, CER, real-time factor);
- regression limits on the paired difference from the baseline.

The intelligibility checks follow the sentences' languages: word error rate (pocketsphinx)
on English sentences, character error rate (Whisper) on Mandarin ones; a set without
sentences of a language has no checks of its score. DNSMOS, timing and the signal checks
apply to every language (the pace range per language). With reference voices, speaker
similarity has a regression limit (and an optional floor).

Means and differences are judged by their bootstrap confidence interval: a check fails
only when the whole interval is beyond its limit, passes only when the whole interval is
within it, and is inconclusive (never a pass) when the interval straddles the limit or
fewer than ``min_utterances`` sentences could be scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ttsops.gate.results import METRICS, UtteranceResult, paired_values
from ttsops.gate.stats import Interval, bootstrap_mean, paired_difference, paired_ratio
from ttsops.settings import GateSettings
from ttsops.verdict import Check, Outcome, Verdict

__all__ = ["SimilarityScope", "judge", "sanity_problems"]

SimilarityScope = Literal["off", "candidate", "both"]
"""Which sides have speaker similarity scores: none, the candidate only (the baseline cannot
take a reference), or both (then the drop is judged)."""

_LABEL = {m.name: m.label for m in METRICS}
_SILENT_BELOW_S = 0.1


def sanity_problems(
    result: UtteranceResult, settings: GateSettings, expected_rate: int
) -> list[str]:
    """What is wrong with one utterance's signal, in words; empty when nothing is."""
    if result.error is not None:
        return []
    m = result.metrics
    problems: list[str] = []
    if result.nonfinite:
        problems.append(f"{result.nonfinite} NaN/inf samples")
    if result.sample_rate != expected_rate:
        problems.append(f"sample rate {result.sample_rate} Hz, manifest says {expected_rate}")
    if result.speech_s is not None and result.speech_s < _SILENT_BELOW_S:
        problems.append("silent")
        return problems  # the edge, pause and loudness checks say nothing more of silence
    for key, limit, what in (
        ("leading_silence_s", settings.max_silence_s, "leading silence"),
        ("trailing_silence_s", settings.max_silence_s, "trailing silence"),
        ("longest_pause_s", settings.max_pause_s, "pause"),
    ):
        value = m.get(key)
        if value is not None and value > limit:
            problems.append(f"{what} {value:.2f} s > {limit:g} s")
    clipping = m.get("clipping")
    if clipping is not None and clipping > settings.max_clipping:
        problems.append(f"{clipping:.2%} samples clipped > {settings.max_clipping:.2%}")
    pace_range = (
        settings.seconds_per_char_zh if result.language == "zh" else settings.seconds_per_char
    )
    pace, (low, high) = m.get("sec_per_char"), pace_range
    if pace is not None and not low <= pace <= high:
        problems.append(f"pace {pace:.3f} s/char outside {low:g}–{high:g}")
    lufs, (quiet, loud) = m.get("lufs"), settings.loudness_lufs
    if lufs is None or not quiet <= lufs <= loud:
        shown = "unmeasurable" if lufs is None else f"{lufs:.1f} LUFS"
        problems.append(f"loudness {shown} outside {quiet:g}…{loud:g} LUFS")
    return problems


def _hard_checks(
    candidate: Sequence[UtteranceResult], settings: GateSettings, expected_rate: int
) -> list[Check]:
    total = len(candidate)
    failed = [r for r in candidate if r.error is not None]
    allowed = settings.max_failed_utterances
    checks = [
        Check(
            "synthesis",
            Outcome.FAIL if len(failed) > allowed else Outcome.PASS,
            f"{len(failed)} of {total} sentences failed to synthesize (at most {allowed})"
            + (f"; first: {failed[0].id}: {failed[0].error}" if failed else ""),
            observed=len(failed),
            limit=allowed,
        )
    ]
    spoken = [r for r in candidate if r.error is None]
    nonfinite = [r.id for r in spoken if r.nonfinite]
    checks.append(
        Check(
            "finite",
            Outcome.FAIL if nonfinite else Outcome.PASS,
            f"{len(nonfinite)} of {len(spoken)} sentences have NaN/inf samples"
            + (f" ({', '.join(nonfinite[:5])})" if nonfinite else ""),
            observed=len(nonfinite),
            limit=0,
        )
    )
    rates = sorted({r.sample_rate for r in spoken if r.sample_rate is not None})
    checks.append(
        Check(
            "sample_rate",
            Outcome.FAIL if any(rate != expected_rate for rate in rates) else Outcome.PASS,
            f"audio sample rate {', '.join(map(str, rates)) or 'none'} Hz; the manifest "
            f"says {expected_rate} Hz",
            limit=expected_rate,
        )
    )
    bad = {r.id: p for r in spoken if (p := sanity_problems(r, settings, expected_rate))}
    share = len(bad) / len(spoken) if spoken else 1.0
    examples = "; ".join(f"{uid}: {', '.join(p)}" for uid, p in list(bad.items())[:3])
    checks.append(
        Check(
            "signal_sanity",
            Outcome.FAIL if share > settings.max_bad_utterances else Outcome.PASS,
            f"{len(bad)} of {len(spoken)} sentences fail a signal check "
            f"(at most {settings.max_bad_utterances:.0%})" + (f" — {examples}" if bad else ""),
            observed=share,
            limit=settings.max_bad_utterances,
            details={"problems": bad},
        )
    )
    return checks


def _ci(interval: Interval, settings: GateSettings, fmt: str = ".2f", unit: str = "") -> str:
    return (
        f"{settings.confidence:.0%} CI {interval.low:{fmt}}{unit}…{interval.high:{fmt}}{unit}, "
        f"n={interval.n}"
    )


def _decide(interval: Interval, limit: float, worse: Literal["above", "below"]) -> Outcome:
    if worse == "above":
        if interval.low > limit:
            return Outcome.FAIL
        return Outcome.PASS if interval.high <= limit else Outcome.INCONCLUSIVE
    if interval.high < limit:
        return Outcome.FAIL
    return Outcome.PASS if interval.low >= limit else Outcome.INCONCLUSIVE


def _too_few(name: str, metric: str, n: int, settings: GateSettings) -> Check | None:
    if n >= settings.min_utterances:
        return None
    return Check(
        name,
        Outcome.INCONCLUSIVE,
        f"{_LABEL[metric]}: only {n} sentences could be scored; at least "
        f"{settings.min_utterances} are needed to judge it",
        details={"n": n},
    )


def _floor(
    name: str,
    metric: str,
    candidate: Sequence[UtteranceResult],
    limit: float,
    worse: Literal["above", "below"],
    settings: GateSettings,
    kw: dict[str, Any],
) -> Check:
    values = [v for r in candidate if (v := r.metrics.get(metric)) is not None]
    if (few := _too_few(name, metric, len(values), settings)) is not None:
        return few
    interval = bootstrap_mean(values, **kw)
    outcome = _decide(interval, limit, worse)
    side = "ceiling" if worse == "above" else "floor"
    good, bad = ("below", "above") if worse == "above" else ("above", "below")
    verb = {Outcome.PASS: f"is {good}", Outcome.FAIL: f"is {bad}"}.get(outcome, "straddles")
    return Check(
        name,
        outcome,
        f"{_LABEL[metric]} {interval.estimate:.2f} ({_ci(interval, settings)}) {verb} "
        f"the {side} {limit:g}",
        observed=interval.estimate,
        limit=limit,
        details={"low": interval.low, "high": interval.high, "n": interval.n},
    )


def _regression(
    name: str,
    metric: str,
    pairs: tuple[list[float], list[float]],
    limit: float,
    worse: Literal["drop", "rise"],
    settings: GateSettings,
    kw: dict[str, Any],
) -> Check:
    cand, base = pairs
    if (few := _too_few(name, metric, len(cand), settings)) is not None:
        return few
    interval = paired_difference(cand, base, **kw)
    if worse == "drop":
        outcome = _decide(interval, -limit, "below")
        moved = f"{'dropped' if interval.estimate < 0 else 'rose'} {abs(interval.estimate):.2f}"
    else:
        outcome = _decide(interval, limit, "above")
        moved = f"{'rose' if interval.estimate > 0 else 'fell'} {abs(interval.estimate):.2f}"
    mean_c, mean_b = sum(cand) / len(cand), sum(base) / len(base)
    tail = {
        Outcome.PASS: "",
        Outcome.FAIL: " — a regression",
        Outcome.INCONCLUSIVE: " — the interval straddles the limit",
    }[outcome]
    return Check(
        name,
        outcome,
        f"{_LABEL[metric]} {moved} vs the baseline ({mean_c:.2f} vs {mean_b:.2f}; "
        f"Δ {_ci(interval, settings, '+.2f')}); at most {limit:g} {worse} allowed{tail}",
        observed=interval.estimate,
        limit=limit,
        details={"low": interval.low, "high": interval.high, "n": interval.n},
    )


def _ratio(
    name: str,
    metric: str,
    pairs: tuple[list[float], list[float]],
    bounds: tuple[float, float],
    settings: GateSettings,
    kw: dict[str, Any],
) -> Check:
    cand, base = pairs
    if (few := _too_few(name, metric, len(cand), settings)) is not None:
        return few
    try:
        interval = paired_ratio(cand, base, **kw)
    except ValueError:
        return Check(name, Outcome.INCONCLUSIVE, f"{_LABEL[metric]}: the baseline's is zero")
    low, high = bounds
    if interval.high < low or interval.low > high:
        outcome = Outcome.FAIL
    elif low <= interval.low and interval.high <= high:
        outcome = Outcome.PASS
    else:
        outcome = Outcome.INCONCLUSIVE
    allowed = f"{high:.2f}×" if low <= 0 else f"{low:.2f}×–{high:.2f}×"
    slower = name == "rtf_ratio" and interval.estimate > 1
    return Check(
        name,
        outcome,
        f"{_LABEL[metric]} is {interval.estimate:.2f}× the baseline's "
        f"({sum(cand) / len(cand):.3f} vs {sum(base) / len(base):.3f}; "
        f"{_ci(interval, settings, '.2f', '×')}); allowed {allowed}"
        + (" — the candidate is slower" if slower and outcome is Outcome.FAIL else ""),
        observed=interval.estimate,
        limit=high,
        details={"low": interval.low, "high": interval.high, "n": interval.n, "bounds": bounds},
    )


def judge(
    candidate: Sequence[UtteranceResult],
    baseline: Sequence[UtteranceResult],
    settings: GateSettings,
    expected_rate: int,
    similarity: SimilarityScope = "off",
) -> Verdict:
    """Apply every rule to the results; the candidate's audio should be at ``expected_rate``."""
    kw: dict[str, Any] = {
        "confidence": settings.confidence,
        "resamples": settings.bootstrap_resamples,
        "seed": settings.seed,
    }
    s = settings
    languages = {r.language for r in candidate}
    checks = _hard_checks(candidate, s, expected_rate)
    checks += [
        _floor("ovrl_floor", "ovrl", candidate, s.min_ovrl, "below", s, kw),
        _floor("p808_floor", "p808", candidate, s.min_p808, "below", s, kw),
    ]
    if "en" in languages:
        checks.append(_floor("wer_ceiling", "wer", candidate, s.max_wer, "above", s, kw))
    if "zh" in languages:
        checks.append(_floor("cer_ceiling", "cer", candidate, s.max_cer, "above", s, kw))
    if similarity != "off" and s.min_similarity is not None:
        checks.append(
            _floor("similarity_floor", "similarity", candidate, s.min_similarity, "below", s, kw)
        )
    checks.append(_floor("rtf_ceiling", "rtf", candidate, s.max_rtf, "above", s, kw))

    def pairs(metric: str) -> tuple[list[float], list[float]]:
        return paired_values(candidate, baseline, metric)

    checks += [
        _regression("ovrl_drop", "ovrl", pairs("ovrl"), s.max_ovrl_drop, "drop", s, kw),
        _regression("p808_drop", "p808", pairs("p808"), s.max_p808_drop, "drop", s, kw),
    ]
    if "en" in languages:
        checks.append(
            _regression("wer_rise", "wer", pairs("wer"), s.max_wer_increase, "rise", s, kw)
        )
    if "zh" in languages:
        checks.append(
            _regression("cer_rise", "cer", pairs("cer"), s.max_cer_increase, "rise", s, kw)
        )
    if similarity == "both":
        checks.append(
            _regression(
                "similarity_drop",
                "similarity",
                pairs("similarity"),
                s.max_similarity_drop,
                "drop",
                s,
                kw,
            )
        )
    checks += [
        _ratio("rtf_ratio", "rtf", pairs("rtf"), (0.0, s.max_rtf_ratio), s, kw),
        _ratio(
            "duration_change",
            "duration_s",
            pairs("duration_s"),
            (1 - s.max_duration_change, 1 + s.max_duration_change),
            s,
            kw,
        ),
    ]
    return Verdict.from_checks(checks)
