"""The ``openai`` adapter: ``POST /v1/audio/speech`` on any OpenAI-compatible server."""

from __future__ import annotations

import time

import httpx

from ttsops.errors import ReferenceNotSupportedError, SpeechError
from ttsops.speech.base import (
    RETRY_STATUSES,
    Speech,
    SpeechRequest,
    answered_version,
    decode_audio,
)
from ttsops.speech.spec import OpenAISpeech

__all__ = ["OpenAISpeaker"]


class OpenAISpeaker:
    """Speaks through an OpenAI-compatible speech endpoint at ``base_url``."""

    def __init__(self, base_url: str, spec: OpenAISpeech | None = None) -> None:
        """``base_url`` is the service's root, e.g. ``http://127.0.0.1:6006``."""
        self.spec = spec or OpenAISpeech()
        self.base_url = base_url.rstrip("/")
        self.can_reference = self.spec.can_reference
        self._http = httpx.Client(base_url=self.base_url, timeout=self.spec.timeout_s)
        self._refs: dict[str, str] = {}

    def speak(self, request: SpeechRequest) -> Speech:
        """POST the text; decode the audio answered."""
        where = f"the OpenAI speech API at {self.base_url}{self.spec.path}"
        body: dict[str, object] = {
            "model": self.spec.model,
            "input": request.text,
            "response_format": self.spec.response_format,
        }
        voice = request.voice or self.spec.voice
        if request.reference is not None:
            if not self.can_reference:
                raise ReferenceNotSupportedError(
                    f"{where} takes no reference clip; drop prompt_audio or set "
                    "[speech] can_reference = true for a server that does"
                )
            voice = self._register(request)
        if voice:
            body["voice"] = voice
        if request.speed != 1.0:
            body["speed"] = request.speed
        if request.seed is not None:
            body["seed"] = request.seed
        started = time.monotonic()
        try:
            reply = self._http.post(self.spec.path, json=body)
        except httpx.HTTPError as exc:
            raise SpeechError(f"{where} did not answer: {exc}", retryable=True) from None
        if reply.status_code != 200:
            raise SpeechError(
                f"{where} answered {reply.status_code}: {_said(reply)}",
                retryable=reply.status_code in RETRY_STATUSES,
            )
        samples, rate = decode_audio(reply.content, where=where)
        took = time.monotonic() - started
        return Speech(samples, rate, took, answered_version(reply.headers))

    def _register(self, request: SpeechRequest) -> str:
        """Upload the clip once to ``/v1/voices``; the ``ref-…`` id to speak with."""
        assert request.reference is not None
        key = f"{request.reference.path}:{request.reference.text}"
        if key in self._refs:
            return self._refs[key]
        path = request.reference.path
        try:
            with path.open("rb") as clip:
                reply = self._http.post(
                    "/v1/voices",
                    files={"file": (path.name, clip)},
                    data={"text": request.reference.text or ""},
                )
        except OSError as exc:
            raise SpeechError(f"cannot read the reference clip {path}: {exc}") from None
        except httpx.HTTPError as exc:
            raise SpeechError(
                f"{self.base_url}/v1/voices did not answer: {exc}", retryable=True
            ) from None
        if reply.status_code not in (200, 201):
            raise SpeechError(
                f"{self.base_url}/v1/voices refused the clip {path.name}: "
                f"{reply.status_code} {_said(reply)}"
            )
        voice = str(reply.json()["id"])
        self._refs[key] = voice
        return voice

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _said(reply: httpx.Response) -> str:
    try:
        error = reply.json().get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))
        if error:
            return str(error)
    except ValueError:
        pass
    return " ".join(reply.text.split())[:300] or "(empty body)"
