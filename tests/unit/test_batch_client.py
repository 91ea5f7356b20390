"""What the batch client does to the audio it receives: wav sizes and durations."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from ttsops.batch.client import TaskError, finish_wav, probe_audio
from ttsops.server.audio import StreamEncoder, encode_audio

_RATE = 22050
_TONE = (0.3 * np.sin(np.arange(_RATE * 3 // 2) / 8)).astype(np.float32)


def _streamed(fmt: str) -> bytes:
    encoder = StreamEncoder(fmt, _RATE)  # type: ignore[arg-type]
    return encoder.encode(_TONE[:10000]) + encoder.encode(_TONE[10000:]) + encoder.finish()


def test_streamed_wav_gets_its_real_sizes() -> None:
    """A wav streamed with "unknown length" sizes is saved with sizes every reader trusts."""
    streamed = _streamed("wav")
    assert streamed[4:8] == b"\xff\xff\xff\xff"
    fixed = finish_wav(streamed)
    with wave.open(io.BytesIO(fixed)) as reader:
        assert reader.getnframes() == len(_TONE)
        assert reader.getframerate() == _RATE
    assert fixed[44:] == streamed[44:]
    assert finish_wav(fixed) == fixed


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac"])
def test_probe_reads_the_duration_of_streamed_audio(fmt: str) -> None:
    """Durations come from the audio itself, even when a streamed header does not say."""
    duration, rate = probe_audio(finish_wav(_streamed(fmt)), fmt, _RATE)
    assert duration == pytest.approx(1.5, abs=0.08)
    assert rate == (48000 if fmt == "opus" else _RATE)


def test_probe_of_pcm_uses_the_given_rate() -> None:
    """Raw pcm has no header: its duration is bytes / 2 / the requested rate."""
    data = encode_audio(_TONE, _RATE, "pcm", 16000)
    duration, rate = probe_audio(data, "pcm", 16000)
    assert (round(duration, 2), rate) == (1.5, 16000)


def test_garbage_or_empty_audio_fails_the_task() -> None:
    """Bytes that are not audio make a task error, not a recorded file."""
    with pytest.raises(TaskError, match="not valid mp3"):
        probe_audio(b"this is not audio at all" * 10, "mp3", _RATE)
    with pytest.raises(TaskError, match="no audio"):
        probe_audio(b"", "wav", _RATE)
