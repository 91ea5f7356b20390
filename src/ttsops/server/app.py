"""``create_app``: the FastAPI application of one replica."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ttsops import __version__
from ttsops.bundle.manifest import Manifest
from ttsops.engines import EngineOptions
from ttsops.errors import OverloadedError, TtsopsError
from ttsops.server.contract import allowed_methods, describe_validation
from ttsops.server.replica import Replica
from ttsops.server.routes import router
from ttsops.server.routes_voices import DESCRIPTION as VOICES_DESCRIPTION
from ttsops.server.routes_voices import router as voices_router
from ttsops.server.schemas import speech_request_schema
from ttsops.settings import ServerSettings

__all__ = ["create_app"]

log = logging.getLogger("ttsops.server")

_KNOWN_ROUTES = (
    "/v1/audio/speech",
    "/v1/models",
    "/v1/voices",
    "/healthz",
    "/readyz",
    "/version",
    "/metrics",
)


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 503:
        kind = "overloaded_error"
    body = {"error": {"type": kind, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _route_group(path: str) -> str:
    """The metrics label of a path with a variable part."""
    if path.startswith("/ui"):
        return "/ui"
    if path.startswith("/v1/voices/"):
        return "/v1/voices/{id}"
    return "other"


class _TraceMiddleware:
    """Adds the model's headers to every response and counts requests by route and status."""

    def __init__(self, app: ASGIApp, replica: Replica) -> None:
        self.app = app
        self.replica = replica
        self.raw_headers = [(k.lower().encode(), v.encode()) for k, v in replica.headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = path if path in _KNOWN_ROUTES else _route_group(path)
        started = time.monotonic()
        status = 500

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *self.raw_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        finally:
            metrics = self.replica.metrics
            metrics.requests.labels(route=route, status=str(status)).inc()
            metrics.latency.labels(route=route).observe(time.monotonic() - started)


def create_app(
    bundle_dir: Path,
    manifest: Manifest,
    settings: ServerSettings | None = None,
    *,
    engine_options: EngineOptions | None = None,
    ui: bool = True,
) -> FastAPI:
    """Build the app serving ``bundle_dir``; the model loads in the background at startup."""
    replica = Replica(bundle_dir, manifest, settings or ServerSettings(), engine_options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        replica.load_in_background()
        yield
        replica.pool.shutdown()

    app = FastAPI(
        title="ttsops speech server",
        version=__version__,
        description=(
            f"Serves {manifest.ref} (digest {manifest.digest[:12]}). OpenAI-compatible "
            "`POST /v1/audio/speech`; every response carries X-TTSOps-Version and "
            f"X-TTSOps-Digest. {VOICES_DESCRIPTION}"
        ),
        lifespan=lifespan,
    )
    app.state.replica = replica
    app.include_router(router)
    app.include_router(voices_router)

    @app.exception_handler(TtsopsError)
    async def _ttsops_error(request: Request, exc: TtsopsError) -> JSONResponse:
        headers = None
        if isinstance(exc, OverloadedError):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.http_status >= 500 and not isinstance(exc, OverloadedError):
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(
            400, "invalid_request", f"invalid request: {describe_validation(exc.errors())}"
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = f"no route {request.url.path}; see /docs for the API"
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers["Allow"] = ", ".join(allow)
            message = (
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allow)}"
            )
        return _error(exc.status_code, code, message, headers or None)

    def openapi() -> dict[str, Any]:
        """The schema with this server's own input limit, voices and model names."""
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        engine = replica.pool.engine
        body = schema["paths"]["/v1/audio/speech"]["post"]["requestBody"]
        body["content"]["application/json"]["schema"] = speech_request_schema(
            voices=replica.voices.names,
            models=replica.model_names,
            max_input_chars=replica.settings.max_input_chars,
            references=engine is not None and engine.supports_prompt_audio,
        )
        if engine is None:  # still loading: whether it takes reference voices is not known
            app.openapi_schema = None
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    if ui:
        from ttsops.server.ui import mount_ui

        mount_ui(app, replica)

    app.add_middleware(_TraceMiddleware, replica=replica)
    return app
