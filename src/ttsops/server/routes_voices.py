"""HTTP routes of reference voices: register a clip, list, show and delete them.

A registered voice's id goes in a speech request's ``voice``. What the engine does with it
depends on the engine: Kokoro matches the clip to its nearest stock voices and mixes them
(voice matching, not cloning); an engine that clones would clone; Piper cannot use one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ttsops.errors import InvalidReferenceError
from ttsops.server.contract import error_responses
from ttsops.server.refclip import MAX_CLIP_BYTES, MAX_CLIP_S, MIN_CLIP_RATE, MIN_CLIP_S
from ttsops.server.refvoices import MAX_NAME_CHARS, MAX_TEXT_CHARS, RefVoice
from ttsops.server.replica import Replica
from ttsops.server.schemas import RefVoiceDeleted, RefVoiceInfo, RefVoiceList

__all__ = ["DESCRIPTION", "router"]

router = APIRouter(tags=["voices"])

DESCRIPTION = (
    "Reference voice (matching with kokoro; cloning where the engine clones): register a clip "
    "of a voice and use the id it answers as `voice` in `/v1/audio/speech`. Engines that "
    "cannot use a reference (piper) refuse such a request with 400."
)

_FORM_SLACK = 64 * 1024
"""Room for the multipart framing and the text fields around the clip."""

_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": f"The clip: wav, flac, ogg, mp3 or m4a; {MIN_CLIP_S:g}–{MAX_CLIP_S:g} "
            f"s of speech, {MIN_CLIP_RATE} Hz or more, at most {MAX_CLIP_BYTES // 2**20} MiB.",
        },
        "name": {
            "type": "string",
            "maxLength": MAX_NAME_CHARS,
            "description": "Display name (default: the file's name).",
        },
        "text": {
            "type": "string",
            "maxLength": MAX_TEXT_CHARS,
            "description": "What the clip says (engines that clone may use it).",
        },
    },
}


def _replica(request: Request) -> Replica:
    replica: Replica = request.app.state.replica
    return replica


def _info(voice: RefVoice) -> RefVoiceInfo:
    return RefVoiceInfo(
        id=voice.id,
        name=voice.name,
        text=voice.text,
        duration_s=voice.duration_s,
        sample_rate=voice.sample_rate,
        source_rate=voice.source_rate,
        created=voice.created,
    )


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        yield chunk


def _too_big(limit: int) -> InvalidReferenceError:
    return InvalidReferenceError(
        f"upload is over {limit / 2**20:.1f} MiB; a clip may be at most "
        f"{MAX_CLIP_BYTES // 2**20} MiB ({MAX_CLIP_S:g} s of speech is plenty)",
        http_status=413,
    )


async def _read_form(request: Request) -> tuple[bytes, str, str | None, str | None]:
    """(clip bytes, file name, name, text) from a multipart upload, within the size limit."""
    from starlette.formparsers import MultiPartException, MultiPartParser
    from starlette.requests import ClientDisconnect

    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise InvalidReferenceError(
            f"POST /v1/voices takes multipart/form-data (got {kind or 'no content type'!r}); "
            "send the clip as the field 'file', e.g. curl -F file=@clip.wav URL/v1/voices"
        )
    limit = MAX_CLIP_BYTES + _FORM_SLACK
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_big(limit)
    parser = MultiPartParser(
        request.headers, _limited(request, limit), max_files=1, max_fields=2, max_part_size=65536
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidReferenceError(
            f"the upload is not a valid multipart form ({exc.message}); send one field 'file' "
            "and optionally 'name' and 'text'"
        ) from None
    except ClientDisconnect:
        raise InvalidReferenceError(
            "the upload was cut off before its end; send it again"
        ) from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidReferenceError(
                "no clip in the upload: send the audio as a file in the multipart field 'file'"
            )
        data = await upload.read()
        fields = {}
        for key in ("name", "text"):
            value = form.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidReferenceError(f"field {key!r} must be text, not a file")
            fields[key] = value
        return data, upload.filename or "", fields["name"], fields["text"]
    finally:
        await form.close()


@router.post(
    "/v1/voices",
    summary="Register a reference voice from a clip",
    description=DESCRIPTION,
    status_code=201,
    responses={
        200: {"model": RefVoiceInfo, "description": "That clip was already registered."},
        201: {"model": RefVoiceInfo, "description": "Registered; use ``id`` as ``voice``."},
        **error_responses(400, 405, 413, 415, 500),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": _UPLOAD_SCHEMA}},
        }
    },
)
async def register_voice(request: Request) -> JSONResponse:
    """Check the clip (audio, 1–30 s, ≥ 16 kHz, not silent), store it, answer its id."""
    data, filename, name, text = await _read_form(request)
    store = _replica(request).references
    voice, created = store.register(data, name=name, text=text, filename=filename)
    return JSONResponse(
        _info(voice).model_dump(mode="json"),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/voices/{voice.id}"},
    )


@router.get(
    "/v1/voices",
    summary="List the reference voices and the model's own voices",
    responses=error_responses(405),
)
async def list_voices(request: Request) -> RefVoiceList:
    """Every registered reference voice on this host, and the bundle's stock voices."""
    replica = _replica(request)
    engine = replica.pool.engine
    return RefVoiceList(
        data=[_info(v) for v in replica.references.list()],
        stock=list(replica.voices.voices),
        supports_prompt_audio=bool(engine is not None and engine.supports_prompt_audio),
    )


@router.get(
    "/v1/voices/{voice_id}",
    summary="One reference voice",
    responses=error_responses(404, 405),
)
async def get_voice(request: Request, voice_id: str) -> RefVoiceInfo:
    """The voice's name, transcript, duration and rates."""
    return _info(_replica(request).references.get(voice_id))


@router.delete(
    "/v1/voices/{voice_id}",
    summary="Delete a reference voice",
    responses=error_responses(404, 405),
)
async def delete_voice(request: Request, voice_id: str) -> RefVoiceDeleted:
    """Remove the clip from this host's store (every slot stops finding it at once)."""
    voice = _replica(request).references.delete(voice_id)
    return RefVoiceDeleted(id=voice.id)
