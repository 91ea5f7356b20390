"""The agent's management API (FastAPI): deployments, their events, rollback, abort, status.

Every route needs ``Authorization: Bearer <token>``; the token is compared in constant
time and a missing or wrong one gets 401, except on ``/metrics`` and ``/metrics/targets``
(``ttsops.rollout.metrics``), which a Prometheus scrapes without one. Errors are JSON
``{"error": {...}}`` with the status of the ``TtsopsError`` that caused them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ttsops import __version__
from ttsops.bundle.manifest import VERSION_PATTERN
from ttsops.dashboard import dashboard_router
from ttsops.errors import TtsopsError
from ttsops.registry import DeploymentRecord, EventRecord
from ttsops.rollout.agent import Agent
from ttsops.rollout.metrics import metrics_router
from ttsops.rollout.state import Rollout
from ttsops.server.contract import allowed_methods, describe_validation, error_responses

__all__ = ["DeploymentRequest", "DeploymentView", "EventView", "Strategy", "create_agent_app"]

Strategy = Literal["blue-green", "canary", "recreate", "rollback"]
"""How a deployment shifts traffic (``ttsops.rollout.controller.STRATEGIES``)."""

_MAX_ID = 2**63 - 1
_DeploymentId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The deployment's id.")]


class DeploymentRequest(BaseModel):
    """``POST /v1/deployments``."""

    version: str = Field(pattern=VERSION_PATTERN, max_length=200)
    """Registered version to make live."""

    strategy: Strategy = "blue-green"
    """``blue-green``, ``canary``, ``recreate`` (or ``rollback``: blue-green to an older one)."""

    actor: str | None = None
    """Who asks (``user@host``, ``ci``); recorded in the events."""

    reason: str | None = None
    """Why; recorded in the events."""

    start_timeout_s: float | None = Field(default=None, gt=0)
    """Seconds the new slot may take to become ready; default the agent's."""


class RollbackRequest(BaseModel):
    """``POST /v1/rollback``."""

    to: str | None = Field(default=None, pattern=VERSION_PATTERN, max_length=200)
    """Version to return to; default the previous stable one."""

    actor: str | None = None
    """Who asks; recorded."""

    reason: str | None = None
    """Why; recorded."""


class AbortRequest(BaseModel):
    """``POST /v1/deployments/{id}/abort``."""

    actor: str | None = None
    reason: str | None = None


class DeploymentView(BaseModel):
    """A deployment: its ledger state and its rollout phase."""

    id: int
    version: str
    strategy: str
    state: str
    """Coarse ledger state: pending, progressing, live, rolled_back, failed, aborted."""
    phase: str
    """Rollout phase (see ``ttsops.rollout.state.Phase``)."""
    terminal: bool
    reason: str | None
    slot: str | None
    old_version: str | None
    downtime_s: float | None
    weight: int | None = None
    """``canary``: the new version's share of traffic now (%)."""
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class EventView(BaseModel):
    """One audit-log event."""

    id: int
    at: datetime
    actor: str
    kind: str
    message: str
    version: str | None
    data: dict[str, Any] = Field(default_factory=dict)


