"""HTTP routes: the speech API, models, health, readiness, version and metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from ttsops.engines.base import AudioChunk
from ttsops.errors import InputTooLongError, InvalidInputError, TtsopsError
from ttsops.server.audio import MEDIA_TYPES, PCM_RATE, StreamEncoder
from ttsops.server.contract import describe_validation, error_responses
from ttsops.server.pool import Job, PoolState
from ttsops.server.replica import Replica
from ttsops.server.schemas import (
    ModelEntry,
    ModelList,
    ReadyInfo,
    SpeechRequest,
    VersionInfo,
)

__all__ = ["router"]

router = APIRouter()

_ERRORS = error_responses(400, 404, 405, 413, 500, 503, 504)

_ERRORS_GET = error_responses(405)

_AUDIO_HEADERS = {
    "X-TTSOps-Sample-Rate": {
        "description": "Sample rate of the audio sent, in Hz.",
        "schema": {"type": "integer"},
    },
    "X-TTSOps-Voice": {
        "description": "The bundle voice that spoke (an alias resolved; with a reference "
        "voice, the base voice the engine started from).",
        "schema": {"type": "string"},
    },
    "X-TTSOps-Reference": {
        "description": "The reference voice used (its id), when the request named one.",
        "schema": {"type": "string"},
    },
}
_SSE_DELTA = {
    "type": "object",
    "required": ["type", "audio"],
    "properties": {
        "type": {"const": "speech.audio.delta"},
        "audio": {"type": "string", "contentEncoding": "base64", "description": "Audio bytes."},
    },
}
_SSE_DONE = {
    "type": "object",
    "required": ["type", "usage"],
    "properties": {
        "type": {"const": "speech.audio.done"},
        "usage": {
            "type": "object",
            "required": ["audio_bytes"],
            "properties": {"audio_bytes": {"type": "integer", "minimum": 0}},
        },
    },
}
_AUDIO_CONTENT: dict[str, Any] = {
    **{t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES.values()},
    "text/event-stream": {
        # Each event as OpenAPI 3.2 / schemathesis see it: its fields, ``data`` being JSON.
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": {"type": "string"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"oneOf": [_SSE_DELTA, _SSE_DONE]},
                },
            },
        },
        "example": 'data: {"type": "speech.audio.delta", "audio": "<base64>"}\n\n'
        'data: {"type": "speech.audio.done", "usage": {"audio_bytes": 4096}}\n\n',
    },
}


def _replica(request: Request) -> Replica:
    replica: Replica = request.app.state.replica
    return replica


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than ``limit`` bytes without holding them."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputTooLongError(
                f"request body is over {limit} bytes; send at most the input character limit"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_speech(body: bytes) -> SpeechRequest:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"request body is not valid UTF-8 (bad byte at offset {exc.start}); encode it as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError("request body must be a JSON object with at least 'input'")
    try:
        return SpeechRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid request: {describe_validation(exc.errors())}") from None


async def _first_chunk(
    stream: AsyncGenerator[AudioChunk, None], request: Request, job: Job
) -> AudioChunk | None:
    """Wait for the first piece while watching for the client leaving."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                job.cancel.set()
                return

    watcher = asyncio.create_task(watch())
    try:
        return await anext(stream, None)
    finally:
        watcher.cancel()


