"""Request and response bodies of the speech API (OpenAI-compatible)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ttsops.server.audio import AudioFormat

__all__ = [
    "OPENAI_MODEL_ALIASES",
    "ErrorBody",
    "ErrorDetail",
    "SpeechRequest",
    "VersionInfo",
]

OPENAI_MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI model ids accepted as names of the served model, so unchanged clients work."""


class SpeechRequest(BaseModel):
    """Body of ``POST /v1/audio/speech``."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: StrictStr | None = None
    """The served model's name (or ``name@version``, or an OpenAI id); default: served model."""

    input: StrictStr
    """Text to speak; control characters are stripped."""

    voice: StrictStr | None = None
    """One of the model's voices; default: its first."""

    response_format: AudioFormat = "mp3"
    """Container/codec of the audio: mp3, opus, aac, flac, wav or pcm (16-bit LE mono)."""

    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    """Speaking rate, 0.25–4.0; 1.0 is the model's natural pace."""

    stream_format: Literal["audio", "sse"] = "audio"
    """``audio``: chunked bytes as they are made; ``sse``: server-sent events with base64 deltas."""

    sample_rate: int | None = Field(default=None, ge=8000, le=48000)
    """Output sample rate in Hz (resampled with soxr); default: the model's own (opus: 48000)."""

    instructions: StrictStr | None = None
    """Accepted for compatibility; engines that cannot follow instructions ignore it."""


class ErrorDetail(BaseModel):
    """What went wrong, for a client."""

    type: str
    """Error class: ``invalid_request_error``, ``overloaded_error``, ``server_error``."""

    code: str
    """Stable machine-readable code, e.g. ``input_too_long``."""

    message: str
    """Human-readable: what was wrong and what to do."""


class ErrorBody(BaseModel):
    """JSON body of every error response."""

    error: ErrorDetail
    """The error."""


class VersionInfo(BaseModel):
    """``GET /version``: exactly which model this replica serves."""

    name: str
    """Bundle name."""

    version: str
    """Bundle version."""

    digest: str
    """Bundle content digest (sha256)."""

    git_sha: str | None
    """Commit the bundle was built from."""

    ttsops_version: str
    """Version of ttsops serving it."""

    engine: str
    """Engine name."""

    sample_rate: int
    """Native sample rate."""

    voices: list[str]
    """Voices a request may ask for."""

    workers: int
    """Syntheses run at once."""

    queue_size: int
    """Requests that may wait for a worker before 503."""

    supports_prompt_audio: bool
    """Whether the engine can clone a voice from reference audio (false while loading)."""
