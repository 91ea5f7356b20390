"""The speaker encoder: who is speaking, as a 256-d vector, on real voices."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soxr

from ttsops import speaker
from ttsops.engines import Engine
from ttsops.errors import InvalidInputError


@pytest.fixture(scope="module")
def joe_clips(joe_engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    """Two different sentences by joe (Piper, 22.05 kHz)."""
    a = joe_engine.synthesize("The birch canoe slid on the smooth planks.", "joe", 1.0, seed=1)
    b = joe_engine.synthesize("Glue the sheet to the dark blue background.", "joe", 1.0, seed=2)
    return a.samples, b.samples


def test_the_same_speaker_is_nearer_than_another(
    joe_clips: tuple[np.ndarray, np.ndarray], kokoro_zh_engine: Engine
) -> None:
    """Two joe sentences are more alike than joe and a Kokoro Mandarin voice."""
    joe_a, joe_b = (speaker.embed(clip, 22050) for clip in joe_clips)
    other = kokoro_zh_engine.synthesize("今天天气很好，我们一起去公园散步。", "zm_yunxi", 1.0)
    yunxi = speaker.embed(other.samples, other.sample_rate)
    assert joe_a.shape == (256,)
    assert np.linalg.norm(joe_a) == pytest.approx(1.0, abs=1e-5)
    assert speaker.similarity(joe_a, joe_b) > speaker.similarity(joe_a, yunxi)
    assert speaker.similarity(joe_a, joe_a) == pytest.approx(1.0)


def test_audio_at_another_rate_is_resampled_first(
    joe_clips: tuple[np.ndarray, np.ndarray],
) -> None:
    """The same clip at 22.05 kHz and at 16 kHz gives nearly the same embedding."""
    clip = joe_clips[0]
    native = speaker.embed(clip, 22050)
    at_16k = speaker.embed(soxr.resample(clip, 22050, 16000), 16000)
    assert speaker.similarity(native, at_16k) > 0.98


def test_threads_share_one_encoder_and_agree(joe_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """Embedding from several threads at once gives each the same vector."""
    clip = joe_clips[1]
    expected = speaker.embed(clip, 22050)
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(speaker.embed(clip, 22050)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all(np.allclose(r, expected, atol=1e-6) for r in results)


def test_too_short_or_broken_audio_is_a_clear_error() -> None:
    """Under 0.1 s, stereo or NaN audio is refused saying why."""
    with pytest.raises(InvalidInputError, match="too short"):
        speaker.embed(np.zeros(800, dtype=np.float32), 16000)
    with pytest.raises(InvalidInputError, match="mono"):
        speaker.embed(np.zeros((16000, 2), dtype=np.float32), 16000)
    with pytest.raises(InvalidInputError, match="NaN"):
        speaker.embed(np.full(16000, np.nan, dtype=np.float32), 16000)
