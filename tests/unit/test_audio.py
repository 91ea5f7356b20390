"""Encoding audio into the six response formats."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from ttsops.server.audio import FORMATS, StreamEncoder, encode_audio


def _tone(seconds: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _decoded(data: bytes) -> tuple[int, float]:
    """Sample rate and duration of encoded audio, decoded by FFmpeg."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.rate, samples / stream.rate


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
def test_every_container_format_decodes_to_the_same_duration(fmt: str) -> None:
    """mp3, opus, aac, flac and wav decode back to about the audio's length."""
    rate, duration = _decoded(encode_audio(_tone(1.5), 22050, fmt))  # type: ignore[arg-type]
    assert duration == pytest.approx(1.5, abs=0.08)
    assert rate == (48000 if fmt == "opus" else 22050)


def test_pcm_is_raw_16_bit_mono() -> None:
    """pcm is 2 bytes a sample at the requested rate, no header."""
    data = encode_audio(_tone(1.0), 22050, "pcm", out_rate=24000)
    assert len(data) == pytest.approx(2 * 24000, abs=64)


def test_wav_header_has_exact_sizes_and_resampled_rate() -> None:
    """A whole wav file states its rate and length, and soundfile reads it."""
    info = sf.info(io.BytesIO(encode_audio(_tone(2.0), 22050, "wav", out_rate=16000)))
    assert info.samplerate == 16000
    assert info.duration == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_pieces_make_one_valid_stream(fmt: str) -> None:
    """Encoding piece by piece gives a stream as long as all the pieces together."""
    enc = StreamEncoder(fmt, 22050)  # type: ignore[arg-type]
    data = b"".join(enc.encode(_tone(0.5)) for _ in range(4)) + enc.finish()
    if fmt == "pcm":
        assert len(data) == 2 * 4 * int(0.5 * 22050)
        return
    _, duration = _decoded(data)
    assert duration == pytest.approx(2.0, abs=0.1)


def test_clipping_never_wraps_around() -> None:
    """Samples beyond ±1 are clipped, not wrapped to the other sign."""
    loud = np.array([1.5, -1.5, 0.5], dtype=np.float32)
    pcm = np.frombuffer(encode_audio(loud, 22050, "pcm"), dtype="<i2")
    assert list(pcm) == [32767, -32767, 16383]


def test_streamed_flac_states_its_length_for_libsndfile() -> None:
    """Piecewise flac reads with soundfile.read, sample-exact (STREAMINFO has the total)."""
    enc = StreamEncoder("flac", 22050)
    pieces = [enc.encode(_tone(0.5)) for _ in range(4)]
    assert pieces == [b""] * 4  # held until the end, when the sample count is known
    data = enc.finish()
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 22050
    assert len(samples) == 4 * int(0.5 * 22050)
