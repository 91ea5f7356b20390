"""One pure function per score of an utterance: intelligibility, speed and signal sanity.

DNSMOS lives in ``ttsops.gate.mos`` and the ASR in ``ttsops.gate.asr`` because they hold
loaded models; everything here is a function of samples and numbers only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Silences",
    "clipping_ratio",
    "loudness_lufs",
    "nonfinite_count",
    "normalize_words",
    "real_time_factor",
    "resample",
    "seconds_per_char",
    "silences",
    "word_error_rate",
]

FloatArray = npt.NDArray[np.float32]

_FRAME_S = 0.01
_SILENCE_BELOW_PEAK_DB = 40.0
_SILENCE_FLOOR_DBFS = -60.0
# Spellings the ASR dictionary and people use for the same spoken word.
_SAME_WORD = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor"}
_NOT_WORD = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)")


def resample(samples: FloatArray, rate: int, target: int) -> FloatArray:
    """``samples`` at ``target`` Hz (soxr, high quality); unchanged when the rates match."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return np.asarray(soxr.resample(samples, rate, target), dtype=np.float32)


def normalize_words(text: str) -> list[str]:
    """Lowercase words without punctuation, common contractions expanded, titles spelled out."""
    import jiwer

    lowered = _NOT_WORD.sub(" ", text.lower().replace("’", "'"))
    expanded = jiwer.ExpandCommonEnglishContractions()(lowered)
    return [_SAME_WORD.get(word, word) for word in expanded.split()]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after ``normalize_words``.

    Substitutions, deletions and insertions over reference words; an empty transcript of
    a non-empty reference is 1.0, and insertions can take it above 1.
    """
    import jiwer

    ref = normalize_words(reference)
    hyp = normalize_words(hypothesis)
    if not ref:
        raise ValueError(f"reference {reference!r} has no words to score against")
    if not hyp:
        return 1.0
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))


def real_time_factor(synthesis_s: float, duration_s: float) -> float | None:
    """Seconds of compute per second of audio (below 1 is faster than real time)."""
    return synthesis_s / duration_s if duration_s > 0 else None


def seconds_per_char(duration_s: float, text: str) -> float | None:
    """Audio seconds per non-space character of the input: the speaking pace."""
    chars = sum(1 for ch in text if not ch.isspace())
    return duration_s / chars if chars else None


def nonfinite_count(samples: FloatArray) -> int:
    """How many samples are NaN or infinite (any is a broken model)."""
    return int(samples.size - np.count_nonzero(np.isfinite(samples)))


def clipping_ratio(samples: FloatArray, threshold: float = 0.999) -> float:
    """Share of samples at or beyond full scale (``|x| >= threshold``)."""
    if samples.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(samples) >= threshold) / samples.size)


@dataclass(frozen=True)
class Silences:
    """Where an utterance is silent, from 10 ms frame energies."""

    leading_s: float
    """Silence before the first speech frame (the whole clip when there is no speech)."""

    trailing_s: float
    """Silence after the last speech frame (the whole clip when there is no speech)."""

    longest_pause_s: float
    """Longest silence between the first and the last speech frame."""

    speech_s: float
    """Total time of frames above the silence threshold."""


def silences(samples: FloatArray, rate: int) -> Silences:
    """Silence at the edges and inside, relative to the loudest frame.

    A frame is silent when its RMS is more than 40 dB below the loudest frame's, or below
    -60 dBFS, whichever threshold is higher; digital silence is all silent.
    """
    frame = max(1, int(rate * _FRAME_S))
    count = samples.size // frame
    if count == 0:
        duration = samples.size / rate
        return Silences(duration, duration, 0.0, 0.0)
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    with np.errstate(divide="ignore"):
        level = 20 * np.log10(rms)
    threshold = max(float(np.max(level)) - _SILENCE_BELOW_PEAK_DB, _SILENCE_FLOOR_DBFS)
    speech = np.flatnonzero(level > threshold)
    step = frame / rate
    duration = samples.size / rate
    if speech.size == 0:
        return Silences(duration, duration, 0.0, 0.0)
    gaps = np.diff(speech) - 1
    return Silences(
        leading_s=float(speech[0] * step),
        trailing_s=float(duration - (speech[-1] + 1) * step),
        longest_pause_s=float(gaps.max() * step) if gaps.size else 0.0,
        speech_s=float(speech.size * step),
    )


def loudness_lufs(samples: FloatArray, rate: int) -> float | None:
    """Integrated loudness (ITU-R BS.1770, pyloudnorm); None for silence or under 0.4 s."""
    import pyloudnorm

    if samples.size < int(0.4 * rate) + 1 or not np.any(samples):
        return None
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))
    return value if np.isfinite(value) else None
