"""Pure per-utterance scores: word error rate, silence, clipping, loudness, speed."""

from __future__ import annotations

import numpy as np
import pytest

from ttsops.gate import scorers

RATE = 16000


def _tone(seconds: float, amplitude: float = 0.5, freq: float = 997.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_wer_ignores_case_punctuation_and_contractions() -> None:
    """Formatting differences are not errors; titles match their spoken form."""
    assert scorers.word_error_rate("Don't stop, Dr. Lee!", "do not stop doctor lee") == 0.0
    assert scorers.word_error_rate("it's Mrs. Smith", "it is missus smith") == 0.0


def test_wer_counts_substitutions_and_empty_transcripts() -> None:
    """One wrong word of four is 0.25; hearing nothing is 1.0."""
    assert scorers.word_error_rate("the cat sat down", "the bat sat down") == 0.25
    assert scorers.word_error_rate("the cat sat down", "") == 1.0
    with pytest.raises(ValueError, match="no words"):
        scorers.word_error_rate("...", "hello")


def test_silences_at_the_edges_and_inside() -> None:
    """0.5 s of silence before, a 0.7 s gap inside and 0.3 s after are measured to 10 ms."""
    gap = np.zeros(int(0.5 * RATE), np.float32)
    audio = np.concatenate(
        [gap, _tone(1.0), np.zeros(int(0.7 * RATE), np.float32), _tone(1.0), gap[: int(0.3 * RATE)]]
    )
    found = scorers.silences(audio, RATE)
    assert found.leading_s == pytest.approx(0.5, abs=0.02)
    assert found.longest_pause_s == pytest.approx(0.7, abs=0.02)
    assert found.trailing_s == pytest.approx(0.3, abs=0.02)
    assert found.speech_s == pytest.approx(2.0, abs=0.03)


def test_digital_silence_has_no_speech() -> None:
    """All-zero audio is all silence: no speech and no loudness."""
    zeros = np.zeros(RATE, np.float32)
    assert scorers.silences(zeros, RATE).speech_s == 0.0
    assert scorers.loudness_lufs(zeros, RATE) is None


def test_loudness_of_a_sine_matches_bs1770() -> None:
    """A 997 Hz sine at amplitude A reads -3.01 + 20·log10(A) LUFS."""
    lufs = scorers.loudness_lufs(_tone(3.0, amplitude=0.1), RATE)
    assert lufs == pytest.approx(-3.01 - 20.0, abs=0.3)


def test_clipping_nonfinite_speed_and_pace() -> None:
    """Full-scale samples, NaN/inf, real-time factor and seconds per character."""
    audio = np.array([0.0, 1.0, -1.0, 0.5, np.nan, np.inf], np.float32)
    assert scorers.clipping_ratio(np.nan_to_num(audio, posinf=0)) == pytest.approx(2 / 6)
    assert scorers.nonfinite_count(audio) == 2
    assert scorers.real_time_factor(0.5, 2.0) == 0.25
    assert scorers.real_time_factor(0.5, 0.0) is None
    assert scorers.seconds_per_char(1.0, "ab cd") == 0.25


def test_resample_keeps_duration() -> None:
    """22.05 kHz audio becomes 16 kHz audio of the same length in seconds."""
    audio = np.zeros(22050, np.float32)
    assert scorers.resample(audio, 22050, RATE).size == pytest.approx(RATE, abs=2)