def _view(record: DeploymentRecord, rollout: Rollout) -> DeploymentView:
    return DeploymentView(
        id=record.id,
        version=record.version,
        strategy=record.strategy,
        state=record.state.value,
        phase=rollout.phase.value,
        terminal=rollout.phase.terminal,
        reason=rollout.reason or record.reason,
        slot=rollout.slot,
        old_version=rollout.old_version,
        downtime_s=rollout.downtime_s,
        weight=rollout.weight,
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


def _event(e: EventRecord) -> EventView:
    return EventView(
        id=e.id,
        at=e.at,
        actor=e.actor,
        kind=e.kind,
        message=e.message,
        version=e.version,
        data=e.data,
    )


_bearer = HTTPBearer(auto_error=False)


def create_agent_app(agent: Agent, token: str, *, run_loop: bool = True) -> FastAPI:  # noqa: PLR0915
    """The management API over ``agent``; with ``run_loop`` the controller runs alongside."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_loop:
            agent.start_loop()
        yield
        agent.stop_loop()

    app = FastAPI(
        title="ttsops agent",
        version=__version__,
        description="Zero-downtime deploys and instant rollback of TTS versions on this host.",
        lifespan=lifespan,
    )

    async def authorized(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        given = creds.credentials if creds is not None else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise _UnauthorizedError

    auth = [Depends(authorized)]

    @app.exception_handler(TtsopsError)
    async def _ttsops_error(request: Request, exc: TtsopsError) -> JSONResponse:
        return _error(exc.http_status, type(exc).__name__, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = f"invalid request: {describe_validation(exc.errors())}"
        return _error(422, "InvalidRequest", "invalid_request", message)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.url.path}; see /docs for the API"
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers["Allow"] = ", ".join(allow)
            message = (
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allow)}"
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, "HTTPError", code, message, headers or None)

    @app.exception_handler(_UnauthorizedError)
    async def _unauthorized(request: Request, exc: _UnauthorizedError) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "type": "Unauthorized",
                    "code": "unauthorized",
                    "message": "missing or wrong bearer token; send Authorization: Bearer "
                    "<token> (TTSOPS_TOKEN, or the agent's token file)",
                }
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def view(rollout: Rollout) -> DeploymentView:
        record = agent.ledger.get_deployment(rollout.id)
        assert record is not None
        return _view(record, rollout)

    @app.post(
        "/v1/deployments",
        status_code=202,
        dependencies=auth,
        summary="Deploy a version",
        responses=error_responses(400, 401, 404, 405, 409, 422, 500, 503),
    )
    async def create(body: DeploymentRequest) -> DeploymentView:
        """Accept a deployment; poll it or its events to follow it."""
        rollout = await asyncio.to_thread(
            agent.deploy,
            body.version,
            body.strategy,
            actor=body.actor or "api",
            reason=body.reason,
            start_timeout_s=body.start_timeout_s,
        )
        return view(rollout)

    @app.get(
        "/v1/deployments",
        dependencies=auth,
        summary="Recent deployments",
        responses=error_responses(401, 405, 422, 500, 503),
    )
    async def listing(limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[DeploymentView]:
        """Newest first."""
        records = agent.ledger.list_deployments(limit=limit)
        return [_view(r, agent.rollout(r.id)) for r in records]

    @app.get(
        "/v1/deployments/{deployment_id}",
        dependencies=auth,
        summary="One deployment",
        responses=error_responses(401, 404, 405, 422, 500, 503),
    )
    async def one(deployment_id: _DeploymentId) -> DeploymentView:
        """Its state, phase and reason."""
        return view(agent.rollout(deployment_id))

    @app.get(
        "/v1/deployments/{deployment_id}/events",
        dependencies=auth,
        summary="Its events",
        responses=error_responses(401, 404, 405, 422, 500, 503),
    )
    async def events(
        deployment_id: _DeploymentId, after: Annotated[int, Query(ge=0, le=_MAX_ID)] = 0
    ) -> list[EventView]:
        """Events of one deployment, oldest first, with ids above ``after``."""
        agent.rollout(deployment_id)  # 404 for an unknown id, not an empty list
        found = agent.ledger.list_events(deployment_id=deployment_id, limit=500)
        return [_event(e) for e in reversed(found) if e.id > after]

    @app.post(
        "/v1/deployments/{deployment_id}/abort",
        dependencies=auth,
        summary="Abort a deployment",
        responses=error_responses(400, 401, 404, 405, 409, 422, 500, 503),
    )
    async def abort(deployment_id: _DeploymentId, body: AbortRequest) -> DeploymentView:
        """Traffic returns to (or stays on) the old version."""
        rollout = await asyncio.to_thread(
            agent.abort, deployment_id, actor=body.actor or "api", reason=body.reason
        )
        return view(rollout)

    @app.post(
        "/v1/rollback",
        status_code=202,
        dependencies=auth,
        summary="Roll back",
        responses=error_responses(400, 401, 404, 405, 409, 422, 500, 503),
    )
    async def rollback(body: RollbackRequest) -> DeploymentView:
        """Return to the previous stable version (or ``to``): a router switch when warm."""
        rollout = await asyncio.to_thread(
            agent.rollback, to=body.to, actor=body.actor or "api", reason=body.reason
        )
        return view(rollout)

    @app.get(
        "/v1/status",
        dependencies=auth,
        summary="What is live",
        responses=error_responses(401, 405, 500, 503),
    )
    async def status() -> dict[str, Any]:
        """Live version, since when, from which commit; slots, weights, router."""
        return await asyncio.to_thread(agent.status)

    app.include_router(dashboard_router(agent, token))  # /dashboard/: pages, JSON, actions
    app.include_router(metrics_router(agent))  # /metrics, /metrics/targets: no token
    return app


def _error(
    status: int, kind: str, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every failure of the API has."""
    body = {"error": {"type": kind, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class _UnauthorizedError(Exception):
    """Missing or wrong bearer token."""
