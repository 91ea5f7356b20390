"""Reference clips: decode uploaded audio, refuse what no engine could use, normalise the rest.

A clip is decoded with libsndfile (wav, flac, ogg, mp3) or, failing that, PyAV's FFmpeg
(m4a, webm from a browser's microphone…), mixed to mono and checked: not too big, long
enough and not too long, recorded at 16 kHz or more, not silent. What passes is resampled
to ``CLIP_RATE`` and quantised to 16 bits, so the same recording sent as wav or flac gives
the same samples and the same id (``ref-`` and the first 12 hex of their sha256).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from ttsops.engines.base import FloatArray
from ttsops.errors import InvalidReferenceError

__all__ = [
    "CLIP_RATE",
    "MAX_CLIP_BYTES",
    "MAX_CLIP_S",
    "MIN_CLIP_RATE",
    "MIN_CLIP_S",
    "REF_ID_PATTERN",
    "Clip",
    "decode_clip",
]

CLIP_RATE = 24000
"""Rate clips are stored and handed to engines at (Kokoro's own)."""

MAX_CLIP_BYTES = 16 * 1024 * 1024
"""Largest upload accepted (30 s of 48 kHz stereo float wav is 11.5 MB)."""

MAX_CLIP_S = 30.0
"""Longest clip: a few sentences are all a voice match (or a cloning engine) needs."""

MIN_CLIP_S = 1.0
"""Shortest clip: less than a second says too little about a voice."""

MIN_CLIP_RATE = 16000
"""Lowest source sample rate: telephone-band audio (8 kHz) has lost what makes a voice."""

REF_ID_PATTERN = r"^ref-[0-9a-f]{12}$"
"""What a registered reference voice's id looks like."""

_MIN_VOICED_S = 0.3
_VOICED_DBFS = -50.0
_FRAME_S = 0.02


@dataclass(frozen=True)
class Clip:
    """A checked, normalised reference clip."""

    samples: FloatArray
    """Mono float32 at ``CLIP_RATE``, exactly representable in 16 bits."""

    source_rate: int
    """Sample rate of the uploaded audio."""

    source_format: str
    """Container of the upload as the decoder named it (``WAV``, ``FLAC``, ``mp3``…)."""

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / CLIP_RATE

    @property
    def pcm16(self) -> bytes:
        """The samples as 16-bit little-endian PCM (what the id is a hash of)."""
        return (np.round(self.samples * 32768.0)).astype("<i2").tobytes()

    @property
    def sha256(self) -> str:
        """sha256 of ``pcm16``."""
        return hashlib.sha256(self.pcm16).hexdigest()

    @property
    def id(self) -> str:
        """The id a store keeps this clip under: ``ref-`` + 12 hex of ``sha256``."""
        return f"ref-{self.sha256[:12]}"


def decode_clip(data: bytes, what: str = "the clip") -> Clip:
    """Decode and check an uploaded clip, or raise ``InvalidReferenceError`` saying why."""
    if len(data) > MAX_CLIP_BYTES:
        raise InvalidReferenceError(
            f"{what} is {len(data) / 2**20:.1f} MiB; the limit is {MAX_CLIP_BYTES / 2**20:g} MiB. "
            f"Send at most {MAX_CLIP_S:g} s of audio (a few sentences are enough)",
            http_status=413,
        )
    if not data:
        raise InvalidReferenceError(f"{what} is empty; send a recording of the voice")
    decoded = _with_soundfile(data, what) or _with_pyav(data, what)
    if decoded is None:
        raise InvalidReferenceError(
            f"{what} is not audio that ttsops can read (tried libsndfile and FFmpeg); send "
            "wav, flac, ogg, mp3 or m4a",
            http_status=415,
        )
    samples, rate, fmt = decoded
    _check(samples, rate, what)
    if rate != CLIP_RATE:
        import soxr

        samples = soxr.resample(samples, rate, CLIP_RATE, quality="HQ").astype(np.float32)
    quantised = np.round(np.clip(samples, -1.0, 32767 / 32768) * 32768.0) / 32768.0
    return Clip(samples=quantised.astype(np.float32), source_rate=rate, source_format=fmt)


def _too_long(seconds: float, what: str) -> InvalidReferenceError:
    return InvalidReferenceError(
        f"{what} is {seconds:.1f} s long; the limit is {MAX_CLIP_S:g} s. Cut it to a few "
        "sentences of clean speech"
    )


def _with_soundfile(data: bytes, what: str) -> tuple[FloatArray, int, str] | None:
    """Decode with libsndfile; None if it cannot read the bytes."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            rate = int(handle.samplerate)
            # Check the length before decoding: a small compressed file can hold hours.
            if handle.frames > 0 and handle.frames / rate > MAX_CLIP_S:
                raise _too_long(handle.frames / rate, what)
            frames = handle.read(dtype="float32", always_2d=True)
            fmt = str(handle.format)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    if frames.size == 0:
        return None
    return np.asarray(frames.mean(axis=1), dtype=np.float32), rate, fmt


def _with_pyav(data: bytes, what: str) -> tuple[FloatArray, int, str] | None:
    """Decode the first audio stream with FFmpeg; None if there is none or it is not media."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            samples = _decode_mono(av, container, stream, rate, what) if rate > 0 else None
            fmt = str(container.format.name)
    except InvalidReferenceError:
        raise
    except Exception:  # noqa: BLE001 - FFmpeg raises many untyped errors for non-media
        return None
    if samples is None or len(samples) == 0:
        return None
    return samples, rate, fmt


def _decode_mono(av: Any, container: Any, stream: Any, rate: int, what: str) -> FloatArray:
    """All of ``stream`` as mono float32; stops early (too long) on a decompression bomb."""
    mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts: list[FloatArray] = []
    total = 0
    for frame in container.decode(stream):
        for out in mono.resample(frame):
            part = np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
            parts.append(part)
            total += len(part)
        if total / rate > MAX_CLIP_S + 1:
            raise _too_long(total / rate, what)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _check(samples: FloatArray, rate: int, what: str) -> None:
    """Refuse a clip that is too short or long, too low a rate, broken or silent."""
    seconds = len(samples) / rate
    if rate < MIN_CLIP_RATE:
        raise InvalidReferenceError(
            f"{what} is sampled at {rate} Hz; reference voices need {MIN_CLIP_RATE} Hz or more "
            "(lower rates have lost what makes a voice). Record or export it at 16 kHz or above"
        )
    if seconds > MAX_CLIP_S:
        raise _too_long(seconds, what)
    if seconds < MIN_CLIP_S:
        raise InvalidReferenceError(
            f"{what} is {seconds:.2f} s long; a reference voice needs at least {MIN_CLIP_S:g} s "
            "of speech (3–10 s works well)"
        )
    if not np.all(np.isfinite(samples)):
        raise InvalidReferenceError(f"{what} has NaN or infinite samples; export it again")
    frame = max(int(_FRAME_S * rate), 1)
    usable = len(samples) // frame * frame
    rms = np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, frame)), axis=1))
    voiced_s = float(np.count_nonzero(rms > 10 ** (_VOICED_DBFS / 20))) * frame / rate
    if voiced_s < _MIN_VOICED_S:
        peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
        raise InvalidReferenceError(
            f"{what} is silent (peak {peak:.1e}, {voiced_s:.2f} s above {_VOICED_DBFS:g} dBFS); "
            "send a recording in which the voice can be heard"
        )
