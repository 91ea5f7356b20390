"""``ttsops analysis serve``: the canary analysis over HTTP, for Argo Rollouts' web metric.

``POST /v1/analysis`` with ``{"canary": URL, "stable": URL}`` probes both services alike and
answers ``{"verdict": "pass" | "fail" | "inconclusive", ...}``; the AnalysisTemplate that
``ttsops k8s render --rollouts`` writes reads ``$.verdict`` (pass → Successful, fail →
Failed, inconclusive → neither condition: Inconclusive). A request that cannot be judged —
a malformed URL (422), a service that does not answer or is no ttsops server (400) — gets a
JSON error, which Argo counts as a measurement Error; never a 500.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, Field
from starlette.exceptions import HTTPException

from ttsops import __version__
from ttsops.analysis_service.judge import Scorer, judge, probe_count
from ttsops.errors import TtsopsError
from ttsops.server.contract import allowed_methods, describe_validation, error_responses
from ttsops.settings import CanarySettings

__all__ = ["AnalysisAnswer", "AnalysisRequest", "create_analysis_app"]

_MAX_PROBES = 50


class AnalysisRequest(BaseModel):
    """``POST /v1/analysis``: the two services to compare."""

    canary: AnyHttpUrl
    """Base URL of the canary service, e.g. ``http://joe-canary.tts.svc.cluster.local:6006``."""

    stable: AnyHttpUrl
    """Base URL of the stable service the canary is compared with."""

    probes: Annotated[int | None, Field(ge=1, le=_MAX_PROBES)] = None
    """Probe syntheses per service; default enough for every check (``[canary]``)."""


class SlotView(BaseModel):
    """What one service is and what its probes did."""

    url: str
    name: str | None
    version: str | None
    digest: str | None
    requests: int
    """Probes sent."""
    errors: int
    """Probes that were not a 200 with decodable audio."""
    p95_s: float | None
    """Latency p95 of the probes that succeeded (s)."""
    ovrl: list[float]
    """DNSMOS OVRL of each scored answer."""
    problems: list[str]
    """Why probes failed (the first few)."""


class CheckView(BaseModel):
    """One check of the verdict."""

    name: str
    """``error_rate``, ``latency_p95`` or ``audio_quality``."""
    outcome: str
    reason: str
    observed: float | None
    limit: float | None
    details: dict[str, Any]


class AnalysisAnswer(BaseModel):
    """The verdict and what it rests on."""

    verdict: str = Field(json_schema_extra={"enum": ["pass", "fail", "inconclusive", "error"]})
    """pass, fail or inconclusive (too little data: never a pass); Argo reads ``$.verdict``."""
    reasons: list[str]
    """Why, one sentence per check that did not pass (or that all passed)."""
    checks: list[CheckView]
    canary: SlotView
    stable: SlotView
    seconds: float
    """How long the analysis took."""


def create_analysis_app(policy: CanarySettings, scorer: Scorer) -> FastAPI:
    """The analysis service judging with ``policy``'s thresholds and ``scorer``'s DNSMOS."""
    app = FastAPI(
        title="ttsops analysis",
        version=__version__,
        description=(
            "Canary analysis of two TTS services for Argo Rollouts' web metric: the same "
            "probe sentences to the canary and the stable service, scored for errors, "
            "latency p95 and DNSMOS audio quality, judged as the ttsops agent judges a "
            "canary. Argo reads `$.verdict`."
        ),
    )

    @app.exception_handler(TtsopsError)
    async def _ttsops_error(request: Request, exc: TtsopsError) -> JSONResponse:
        status = exc.http_status if 400 <= exc.http_status < 500 else 400
        return _error(status, type(exc).__name__, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = f"invalid request: {describe_validation(exc.errors())}"
        return _error(422, "InvalidRequest", "invalid_request", message)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = None
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.url.path}; POST /v1/analysis (see /docs)"
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers = {"Allow": ", ".join(allow)}
            message = (
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allow)}"
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, "HTTPError", code, message, headers)

    @app.post(
        "/v1/analysis",
        summary="Judge a canary service against the stable one",
        responses=error_responses(400, 405, 422),
    )
    async def analysis(body: AnalysisRequest) -> AnalysisAnswer:
        """Send the same probe sentences to both services; score and judge the canary.

        ``verdict`` is pass (every check within its limit), fail (a check crossed its
        limit: errors, latency p95 or DNSMOS OVRL drop) or inconclusive (too little data,
        never a pass). A service that does not answer, or is not a ttsops server, is a 400.
        """
        result = await asyncio.to_thread(
            judge, str(body.canary), str(body.stable), policy, scorer, probes=body.probes
        )
        return AnalysisAnswer.model_validate(result.to_dict())

    @app.get("/healthz", summary="Liveness: the service answers", responses=error_responses(405))
    async def healthz() -> dict[str, Any]:
        """200 while it runs (DNSMOS was loaded before it listened), with its probe count."""
        return {"status": "ok", "probes": probe_count(policy)}

    return app


def _error(
    status: int, kind: str, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every failure has."""
    body = {"error": {"type": kind, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)
