"""Encoding float PCM into the six response formats of OpenAI's speech API.

wav and pcm are written directly; mp3 (LAME), opus (in Ogg, 48 kHz), aac (ADTS) and flac
go through PyAV's bundled FFmpeg. A ``StreamEncoder`` turns chunks into bytes as they come,
resampling with soxr's streaming resampler so sentence joins stay click-free. flac alone is
held until the end: its STREAMINFO header must state the total sample count, or libsndfile
(``soundfile.read``) refuses the file.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "PCM_RATE",
    "AudioFormat",
    "StreamEncoder",
    "encode_audio",
    "output_rate",
    "to_int16",
]

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
FORMATS: tuple[AudioFormat, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


@dataclass(frozen=True)
class _Codec:
    container: str
    codec: str
    fixed_rate: int | None = None


_AV_CODECS: dict[str, _Codec] = {
    "mp3": _Codec("mp3", "libmp3lame"),
    "opus": _Codec("ogg", "libopus", fixed_rate=48000),
    "aac": _Codec("adts", "aac"),
    "flac": _Codec("flac", "flac"),
}
PCM_RATE = 24000
"""Sample rate of raw pcm in OpenAI's speech API; the server's default for pcm."""
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def output_rate(fmt: AudioFormat, requested: int) -> int:
    """The sample rate a format will actually carry for a requested rate."""
    codec = _AV_CODECS.get(fmt)
    if codec and codec.fixed_rate:
        return codec.fixed_rate
    if fmt == "mp3" and requested not in _MP3_RATES:
        return min(_MP3_RATES, key=lambda r: abs(r - requested))
    return requested


def to_int16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Float [-1, 1] → int16, clipped."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def _wav_header(rate: int, data_bytes: int) -> bytes:
    """RIFF/WAVE header for mono 16-bit PCM; ``data_bytes`` 0xFFFFFFFF when streaming."""
    riff_size = 0xFFFFFFFF if data_bytes == 0xFFFFFFFF else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class _Sink:
    """A write-only, non-seekable file for PyAV, so muxers never seek back."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


class StreamEncoder:
    """Encode chunks of float PCM at ``in_rate`` into ``fmt`` bytes as they arrive."""

    def __init__(self, fmt: AudioFormat, in_rate: int, out_rate: int | None = None) -> None:
        import soxr

        self.fmt = fmt
        self.in_rate = in_rate
        self.rate = output_rate(fmt, out_rate or in_rate)
        self._resampler = (
            soxr.ResampleStream(in_rate, self.rate, 1, dtype="float32", quality="HQ")
            if self.rate != in_rate
            else None
        )
        self._started = False
        self._av: tuple[object, object, _Sink | io.BytesIO] | None = None
        if fmt in _AV_CODECS:
            import av

            codec = _AV_CODECS[fmt]
            # flac goes to a seekable buffer: the muxer writes the sample count back at the end.
            sink: _Sink | io.BytesIO = io.BytesIO() if fmt == "flac" else _Sink()
            container = av.open(sink, mode="w", format=codec.container)
            stream = container.add_stream(codec.codec, rate=self.rate)
            stream.layout = "mono"  # type: ignore[union-attr]
            self._av = (container, stream, sink)

    def encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        """Bytes for the next piece of audio (may be empty while the codec buffers)."""
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=False)
        return self._encode_pcm(to_int16(samples))

    def finish(self) -> bytes:
        """Flush the resampler and codec; the last bytes of the stream."""
        tail = b""
        if self._resampler is not None:
            rest = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            tail = self._encode_pcm(to_int16(rest))
        if self._av is not None:
            container, stream, sink = self._av
            for packet in stream.encode(None):  # type: ignore[attr-defined]
                container.mux(packet)  # type: ignore[attr-defined]
            container.close()  # type: ignore[attr-defined]
            return tail + _drain(sink, final=True)
        if not self._started:
            return tail + self._header()
        return tail

    def _header(self) -> bytes:
        self._started = True
        return _wav_header(self.rate, 0xFFFFFFFF) if self.fmt == "wav" else b""

    def _encode_pcm(self, pcm: npt.NDArray[np.int16]) -> bytes:
        head = b"" if self._started else self._header()
        if self._av is None:
            return head + pcm.tobytes()
        if len(pcm) == 0:
            return head
        import av

        container, stream, sink = self._av
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            container.mux(packet)  # type: ignore[attr-defined]
        return head + _drain(sink, final=False)


def _drain(sink: _Sink | io.BytesIO, *, final: bool) -> bytes:
    """What the muxer wrote since the last call; a seekable buffer gives all only at the end."""
    if isinstance(sink, _Sink):
        return sink.take()
    return sink.getvalue() if final else b""


def encode_audio(
    samples: npt.NDArray[np.float32], in_rate: int, fmt: AudioFormat, out_rate: int | None = None
) -> bytes:
    """Encode a whole utterance; wav gets exact sizes in its header."""
    enc = StreamEncoder(fmt, in_rate, out_rate)
    if fmt == "wav":
        body = enc.encode(samples)[44:] + enc.finish()
        return _wav_header(enc.rate, len(body)) + body
    return enc.encode(samples) + enc.finish()
