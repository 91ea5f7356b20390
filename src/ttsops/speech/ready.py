"""Readiness by proof: one real synthesis that returns speech, not an HTTP 200."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ttsops.errors import TtsopsError
from ttsops.speech.base import ReferenceClip, Speaker, SpeechRequest, is_silent

if TYPE_CHECKING:
    from ttsops.service.manifest import ReadyCheck

__all__ = ["check_ready"]


def check_ready(speaker: Speaker, ready: ReadyCheck) -> str | None:
    """None when ``speaker`` answered ``ready.text`` with more than ``ready.min_audio_s`` of
    audio that is not silence; otherwise why not, in one line. Never raises.

    With a ``[ready] reference`` clip (an app that will not speak without one) the clip is
    sent along, when the speaker can send one."""
    from pathlib import Path

    import httpx

    clip = None
    if ready.reference is not None and speaker.can_reference:
        clip = ReferenceClip(Path(ready.reference), ready.reference_text)
    try:
        speech = speaker.speak(SpeechRequest(text=ready.text, reference=clip))
    except TtsopsError as exc:
        return _line(exc.message)
    except httpx.HTTPError as exc:
        return _line(f"did not answer: {exc}")
    except Exception as exc:  # noqa: BLE001 - a prober must report, not crash
        return _line(f"failed: {type(exc).__name__}: {exc}")
    seconds = speech.duration_s
    if is_silent(speech.samples):
        return f"answered {seconds:.1f} s of silence"
    if seconds <= ready.min_audio_s:
        return (
            f"answered only {seconds:.2f} s of audio; more than {ready.min_audio_s:g} s "
            f"is needed for {ready.text!r}"
        )
    return None


def _line(text: str) -> str:
    """``text`` on one line, cut to a length a status field can show."""
    return " ".join(text.split())[:500] or "failed without a message"
