"""The speech seam: one ``Speaker`` per way a version makes audio (see ``speech.base``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ttsops.speech.base import (
    ReferenceClip,
    Speaker,
    Speech,
    SpeechRequest,
    decode_audio,
    default_ready_text,
    is_silent,
)
from ttsops.speech.ready import check_ready
from ttsops.speech.spec import GradioSpeech, HttpSpeech, OpenAISpeech, SpeechSpec

if TYPE_CHECKING:
    from ttsops.speech.engine import EngineSpeaker, bundle_speaker
    from ttsops.speech.gradio import GradioSpeaker
    from ttsops.speech.http import HttpSpeaker
    from ttsops.speech.openai import OpenAISpeaker

__all__ = [
    "EngineSpeaker",
    "GradioSpeaker",
    "GradioSpeech",
    "HttpSpeaker",
    "HttpSpeech",
    "OpenAISpeaker",
    "OpenAISpeech",
    "ReferenceClip",
    "Speaker",
    "Speech",
    "SpeechRequest",
    "SpeechSpec",
    "bundle_speaker",
    "check_ready",
    "decode_audio",
    "default_ready_text",
    "is_silent",
    "open_speaker",
]


def open_speaker(spec: OpenAISpeech | GradioSpeech | HttpSpeech, base_url: str) -> Speaker:
    """A speaker for the service at ``base_url`` that speaks ``spec``'s protocol."""
    if isinstance(spec, GradioSpeech):
        from ttsops.speech.gradio import GradioSpeaker

        return GradioSpeaker(base_url, spec)
    if isinstance(spec, HttpSpeech):
        from ttsops.speech.http import HttpSpeaker

        return HttpSpeaker(base_url, spec)
    from ttsops.speech.openai import OpenAISpeaker

    return OpenAISpeaker(base_url, spec)


_ADAPTERS = {
    "EngineSpeaker": "ttsops.speech.engine",
    "bundle_speaker": "ttsops.speech.engine",
    "GradioSpeaker": "ttsops.speech.gradio",
    "HttpSpeaker": "ttsops.speech.http",
    "OpenAISpeaker": "ttsops.speech.openai",
}


def __getattr__(name: str) -> Any:
    """The adapters, imported on first use (the engine one pulls in numpy-heavy code)."""
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
