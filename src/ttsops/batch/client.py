"""The two ways a batch makes audio: a running ttsops service over HTTP, or a bundle in-process.

Both answer ``synthesize(task, voice)`` with the encoded bytes and what made them, or raise
``TaskError``; a ``retryable`` one (503, 502, 429, 504, timeouts, connection errors) is
worth trying again, any other is the task's final answer.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from ttsops.batch.references import ClipError, ClipLoader, ClipRegistrar
from ttsops.batch.tasks import Task
from ttsops.errors import BatchError, TtsopsError

__all__ = [
    "Audio",
    "Backend",
    "BackendInfo",
    "BundleBackend",
    "HttpBackend",
    "TaskError",
    "finish_wav",
    "probe_audio",
]

_RETRY_STATUS = {429, 502, 503, 504}
_DEFAULT_MAX_CHARS = 1000
"""Part size for a long text when ``/version`` does not say ``max_input_chars`` (the server's
default limit is 5000); a 413 lowers it (see ``ttsops.batch.parts``)."""


class TaskError(Exception):
    """One task could not be made; ``retryable`` says whether trying again may help."""

    def __init__(
        self, message: str, code: str, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1


@dataclass(frozen=True)
class BackendInfo:
    """What the batch needs to know about the model it talks to."""

    where: str
    """The server URL or the bundle directory, for messages."""

    model: str
    """Model name sent as ``model`` in requests (the bundle name)."""

    version: str
    """``name@version`` of the model."""

    workers: int
    """Syntheses the backend runs at once (the server's inference pool size)."""

    queue_size: int
    """Requests the server lets wait for a worker before answering 503."""

    sample_rate: int
    """The model's native sample rate."""

    voices: tuple[str, ...]
    """Voices it accepts; the first is the default."""

    supports_prompt_audio: bool = False
    """Whether it can use a reference clip (``prompt_audio``): by cloning or by matching."""

    max_input_chars: int | None = None
    """Longest text one request may carry; a longer task is made in parts. ``None``: no
    limit (in-process)."""


@dataclass(frozen=True)
class Audio:
    """One task's encoded audio and where it came from."""

    data: bytes
    """The file's bytes."""

    duration_s: float
    """Length of the audio in seconds."""

    sample_rate: int
    """Sample rate of the file."""

    model_version: str | None
    """``name@version`` that made it."""

    model_digest: str | None
    """That model's bundle digest."""

    latency_s: float
    """Seconds from request to having the bytes."""


class Backend(Protocol):
    """Something that turns a task into encoded audio."""

    def info(self) -> BackendInfo:
        """Describe the model; raise ``BatchError`` if it cannot be reached."""
        ...

    def synthesize(self, task: Task, voice: str) -> Audio:
        """Make one task's audio or raise ``TaskError``."""
        ...

    def close(self) -> None:
        """Release connections or the model."""
        ...


class HttpBackend:
    """A ttsops service (a replica or the router) over its OpenAI-compatible speech API."""

    def __init__(self, url: str, timeout_s: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self._timeout_s = timeout_s
        self._info: BackendInfo | None = None
        self._clips = ClipRegistrar(self._client)

    def info(self) -> BackendInfo:
        """``GET /version``, or a ``BatchError`` that names the URL."""
        try:
            response = self._client.get("/version", timeout=10.0)
        except httpx.HTTPError as exc:
            raise BatchError(
                f"cannot reach the ttsops service at {self.url} ({_reason(exc)}); start one "
                "with `ttsops serve --bundle DIR`, pass --server URL, or use --bundle DIR to "
                "synthesize in-process"
            ) from None
        if response.status_code != 200:
            raise BatchError(
                f"{self.url}/version answered {response.status_code}, not 200; is this a "
                "ttsops service? Pass --server with the URL of `ttsops serve` or the router"
            )
        try:
            data: dict[str, Any] = response.json()
            voices = tuple(str(v) for v in data["voices"])
            self._info = BackendInfo(
                where=self.url,
                model=str(data["name"]),
                version=f"{data['name']}@{data['version']}",
                workers=int(data.get("workers") or 1),
                queue_size=int(data.get("queue_size") or 0),
                sample_rate=int(data["sample_rate"]),
                voices=voices,
                supports_prompt_audio=bool(data.get("supports_prompt_audio", False)),
                max_input_chars=int(data.get("max_input_chars") or _DEFAULT_MAX_CHARS),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchError(
                f"{self.url}/version is not a ttsops version document ({exc!r}); pass --server "
                "with the URL of `ttsops serve` or the router"
            ) from None
        return self._info

    def synthesize(self, task: Task, voice: str) -> Audio:
        """``POST /v1/audio/speech`` once; map failures to ``TaskError``.

        With ``prompt_audio`` the clip is registered (once per clip) and its id is the voice.
        """
        if task.prompt_audio is None:
            return self._speech(task, voice)
        try:
            audio = self._speech(task, self._clips.voice_id(task))
        except ClipError as exc:
            raise TaskError(exc.message, exc.code, retryable=exc.retryable) from None
        except TaskError as exc:
            if exc.code == "reference_not_found":  # deleted on the server: register again
                self._clips.forget(task)
                exc.retryable = True
            raise
        return audio

    def _speech(self, task: Task, voice: str) -> Audio:
        info = self._info or self.info()
        body: dict[str, Any] = {
            "model": info.model,
            "input": task.input_text,
            "voice": voice,
            "response_format": task.response_format,
            "speed": task.speed,
        }
        if task.sample_rate is not None:
            body["sample_rate"] = task.sample_rate
        start = time.monotonic()
        try:
            response = self._client.post("/v1/audio/speech", json=body)
        except httpx.TimeoutException:
            raise TaskError(
                f"no answer from {self.url} within {self._timeout_s:g}s; raise --timeout for "
                "long texts",
                "timeout",
                retryable=True,
            ) from None
        except httpx.TransportError as exc:
            raise TaskError(
                f"connection to {self.url} failed ({_reason(exc)})", "connection", retryable=True
            ) from None
        latency = time.monotonic() - start
        if response.status_code != 200:
            raise _http_error(response)
        data = response.content
        if task.response_format == "wav":
            data = finish_wav(data)
        # Raw pcm has no header: the server says its rate (24 kHz unless asked otherwise).
        pcm_rate = _int(response.headers.get("X-TTSOps-Sample-Rate"))
        duration, rate = probe_audio(
            data, task.response_format, pcm_rate or task.sample_rate or info.sample_rate
        )
        return Audio(
            data=data,
            duration_s=duration,
            sample_rate=rate,
            model_version=response.headers.get("X-TTSOps-Version"),
            model_digest=response.headers.get("X-TTSOps-Digest"),
            latency_s=latency,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.removeprefix("[Errno 111] ")


def _http_error(response: httpx.Response) -> TaskError:
    status = response.status_code
    code, message = f"http_{status}", response.text[:300] or response.reason_phrase
    try:
        error = response.json()["error"]
        code, message = str(error.get("code", code)), str(error.get("message", message))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    retry_after = None
    if status in _RETRY_STATUS:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    return TaskError(
        f"server answered {status}: {message}",
        code,
        retryable=status in _RETRY_STATUS,
        retry_after=retry_after,
    )


def finish_wav(data: bytes) -> bytes:
    """Give a streamed wav (sizes 0xFFFFFFFF, "unknown") its real sizes, so every reader agrees."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            real = len(data) - pos - 8
            if size == real:
                return data
            fixed = bytearray(data)
            fixed[4:8] = (len(data) - 8).to_bytes(4, "little")
            fixed[pos + 4 : pos + 8] = real.to_bytes(4, "little")
            return bytes(fixed)
        pos += 8 + size + (size & 1)
    return data


def probe_audio(data: bytes, fmt: str, pcm_rate: int) -> tuple[float, int]:
    """(duration in seconds, sample rate) of encoded audio; raw pcm uses ``pcm_rate``."""
    if not data:
        raise TaskError("the server returned no audio (an empty body)", "empty_audio")
    if fmt == "pcm":
        return len(data) / 2 / pcm_rate, pcm_rate
    try:
        if fmt == "wav":
            import soundfile

            info = soundfile.info(io.BytesIO(data))
            return info.frames / info.samplerate, int(info.samplerate)
        import av

        # Stream headers may lack a length (mp3 without Xing, streamed flac): decode and count.
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.audio[0]
            frames = sum(int(frame.samples) for frame in container.decode(stream))
            rate = int(stream.rate or stream.codec_context.sample_rate)
    except Exception as exc:  # noqa: BLE001 - decoders raise many untyped errors
        raise TaskError(
            f"the server returned {len(data)} bytes that are not valid {fmt} audio ({exc})",
            "bad_audio",
        ) from None
    return frames / rate, rate


class BundleBackend:
    """A bundle loaded in this process: no server, the same encoders the server uses."""

    def __init__(self, bundle_dir: Path) -> None:
        from ttsops.bundle import verify_bundle
        from ttsops.engines import EngineOptions, load_engine

        self.bundle_dir = bundle_dir
        self._manifest = verify_bundle(bundle_dir)
        # One thread per synthesis while tasks overlap; a lone one (--concurrency 1, the
        # last task of a batch) takes every core, as in `ttsops serve`.
        options = EngineOptions(threads=1, solo_threads=os.cpu_count() or 1)
        self._engine = load_engine(bundle_dir, self._manifest, options)
        self._clips = ClipLoader()

    def info(self) -> BackendInfo:
        """Describe the loaded model; workers default to the CPU count."""
        return BackendInfo(
            where=str(self.bundle_dir),
            model=self._manifest.name,
            version=self._manifest.ref,
            workers=os.cpu_count() or 1,
            queue_size=0,
            sample_rate=self._engine.sample_rate,
            voices=self._engine.voices,
            supports_prompt_audio=self._engine.supports_prompt_audio,
        )

    def synthesize(self, task: Task, voice: str) -> Audio:
        """Synthesize and encode in this thread; engine errors become ``TaskError``."""
        from ttsops.engines.text import clean_text
        from ttsops.server.audio import PCM_RATE, encode_audio, output_rate

        start = time.monotonic()
        try:
            reference = None
            if task.prompt_audio is not None:
                reference = self._clips.reference(task)
                voice = self._engine.voices[0]  # as the server: the default voice is the base
            chunk = self._engine.synthesize(
                clean_text(task.input_text), voice, task.speed, reference=reference
            )
            rate = self._engine.sample_rate
            # The rate the server would send: pcm at 24 kHz (OpenAI's) unless asked otherwise.
            out_rate = task.sample_rate or (PCM_RATE if task.response_format == "pcm" else rate)
            data = encode_audio(chunk.samples, rate, task.response_format, out_rate)
        except ClipError as exc:
            raise TaskError(exc.message, exc.code) from None
        except TtsopsError as exc:
            raise TaskError(exc.message, exc.code) from None
        except Exception as exc:  # noqa: BLE001 - an engine bug must fail one task, not the batch
            raise TaskError(f"{type(exc).__name__}: {exc}", "synthesis_error") from None
        return Audio(
            data=data,
            duration_s=chunk.duration_s,
            sample_rate=output_rate(task.response_format, out_rate),
            model_version=self._manifest.ref,
            model_digest=self._manifest.digest,
            latency_s=time.monotonic() - start,
        )

    def close(self) -> None:
        """Nothing to release (the model goes with the process)."""
