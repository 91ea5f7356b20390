"""What a gate run measured: per-utterance results, the metric catalog and per-metric summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ttsops.gate.stats import Interval, bootstrap_mean, paired_difference

__all__ = [
    "METRICS",
    "Metric",
    "MetricSummary",
    "Role",
    "UtteranceResult",
    "paired_values",
    "summarize",
]

Role = Literal["candidate", "baseline"]


@dataclass(frozen=True)
class Metric:
    """One per-utterance measurement and how to read it."""

    name: str
    """Key in ``UtteranceResult.metrics``."""

    label: str
    """Name shown in reports."""

    better: Literal["higher", "lower"] | None
    """Which direction is better; None when neither is (duration, loudness)."""

    digits: int = 2
    """Decimals shown in reports."""


METRICS: tuple[Metric, ...] = (
    Metric("ovrl", "DNSMOS OVRL", "higher"),
    Metric("sig", "DNSMOS SIG", "higher"),
    Metric("bak", "DNSMOS BAK", "higher"),
    Metric("p808", "DNSMOS P.808", "higher"),
    Metric("wer", "ASR WER", "lower"),
    Metric("cer", "ASR CER (zh)", "lower"),
    Metric("similarity", "speaker similarity", "higher"),
    Metric("rtf", "real-time factor", "lower", 3),
    Metric("latency_s", "first audio (s)", "lower", 3),
    Metric("duration_s", "duration (s)", None),
    Metric("sec_per_char", "s per char", None, 3),
    Metric("leading_silence_s", "leading silence (s)", None),
    Metric("trailing_silence_s", "trailing silence (s)", None),
    Metric("longest_pause_s", "longest pause (s)", None),
    Metric("clipping", "clipped samples", "lower", 4),
    Metric("lufs", "loudness (LUFS)", None, 1),
)
"""Every metric, in report order."""


@dataclass(frozen=True)
class UtteranceResult:
    """One sentence spoken by one model, and everything measured on it."""

    role: Role
    """Which model spoke it."""

    id: str
    """The utterance's id in the evaluation set."""

    text: str
    """The input text."""

    reference: str
    """What should be heard."""

    metrics: dict[str, float | None] = field(default_factory=dict)
    """Values by ``Metric.name``; None where a score could not be computed."""

    transcript: str | None = None
    """What the ASR heard."""

    sample_rate: int | None = None
    """Rate of the audio the engine returned."""

    nonfinite: int = 0
    """Samples that were NaN or infinite."""

    speech_s: float | None = None
    """Seconds of non-silent audio."""

    error: str | None = None
    """Why synthesis failed, if it did (then there are no metrics)."""

    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage (``synthesis``, ``dnsmos``, ``asr``, ``signal``,
    ``similarity``)."""

    language: str = "en"
    """The sentence's language (``en``: WER by pocketsphinx; ``zh``: CER by Whisper)."""

    reference_voice: str | None = None
    """Name of the reference clip the similarity was measured against, if any."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UtteranceResult:
        """Rebuild from ``to_dict`` output."""
        return cls(**data)


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the set: each model's mean and the paired difference."""

    metric: Metric
    """Which metric."""

    candidate: Interval | None
    """Candidate's mean with its interval; None without values."""

    baseline: Interval | None
    """Baseline's mean with its interval; None without values."""

    delta: Interval | None
    """Mean of candidate minus baseline over sentences both have, with its interval."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric.name,
            "label": self.metric.label,
            "better": self.metric.better,
            "candidate": asdict(self.candidate) if self.candidate else None,
            "baseline": asdict(self.baseline) if self.baseline else None,
            "delta": asdict(self.delta) if self.delta else None,
        }


def paired_values(
    candidate: Sequence[UtteranceResult], baseline: Sequence[UtteranceResult], metric: str
) -> tuple[list[float], list[float]]:
    """Values of ``metric`` for the sentences where both models have one, in set order."""
    base = {r.id: r.metrics.get(metric) for r in baseline}
    cand: list[float] = []
    paired: list[float] = []
    for result in candidate:
        c, b = result.metrics.get(metric), base.get(result.id)
        if c is not None and b is not None:
            cand.append(c)
            paired.append(b)
    return cand, paired


def _mean(results: Sequence[UtteranceResult], metric: str, **kw: Any) -> Interval | None:
    values = [v for r in results if (v := r.metrics.get(metric)) is not None]
    return bootstrap_mean(values, **kw) if values else None


def summarize(
    candidate: Sequence[UtteranceResult],
    baseline: Sequence[UtteranceResult],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[MetricSummary]:
    """Every metric of ``METRICS``: means of each model and the paired difference."""
    kw: dict[str, Any] = {"confidence": confidence, "resamples": resamples, "seed": seed}
    rows = []
    for metric in METRICS:
        c, b = paired_values(candidate, baseline, metric.name)
        rows.append(
            MetricSummary(
                metric,
                _mean(candidate, metric.name, **kw),
                _mean(baseline, metric.name, **kw),
                paired_difference(c, b, **kw) if c else None,
            )
        )
    return rows
