"""The ``gradio`` adapter: a Gradio app's endpoint, called through ``gradio_client``.

The request's text, voice, reference clip (uploaded as a file) and its transcript go to the
endpoint's parameters named in ``[speech]``; ``output`` picks which of its outputs is the
audio. ``gradio_client`` is imported on first use, and the app is connected to lazily and
again after a failure, so a readiness prober can call ``speak`` while the app still loads.
Files the app answers with are read into memory, never left on disk.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpx
import numpy as np

from ttsops.errors import ReferenceNotSupportedError, SpeechError
from ttsops.speech.base import Speech, SpeechRequest, answered_version, decode_audio
from ttsops.speech.spec import GradioSpeech

__all__ = ["GradioSpeaker"]


class GradioSpeaker:
    """Speaks through endpoint ``spec.api_name`` of the Gradio app at ``base_url``."""

    def __init__(self, base_url: str, spec: GradioSpeech) -> None:
        """``base_url`` is where the app is served, e.g. ``http://127.0.0.1:7860`` or a
        mount path such as ``http://127.0.0.1:8000/ui/``."""
        self.spec = spec
        self.base_url = base_url.rstrip("/") + "/"
        self.can_reference = spec.reference_audio is not None
        self.where = f"the Gradio app at {self.base_url} (endpoint {spec.api_name})"
        self._client: Any = None
        self._lock = threading.Lock()

    def speak(self, request: SpeechRequest) -> Speech:
        """Call the endpoint with the request; decode the audio output it answers."""
        if request.reference is not None and not self.can_reference:
            raise ReferenceNotSupportedError(
                f"{self.where} takes no reference clip; drop prompt_audio, or name the "
                "endpoint's audio parameter in [speech] reference_audio"
            )
        started = time.monotonic()
        client = self._connect()
        endpoint = _endpoint_info(client, self.spec.api_name, self.where)
        kwargs = self._arguments(request, endpoint)
        try:
            job = client.submit(api_name=self.spec.api_name, **kwargs)
            result = job.result(timeout=self.spec.timeout_s)
        except FutureTimeout:
            job.cancel()
            raise SpeechError(
                f"{self.where} gave no answer in {self.spec.timeout_s:g} s; raise [speech] "
                "timeout_s if the model is this slow"
            ) from None
        except Exception as exc:  # noqa: BLE001 - gradio_client raises many kinds; each is the app's answer
            raise self._failed(exc) from None
        value = _pick_output(result, len(endpoint["returns"]), self.spec.output, self.where)
        samples, rate, version = self._audio_of(client, value)
        return Speech(samples, rate, time.monotonic() - started, version)

    def close(self) -> None:
        """Stop the client's heartbeat and worker threads."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _shut(client)

    def _connect(self) -> Any:
        """The client, connecting first if there is none (lazily, or after a failure)."""
        with self._lock:
            if self._client is not None:
                return self._client
            os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
            try:
                from gradio_client import Client  # type: ignore[import-untyped]
            except ImportError:
                raise SpeechError(
                    "the gradio speech adapter needs gradio_client; install ttsops with its "
                    "default dependencies (pip install ttsops)"
                ) from None
            try:
                self._client = Client(
                    self.base_url,
                    token=False,  # never send this machine's Hugging Face token to a service
                    verbose=False,
                    analytics_enabled=False,
                    download_files=False,  # file outputs are read into memory, not saved
                    httpx_kwargs={"timeout": self.spec.timeout_s},
                )
            except httpx.HTTPError as exc:
                raise SpeechError(
                    f"{self.where} did not answer: {_said(exc)}", retryable=True
                ) from None
            except Exception as exc:  # noqa: BLE001 - a half-started app fails in many ways
                raise SpeechError(
                    f"{self.where} is not a Gradio app that is up yet: {_said(exc)}",
                    retryable=True,
                ) from None
            return self._client

    def _drop(self) -> None:
        """Forget the client, so the next ``speak`` connects afresh (the app restarted)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _shut(client)

    def _failed(self, exc: Exception) -> SpeechError:
        """The error for a failed call; a failure other than the app's own error (a lost
        connection, a restarted app) also drops the client."""
        from gradio_client.exceptions import AppError  # type: ignore[import-untyped]

        if isinstance(exc, AppError):
            return SpeechError(f"{self.where} refused the request: {_said(exc)}")
        self._drop()
        # A lost connection, a full queue, a restarted app: the next call connects afresh.
        if isinstance(exc, httpx.HTTPError):
            return SpeechError(f"{self.where} did not answer: {_said(exc)}", retryable=True)
        return SpeechError(
            f"{self.where} failed: {type(exc).__name__}: {_said(exc)}", retryable=True
        )

    def _arguments(self, request: SpeechRequest, endpoint: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of the call, checked against the endpoint's parameters."""
        spec = self.spec
        kwargs: dict[str, Any] = dict(spec.fixed)
        kwargs[spec.text] = request.text
        if spec.voice is not None and request.voice is not None:
            kwargs[spec.voice] = request.voice
        if spec.reference_audio is not None:
            kwargs[spec.reference_audio] = None
            if request.reference is not None:
                from gradio_client import handle_file

                if not request.reference.path.is_file():
                    raise SpeechError(f"the reference clip {request.reference.path} is not a file")
                kwargs[spec.reference_audio] = handle_file(str(request.reference.path))
        if spec.reference_text is not None:
            clip = request.reference
            kwargs[spec.reference_text] = (clip.text if clip is not None else None) or ""
        params = endpoint["parameters"]
        names = [str(p.get("parameter_name") or p.get("label")) for p in params]
        named = (spec.text, spec.voice, spec.reference_audio, spec.reference_text)
        mapped = {name for name in named if name is not None}
        unknown = sorted((set(kwargs) | mapped) - set(names))
        if unknown:
            raise SpeechError(
                f"{self.where} has no parameter {', '.join(unknown)}; its parameters are "
                f"{', '.join(names) or '(none)'}: fix the names in [speech]"
            )
        missing = [
            name
            for name, p in zip(names, params, strict=True)
            if not p.get("parameter_has_default", False) and name not in kwargs
        ]
        if missing:
            raise SpeechError(
                f"{self.where} requires {', '.join(missing)}, which [speech] does not map; give "
                "them values in [speech] fixed (or name them as text, voice, reference_audio "
                "or reference_text)"
            )
        return kwargs

    def _audio_of(self, client: Any, value: Any) -> tuple[Any, int, str | None]:
        """Samples, rate and the version that answered (``answered_version`` of the file's
        download) of an output: a file (path, URL or FileData) or (rate, samples)."""
        if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], int):
            return _pcm(value[1], self.where), int(value[0]), None
        url = self._url_of(client, value)
        try:
            reply = httpx.get(
                url,
                headers=client.headers,
                cookies=client.cookies,
                timeout=self.spec.timeout_s,
                follow_redirects=True,
            )
        except httpx.HTTPError as exc:
            raise SpeechError(
                f"{self.where}: cannot download its audio {url}: {exc}", retryable=True
            ) from None
        if reply.status_code != 200:
            raise SpeechError(
                f"{self.where}: downloading its audio {url} answered {reply.status_code}"
            )
        samples, rate = decode_audio(reply.content, where=self.where)
        return samples, rate, answered_version(reply.headers)

    def _url_of(self, client: Any, value: Any) -> str:
        """Where to download a file output from."""
        from gradio_client import utils

        root: str = client.src_prefixed
        if isinstance(value, dict) and (value.get("path") or value.get("url")):
            url = value.get("url")
            if value.get("is_stream") and url:
                return str(httpx.URL(root).join(str(url)))
            if value.get("path"):
                return f"{root}file={utils.encode_file_path(str(value['path']))}"
            return str(httpx.URL(root).join(str(url)))
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                return value
            return f"{root}file={utils.encode_file_path(value)}"
        shown = repr(value)[:200]
        raise SpeechError(
            f"{self.where}: output {self.spec.output} is {shown}, not audio; set [speech] output "
            "to the index of the endpoint's audio output (a filepath or (rate, samples))"
        )


