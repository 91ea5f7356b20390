"""The third way a batch makes audio: any service, through the speech seam (``ttsops.speech``).

``HttpBackend`` speaks ttsops' own API (``/version``, reference voices by id, the version
headers); ``SpeakerBackend`` asks a ``Speaker`` — a Gradio app, an HTTP template, or an
OpenAI-compatible server — for float32 audio and encodes it here with the encoders
``ttsops serve`` uses, so the files and ``results.jsonl`` look the same whichever way they
were made. A ``prompt_audio`` line hands the clip to the adapter as a ``ReferenceClip``
(a Gradio adapter uploads it as a file); a speaker with ``can_reference = False`` has its
reference lines refused by the runner before any request, as for a bundle that cannot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttsops.batch.client import Audio, BackendInfo, TaskError, probe_audio
from ttsops.batch.tasks import Task
from ttsops.errors import RequestError, SpeechError, TtsopsError
from ttsops.speech.base import ReferenceClip, Speaker, SpeechRequest

__all__ = ["ServiceInfo", "SpeakerBackend"]


@dataclass(frozen=True)
class ServiceInfo:
    """What is known about the service before the first request (its manifest, or flags)."""

    name: str = "service"
    """Service name, for messages and as the model of the results."""

    version: str | None = None
    """Its version when known (``--version``): results record ``name@version``."""

    sample_rate: int = 0
    """Rate of its audio; 0: unknown until it answers (only raw pcm parts need it)."""

    voices: tuple[str, ...] = ("default",)
    """Voices it accepts; the first is its default (sent as no voice at all)."""

    concurrency: int = 2
    """Requests kept in flight by default: one being made, one waiting."""


class SpeakerBackend:
    """A batch backend over a ``Speaker``: one speaker per worker thread, closed at the end.

    ``open_speaker()`` makes a speaker; each thread of the batch gets its own, so an adapter
    need not be thread-safe (``gradio_client`` keeps per-client session state).
    """

    def __init__(
        self, open_speaker: Callable[[], Speaker], where: str, service: ServiceInfo
    ) -> None:
        self.where = where
        self.service = service
        self._open = open_speaker
        self._local = threading.local()
        self._speakers: list[Speaker] = []
        self._lock = threading.Lock()
        self._can_reference: bool | None = None

    def _speaker(self) -> Speaker:
        speaker: Speaker | None = getattr(self._local, "speaker", None)
        if speaker is None:
            speaker = self._open()
            self._local.speaker = speaker
            with self._lock:
                self._speakers.append(speaker)
        return speaker

    def info(self) -> BackendInfo:
        """Describe the service; opening its adapter must work (a ``BatchError`` otherwise)."""
        from ttsops.errors import BatchError

        try:
            can_reference = bool(self._speaker().can_reference)
        except TtsopsError as exc:
            raise BatchError(f"cannot talk to the service at {self.where}: {exc.message}") from None
        service = self.service
        ref = f"{service.name}@{service.version}" if service.version else service.name
        workers = max(1, service.concurrency // 2)
        return BackendInfo(
            where=self.where,
            model=service.name,
            version=ref,
            workers=workers,
            queue_size=max(0, service.concurrency - workers),
            sample_rate=service.sample_rate or 24000,
            voices=service.voices,
            supports_prompt_audio=can_reference,
            max_input_chars=None,
        )

    def synthesize(self, task: Task, voice: str) -> Audio:
        """Ask the service for the task's audio; encode it as the task says.

        ``voice`` is the runner's fallback (the first of ``voices``); a task without a voice
        of its own is sent with none, so the service uses its own default.
        """
        del voice
        from ttsops.server.audio import PCM_RATE, encode_audio, output_rate

        request = SpeechRequest(
            text=task.input_text,
            voice=task.voice,  # None: the service's own default voice
            reference=self._reference(task),
            speed=task.speed,
        )
        started = time.monotonic()
        try:
            speech = self._speaker().speak(request)
        except RequestError as exc:  # refused the input (400/404/413 mapped by the adapter)
            raise TaskError(exc.message, exc.code) from None
        except SpeechError as exc:
            raise TaskError(exc.message, exc.code, retryable=exc.retryable) from None
        except TtsopsError as exc:
            raise TaskError(exc.message, exc.code) from None
        if speech.samples.size == 0:
            raise TaskError(f"{self.where} answered no audio", "empty_audio")
        fmt = task.response_format
        out_rate = task.sample_rate or (PCM_RATE if fmt == "pcm" else speech.sample_rate)
        try:
            data = encode_audio(speech.samples, speech.sample_rate, fmt, out_rate)
        except (ValueError, RuntimeError) as exc:
            raise TaskError(f"cannot encode the audio as {fmt}: {exc}", "encode_error") from None
        duration, rate = probe_audio(data, fmt, output_rate(fmt, out_rate))
        version = self._version(speech.version)
        return Audio(
            data=data,
            duration_s=duration,
            sample_rate=rate,
            model_version=version,
            model_digest=None,
            latency_s=time.monotonic() - started,
        )

    def _version(self, answered: str | None = None) -> str | None:
        """``name@version`` of what made a line: the version that answered (the service's own
        header, or the router's for the slot it reached: a canary makes lines of two), else
        the one given with ``--version``."""
        service = self.service
        version = answered or service.version
        if version is None:
            return None
        return version if "@" in version else f"{service.name}@{version}"

    def _reference(self, task: Task) -> ReferenceClip | None:
        if task.prompt_audio is None:
            return None
        path = Path(task.prompt_audio)
        if not path.is_file():
            raise TaskError(
                f"prompt_audio {str(path)!r} does not exist; give a path relative to the tasks "
                "file's folder (or an absolute one) of a 1–30 s recording of the voice",
                "prompt_audio_not_found",
            )
        return ReferenceClip(path, task.prompt_text)

    def close(self) -> None:
        """Close every thread's speaker."""
        with self._lock:
            speakers, self._speakers = self._speakers, []
        for speaker in speakers:
            try:
                speaker.close()
            except Exception:  # noqa: BLE001, S112 - closing must not hide the batch's result
                continue
