"""The speech seam: one ``Speaker`` per way a version makes audio (see ``speech.base``)."""

from __future__ import annotations

from ttsops.speech.base import (
    ReferenceClip,
    Speaker,
    Speech,
    SpeechRequest,
    decode_audio,
    default_ready_text,
    is_silent,
)
from ttsops.speech.spec import GradioSpeech, HttpSpeech, OpenAISpeech, SpeechSpec

__all__ = [
    "GradioSpeech",
    "HttpSpeech",
    "OpenAISpeech",
    "ReferenceClip",
    "Speaker",
    "Speech",
    "SpeechRequest",
    "SpeechSpec",
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
