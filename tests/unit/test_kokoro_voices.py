"""Kokoro voices: languages from names, style tables, and the weights of a voice match."""

from __future__ import annotations

import numpy as np
import pytest

from ttsops.engines.kokoro_voices import (
    STYLE_DIM,
    STYLE_ROWS,
    language_of,
    match_weights,
    mix_styles,
    parse_style,
    reference_key,
)
from ttsops.errors import EngineLoadError, InvalidInputError


def test_language_comes_from_the_voice_name() -> None:
    """z* voices speak Mandarin, a* American and b* British English."""
    assert language_of("zm_yunxi") == "zh-CN"
    assert language_of("af_heart") == "en-US"
    assert language_of("bf_emma") == "en-GB"


def test_a_voice_of_another_language_is_refused_with_the_supported_ones() -> None:
    """A Japanese voice (no front end here) or a non-name is refused, naming what works."""
    with pytest.raises(InvalidInputError, match=r"j\*.*z\* zh-CN"):
        language_of("jf_alpha")
    with pytest.raises(InvalidInputError, match="not a Kokoro voice name"):
        language_of("yunxi")


def test_a_style_file_of_the_wrong_size_is_refused() -> None:
    """A voice file must hold float32 [510, 256]; anything else is a load error."""
    good = np.arange(STYLE_ROWS * STYLE_DIM, dtype="<f4").tobytes()
    assert parse_style(good, "x").shape == (STYLE_ROWS, STYLE_DIM)
    with pytest.raises(EngineLoadError, match="holds 522240 bytes"):
        parse_style(good[:-4], "voices/x.bin")


def test_mixing_styles_is_a_weighted_mean() -> None:
    """Weights are normalised; the mix lies between the voices."""
    a = np.zeros((STYLE_ROWS, STYLE_DIM), dtype=np.float32)
    b = np.ones((STYLE_ROWS, STYLE_DIM), dtype=np.float32)
    mixed = mix_styles([a, b], [1.0, 3.0])
    assert mixed.dtype == np.float32
    assert np.allclose(mixed, 0.75)


def test_match_weights_favour_the_most_similar_voices() -> None:
    """Only the top voices get weight, the nearest the most, and they sum to 1."""
    sims = {"zf_a": 0.30, "zm_b": 0.60, "zm_c": 0.55, "zf_d": 0.10}
    weights = match_weights(sims, top=3, temperature=0.05)
    assert list(weights) == ["zm_b", "zm_c", "zf_a"]
    assert weights["zm_b"] > weights["zm_c"] > weights["zf_a"]
    assert sum(weights.values()) == pytest.approx(1.0)


def test_a_reference_key_names_the_clip_and_its_rate() -> None:
    """The same samples at the same rate share a key; another rate or sample does not."""
    clip = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    assert reference_key(clip, 16000) == reference_key(clip.copy(), 16000)
    assert reference_key(clip, 16000) != reference_key(clip, 24000)
    other = clip.copy()
    other[3] = 0.25
    assert reference_key(other, 16000) != reference_key(clip, 16000)


def test_trim_silence_cuts_the_edges_and_keeps_the_speech() -> None:
    """Kokoro's 0.4 s lead-in and 1.1 s tail are cut to 50 ms; the tone in between stays."""
    import numpy as np

    from ttsops.engines.kokoro import trim_silence

    rate = 24000
    tone = (0.3 * np.sin(np.arange(rate) * 0.05)).astype(np.float32)
    clip = np.concatenate([np.zeros(int(0.4 * rate)), tone, np.full(int(1.1 * rate), 1e-5)])
    trimmed = trim_silence(clip.astype(np.float32), rate)
    assert abs(trimmed.size / rate - 1.1) < 0.02  # 1 s of tone + 2 x 50 ms
    assert np.max(np.abs(trimmed)) == np.max(np.abs(tone))
    silent = np.zeros(rate, dtype=np.float32)
    assert trim_silence(silent, rate).size == rate  # nothing to keep: left as it is
