"""The speech seam: "make audio for this text from this version", whoever serves it.

Everything in ttsops that needs audio (the gate, slot readiness, canary probes, the patrol,
batch) asks a ``Speaker``. One implementation per file: ``engine`` (a bundle loaded in this
process), ``openai`` (``POST /v1/audio/speech``), ``gradio`` (a Gradio app through
``gradio_client``) and ``http`` (a request template). A new kind of model server is one new
adapter, not edits in five parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "RETRY_STATUSES",
    "FloatArray",
    "ReferenceClip",
    "Speaker",
    "Speech",
    "SpeechRequest",
    "answered_version",
    "decode_audio",
    "default_ready_text",
    "is_silent",
]

FloatArray = npt.NDArray[np.float32]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""HTTP statuses after which the same request may succeed: busy, loading, or between slots."""


@dataclass(frozen=True)
class ReferenceClip:
    """A reference recording the voice should sound like (``prompt_audio``)."""

    path: Path
    """An audio file on this machine (WAV, FLAC, MP3, OGG…); adapters upload or decode it."""

    text: str | None = None
    """What the clip says (``prompt_text``), for services that clone from a transcript."""


@dataclass(frozen=True)
class SpeechRequest:
    """One thing to say."""

    text: str
    """The text to speak."""

    voice: str | None = None
    """A voice name the service knows; None is the service's default."""

    reference: ReferenceClip | None = None
    """A reference clip; only for a ``Speaker`` whose ``can_reference`` is True."""

    speed: float = 1.0
    """Speaking rate, 1.0 normal; adapters that cannot set it ignore it."""

    seed: int | None = None
    """Fixed noise for reproducible audio, where the server supports it (ttsops' own does)."""


@dataclass(frozen=True)
class Speech:
    """Audio a speaker returned, decoded to float32 mono."""

    samples: FloatArray
    """Mono samples, float32 in [-1, 1]."""

    sample_rate: int
    """Samples per second of ``samples``."""

    took_s: float
    """Wall time from request to the last byte of audio."""

    version: str | None = None
    """The version that answered, when the service or the router says (``answered_version``)."""

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


def answered_version(headers: Mapping[str, str]) -> str | None:
    """The version that answered: the server's own ``X-TTSOps-Version`` (ttsops' slots),
    else the one the ttsops router names for the slot it sent the request to."""
    return headers.get("x-ttsops-version") or headers.get("x-ttsops-slot-version") or None


@runtime_checkable
class Speaker(Protocol):
    """Makes audio from one version: an in-process engine, or a service over HTTP."""

    can_reference: bool
    """Whether ``SpeechRequest.reference`` is used; a speaker that cannot take one raises
    ``ReferenceNotSupportedError`` when given one (batch lines with ``prompt_audio`` are
    refused, as for a bundle whose engine cannot)."""

    def speak(self, request: SpeechRequest) -> Speech:
        """Synthesize ``request``; raise ``SpeechError`` (or a ``RequestError`` the service
        answered with) naming the service and what it said, never return empty audio."""
        ...

    def close(self) -> None:
        """Release connections and temporary files; the speaker is not used again."""
        ...


def default_ready_text() -> str:
    """The sentence a readiness check speaks when the manifest names none."""
    return "This is a readiness check of the new voice."


def is_silent(samples: FloatArray, *, floor_dbfs: float = -50.0) -> bool:
    """True when the loudest sample is below ``floor_dbfs`` (no speech at all)."""
    if samples.size == 0:
        return True
    peak = float(np.max(np.abs(samples)))
    return peak <= 10 ** (floor_dbfs / 20)


def decode_audio(data: bytes, *, where: str) -> tuple[FloatArray, int]:
    """Decode an audio file's bytes (WAV, FLAC, OGG, MP3…) to float32 mono and its rate."""
    import io

    import soundfile

    from ttsops.errors import SpeechError

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError):
        samples, rate = _decode_with_av(data, where=where)
        return samples, rate
    except (TypeError, ValueError) as exc:  # soundfile's other complaints about non-audio
        raise SpeechError(f"{where} answered {len(data)} bytes that are not audio: {exc}") from None
    mono = samples.mean(axis=1).astype(np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if mono.size == 0:
        raise SpeechError(f"{where} answered an audio file with no samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def _decode_with_av(data: bytes, *, where: str) -> tuple[FloatArray, int]:
    import io

    import av

    from ttsops.errors import SpeechError

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            parts = [
                frame.to_ndarray().astype(np.float32).reshape(frame.layout.nb_channels, -1)
                for frame in container.decode(stream)
            ]
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise SpeechError(
            f"{where} answered {len(data)} bytes that are not audio ({exc}); check the "
            "adapter's output setting (which output, field or file holds the audio)"
        ) from None
    if not parts or not rate:
        raise SpeechError(f"{where} answered an audio file with no samples")
    joined = np.concatenate(parts, axis=1).mean(axis=0)
    peak = float(np.max(np.abs(joined))) if joined.size else 0.0
    if peak > 1.5:  # integer PCM decoded as-is
        joined = joined / 32768.0
    return np.ascontiguousarray(joined, dtype=np.float32), rate
