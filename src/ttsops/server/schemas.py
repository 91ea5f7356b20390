"""Request and response bodies of the speech API (OpenAI-compatible)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from ttsops.server.audio import AudioFormat
from ttsops.server.contract import ErrorBody, ErrorDetail
from ttsops.server.refclip import REF_ID_PATTERN

__all__ = [
    "INPUT_PATTERN",
    "MAX_SEED",
    "OPENAI_MODEL_ALIASES",
    "ErrorBody",
    "ErrorDetail",
    "ModelEntry",
    "ModelList",
    "ReadyInfo",
    "RefVoiceDeleted",
    "RefVoiceInfo",
    "RefVoiceList",
    "SpeechRequest",
    "VersionInfo",
    "speech_request_schema",
]

OPENAI_MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI model ids accepted as names of the served model, so unchanged clients work."""

INPUT_PATTERN = r"[^\W_]"
"""An ``input`` must contain a letter or digit somewhere (else there is nothing to speak)."""

MAX_SEED = 2**31
"""Seeds are ``0 <= seed < MAX_SEED``."""


class SpeechRequest(BaseModel):
    """Body of ``POST /v1/audio/speech``."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)

    model: StrictStr | None = None
    """The served model's name (or ``name@version``, or an OpenAI id); default: served model."""

    input: StrictStr = Field(json_schema_extra={"minLength": 1, "pattern": INPUT_PATTERN})
    """Text to speak, with at least one letter or digit; control characters are stripped."""

    voice: StrictStr | None = None
    """One of the model's voices, an alias (OpenAI's names: alloy, ash, …), or a reference
    voice's id from ``POST /v1/voices`` (matching with kokoro; cloning where the engine
    clones); default: its first voice."""

    response_format: AudioFormat = "mp3"
    """Container/codec of the audio: mp3, opus, aac, flac, wav or pcm (16-bit LE mono, no
    header, 24 kHz unless ``sample_rate`` says otherwise)."""

    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    """Speaking rate, 0.25–4.0; 1.0 is the model's natural pace."""

    stream_format: Literal["audio", "sse"] = "audio"
    """``audio``: chunked bytes as they are made; ``sse``: server-sent events with base64 deltas."""

    sample_rate: int | None = Field(default=None, ge=8000, le=48000)
    """Output sample rate in Hz (resampled with soxr); default: the model's own, but pcm 24000
    (as OpenAI's) and opus 48000."""

    seed: int | None = Field(default=None, ge=0, lt=MAX_SEED)
    """Noise seed: the same text, voice, speed and seed give identical audio; default the
    server's ``[server] seed`` (none: fresh noise each time)."""

    instructions: StrictStr | None = None
    """Accepted for compatibility; engines that cannot follow instructions ignore it."""

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        """JSON Schema counts ``16000.0`` as an integer, so the strict model takes it as one."""
        if isinstance(data, dict):
            for key in ("sample_rate", "seed"):
                value = data.get(key)
                if isinstance(value, float) and value.is_integer():
                    data = {**data, key: int(value)}
        return data


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

    max_input_chars: int
    """Longest ``input`` a speech request may have; ``ttsops batch`` splits longer lines."""

    workers: int
    """Syntheses run at once."""

    queue_size: int
    """Requests that may wait for a worker before 503."""

    supports_prompt_audio: bool
    """Whether the engine can use a reference voice (``POST /v1/voices``): by matching (kokoro)
    or cloning (false while loading)."""

    image: str | None = None
    """The container image serving it (``REPO:VERSION``), when it runs in one."""

    image_id: str | None = None
    """That image's content id (``sha256:…``), when the container was told it."""


class ModelEntry(BaseModel):
    """One model of ``GET /v1/models`` (OpenAI's fields, then ttsops's)."""

    id: str
    """Name a request's ``model`` may give."""

    object: Literal["model"] = "model"
    """Always ``model``."""

    created: int
    """When the bundle was made (Unix seconds)."""

    owned_by: str
    """Always ``ttsops``."""

    voices: list[str]
    """The bundle's voices; the first is the default."""

    voice_aliases: dict[str, str]
    """Other voice names a request may give (OpenAI's among them) → the voice they speak with."""


class ModelList(BaseModel):
    """``GET /v1/models``: OpenAI's list format."""

    object: Literal["list"] = "list"
    """Always ``list``."""

    data: list[ModelEntry]
    """The served model under its names."""


class ReadyInfo(BaseModel):
    """``GET /readyz``."""

    status: str
    """``ready``, ``loading``, ``failed`` or ``draining``."""

    reason: str | None
    """Why it is not ready, if it is not."""


class RefVoiceInfo(BaseModel):
    """A registered reference voice (``POST /v1/voices``, ``GET /v1/voices/{id}``)."""

    id: str = Field(pattern=REF_ID_PATTERN)
    """Use it as ``voice`` in ``/v1/audio/speech``: ``ref-`` and 12 hex of the clip's sha256."""

    object: Literal["voice"] = "voice"
    """Always ``voice``."""

    name: str
    """Display name (the upload's file name when none was given)."""

    text: str | None
    """What the clip says, if the uploader said."""

    duration_s: float
    """Length of the clip in seconds."""

    sample_rate: int
    """Rate the clip is stored and given to the engine at."""

    source_rate: int
    """Rate of the audio as uploaded."""

    created: str
    """When the clip was first registered (ISO 8601, UTC)."""


class RefVoiceList(BaseModel):
    """``GET /v1/voices``: the host's reference voices and the model's own."""

    object: Literal["list"] = "list"
    """Always ``list``."""

    data: list[RefVoiceInfo]
    """Registered reference voices, oldest first (shared by every slot of the host)."""

    stock: list[str]
    """The bundle's own voices; the first is the default."""

    supports_prompt_audio: bool
    """Whether this model can use a reference voice (false while loading)."""


class RefVoiceDeleted(BaseModel):
    """``DELETE /v1/voices/{id}``."""

    id: str
    """The deleted voice."""

    object: Literal["voice"] = "voice"
    """Always ``voice``."""

    deleted: Literal[True] = True
    """Always true: the clip is gone from this host."""


def speech_request_schema(
    *, voices: Sequence[str], models: Sequence[str], max_input_chars: int, references: bool = False
) -> dict[str, Any]:
    """The JSON schema of ``SpeechRequest`` as one server takes it: its limit, voices, models,
    and with ``references`` (an engine that can use them) the ids of reference voices."""
    schema = SpeechRequest.model_json_schema()
    props = schema["properties"]
    props["input"]["maxLength"] = max_input_chars
    for name, names in (("voice", voices), ("model", models)):
        props[name]["anyOf"] = [{"type": "string", "enum": list(names)}, {"type": "null"}]
    if references:
        props["voice"]["anyOf"].insert(
            1,
            {
                "type": "string",
                "pattern": REF_ID_PATTERN,
                "description": "A reference voice registered with POST /v1/voices.",
            },
        )
    return schema