def _endpoint_info(client: Any, api_name: str, where: str) -> dict[str, Any]:
    """The endpoint's parameters and returns, as ``view_api`` lists them."""
    info = client.view_api(print_info=False, return_format="dict")
    named: dict[str, Any] = info.get("named_endpoints", {})
    if api_name not in named:
        shown = ", ".join(sorted(named)) or "(none)"
        raise SpeechError(
            f"{where}: the app has no endpoint {api_name}; its endpoints are {shown}. Set "
            "[speech] api_name to one of them"
        )
    return dict(named[api_name])


def _pick_output(result: Any, count: int, index: int, where: str) -> Any:
    """Output ``index`` of a call that returned ``count`` outputs (one comes unwrapped)."""
    if index >= max(count, 1):
        raise SpeechError(
            f"{where} has {count} output(s); [speech] output = {index} is out of range"
        )
    if count <= 1:
        return result
    return result[index]


def _pcm(data: Any, where: str) -> Any:
    """``(rate, samples)`` samples as float32 mono: 16-bit (or 32-bit) integers scaled."""
    try:
        samples = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpeechError(
            f"{where} answered (rate, samples) whose samples are not numbers"
        ) from None
    if samples.size == 0:
        raise SpeechError(f"{where} answered no samples")
    if samples.ndim > 1:  # (frames, channels), as gr.Audio(type="numpy") holds it
        samples = samples.mean(axis=1)
    peak = float(np.max(np.abs(samples)))
    if peak > 32768:
        samples = samples / 2**31
    elif peak > 1.5:
        samples = samples / 32768
    return np.ascontiguousarray(samples, dtype=np.float32)


def _said(exc: BaseException) -> str:
    """An exception's message on one line."""
    text = " ".join(str(exc).split())
    return text[:400] or type(exc).__name__


def _shut(client: Any) -> None:
    """Close a client and its worker threads without waiting on the app."""
    client.close()
    for pool in ("executor", "helper_executor", "stream_executor"):
        executor = getattr(client, pool, None)
        if executor is not None:
            executor.shutdown(wait=False)