@router.post(
    "/v1/audio/speech",
    summary="Generate audio from text (OpenAI-compatible)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": _AUDIO_CONTENT,
            "headers": _AUDIO_HEADERS,
            "description": "Audio bytes in the asked ``response_format`` as they are made "
            "(flac: at the end), or with ``stream_format: sse`` server-sent events whose "
            "``speech.audio.delta`` carry base64 audio, then one ``speech.audio.done``.",
        },
        **_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SpeechRequest.model_json_schema()}},
        }
    },
)
async def speech(request: Request) -> Response:
    """Synthesize ``input``; audio is sent piece by piece as it is made."""
    replica = _replica(request)
    started = time.monotonic()
    body = await _read_body(request, replica.settings.max_input_chars * 8 + 65536)
    req = _parse_speech(body)
    replica.check_model(req.model)
    spoken = replica.check_input(req.input, req.voice)
    seed = req.seed if req.seed is not None else replica.settings.seed
    job = replica.pool.admit(
        spoken.text, spoken.voice, req.speed, seed=seed, reference=spoken.reference
    )
    stream = replica.pool.run(job)
    try:
        first = await _first_chunk(stream, request, job)
    except BaseException:
        await stream.aclose()
        raise
    replica.metrics.first_audio.observe(time.monotonic() - started)
    # OpenAI's pcm is 24 kHz: clients play it at that rate, whatever the model makes.
    default_rate = PCM_RATE if req.response_format == "pcm" else None
    encoder = StreamEncoder(
        req.response_format, replica.manifest.sample_rate, req.sample_rate or default_rate
    )
    chunks = _audio_bytes(replica, job, first, stream, encoder, len(spoken.text))
    headers = {"X-TTSOps-Sample-Rate": str(encoder.rate), "X-TTSOps-Voice": spoken.voice}
    if spoken.reference is not None:
        headers["X-TTSOps-Reference"] = spoken.reference.name
    if req.stream_format == "sse":
        return StreamingResponse(_sse(chunks), media_type="text/event-stream", headers=headers)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[req.response_format], headers=headers)


async def _audio_bytes(
    replica: Replica,
    job: Job,
    first: AudioChunk | None,
    stream: AsyncGenerator[AudioChunk, None],
    encoder: StreamEncoder,
    chars: int,
) -> AsyncIterator[bytes]:
    """Encode pieces as they come; record audio and RTF once the request completes."""
    finished = broken = False
    try:
        if first is not None:
            yield encoder.encode(first.samples)
            async for chunk in stream:
                data = encoder.encode(chunk.samples)
                if data:
                    yield data
        yield encoder.finish()
        finished = True
    except TtsopsError:
        # The 200 and some audio are already out: the only honest signal left is to cut
        # the stream (the client sees an incomplete body) and count it as broken.
        broken = True
        replica.metrics.broken.inc()
        raise
    finally:
        await stream.aclose()
        if finished:
            replica.metrics.audio_seconds.inc(job.audio_s)
            replica.metrics.input_chars.inc(chars)
            if job.started is not None and job.audio_s > 0:
                replica.metrics.rtf.observe((time.monotonic() - job.started) / job.audio_s)
        elif not broken:
            replica.metrics.cancelled.inc()


async def _sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Server-sent events: ``speech.audio.delta`` with base64 audio, then ``speech.audio.done``."""
    total = 0
    async for data in chunks:
        if data:
            total += len(data)
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
            yield f"data: {json.dumps(event)}\n\n"
    done = {"type": "speech.audio.done", "usage": {"audio_bytes": total}}
    yield f"data: {json.dumps(done)}\n\n"


@router.get("/v1/models", summary="The model this server serves", responses=_ERRORS_GET)
async def models(request: Request) -> ModelList:
    """List the served model (OpenAI's list format), with its voices and voice aliases."""
    replica = _replica(request)
    m = replica.manifest
    created = int(m.created_at.timestamp())
    voices, aliases = list(replica.voices.voices), dict(replica.voices.aliases)
    return ModelList(
        data=[
            ModelEntry(
                id=name, created=created, owned_by="ttsops", voices=voices, voice_aliases=aliases
            )
            for name in (m.name, m.ref)
        ]
    )


@router.get("/healthz", summary="Liveness: the process answers", responses=_ERRORS_GET)
async def healthz() -> dict[str, str]:
    """Always 200 while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: 200 only after a real synthesis succeeded",
    response_model=ReadyInfo,
    responses={
        503: {"model": ReadyInfo, "description": "Loading, failed or draining."},
        **_ERRORS_GET,
    },
)
async def readyz(request: Request) -> JSONResponse:
    """200 when the replica serves; 503 while loading, draining, or if the model failed."""
    pool = _replica(request).pool
    body = {"status": pool.state.value, "reason": pool.reason}
    if pool.state is PoolState.READY:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


@router.get("/version", summary="Exactly which model this replica serves", responses=_ERRORS_GET)
async def version(request: Request) -> VersionInfo:
    """Bundle name, version, digest, git sha and the ttsops version."""
    return _replica(request).version_info()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        },
        **_ERRORS_GET,
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(_replica(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
