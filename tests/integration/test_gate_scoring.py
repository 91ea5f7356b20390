"""The real scorers on the real voice: DNSMOS, pocketsphinx and the signal checks agree."""

from __future__ import annotations

import numpy as np
import pytest

from ttsops.engines import AudioChunk, Engine
from ttsops.gate import scorers
from ttsops.gate.asr import transcriber
from ttsops.gate.mos import MOS_RATE, Dnsmos

PANGRAM = "The quick brown fox jumps over the lazy dog."
LONG = (
    "She packed her bags, locked the door, and walked to the bus stop, but the last bus "
    "had already left, so she called a taxi instead, and then she waited in the rain."
)


@pytest.fixture(scope="module")
def speech(joe_engine: Engine) -> dict[str, AudioChunk]:
    """The pangram and a long sentence spoken by joe."""
    return {text: joe_engine.synthesize(text, "joe", 1.0) for text in (PANGRAM, LONG)}


@pytest.fixture(scope="module")
def dnsmos() -> Dnsmos:
    """DNSMOS loaded once."""
    return Dnsmos()


def _16k(chunk: AudioChunk) -> np.ndarray:
    return scorers.resample(chunk.samples, chunk.sample_rate, MOS_RATE)


def test_dnsmos_rates_the_voice_as_good_speech(
    speech: dict[str, AudioChunk], dnsmos: Dnsmos
) -> None:
    """joe scores like clean synthetic speech: OVRL around 3.2, P.808 around 4."""
    score = dnsmos.score(_16k(speech[PANGRAM]))
    assert score is not None
    assert 2.8 < score.ovrl < 3.8
    assert 3.4 < score.p808 < 4.6
    assert score.bak > score.ovrl


def test_fewer_windows_agree_with_speechmos(speech: dict[str, AudioChunk], dnsmos: Dnsmos) -> None:
    """Scoring at most three windows stays within 0.1 of speechmos's every-second windows."""
    from speechmos import dnsmos as reference

    for chunk in speech.values():
        audio = _16k(chunk)
        ours = dnsmos.score(audio)
        full = reference.run(np.clip(audio, -1, 1), MOS_RATE)
        assert ours is not None
        assert ours.ovrl == pytest.approx(float(full["ovrl_mos"]), abs=0.1)
        assert ours.p808 == pytest.approx(float(full["p808_mos"]), abs=0.1)


def test_asr_hears_the_voice(speech: dict[str, AudioChunk], joe_engine: Engine) -> None:
    """pocketsphinx transcribes joe's pangram with at most two words wrong (median of three).

    Piper samples noise on every call, so one take in twenty is heard with a third word
    wrong; the median of three takes is what a listener would call "joe says the pangram".
    """
    takes = [speech[PANGRAM]] + [joe_engine.synthesize(PANGRAM, "joe", 1.0) for _ in range(2)]
    rates = sorted(
        scorers.word_error_rate(PANGRAM, transcriber().transcribe(_16k(take))) for take in takes
    )
    assert rates[1] <= 2 / 9
    assert transcriber().transcribe(np.zeros(MOS_RATE, np.float32)) == ""


def test_signal_checks_on_real_speech(speech: dict[str, AudioChunk]) -> None:
    """Real speech: short edge silences, no clipping, loudness near -20 LUFS."""
    chunk = speech[PANGRAM]
    found = scorers.silences(chunk.samples, chunk.sample_rate)
    assert found.leading_s < 0.3
    assert found.trailing_s < 0.5
    assert found.speech_s > 1.5
    assert scorers.clipping_ratio(chunk.samples) < 0.001
    lufs = scorers.loudness_lufs(chunk.samples, chunk.sample_rate)
    assert lufs is not None
    assert -30 < lufs < -12


def test_numpy_features_match_speechmos_librosa_features(
    speech: dict[str, AudioChunk],
) -> None:
    """The P.808 log-mel input computed with numpy equals speechmos's librosa version."""
    from speechmos import dnsmos as reference

    from ttsops.gate.mos import log_mel

    model = reference.DNSMOS.__new__(reference.DNSMOS)
    for chunk in speech.values():
        audio = _16k(chunk)
        expected = np.asarray(model.audio_melspec(audio=audio), dtype=np.float32)
        assert np.abs(log_mel(audio) - expected).max() < 1e-4
