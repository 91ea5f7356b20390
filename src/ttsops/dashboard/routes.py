"""The dashboard's routes on the agent's app: pages, their JSON, files and the actions.

Pages (HTML, left out of the OpenAPI schema) are server-rendered from the same view
models the JSON routes return; the live page polls ``api/now``. Links are relative, so
the same pages work at ``/dashboard/`` on the agent's port and at ``/_ttsops/dashboard/``
through the router. Reading needs no token; the actions (roll back, abort, promote) need
a dashboard session or the agent's bearer token and go through the agent's own operations,
which record who and why.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from ttsops.bundle.manifest import VERSION_PATTERN
from ttsops.dashboard.auth import (
    COOKIE,
    CSRF_HEADER,
    DashboardAuthError,
    check_token,
    read_session,
    sign_session,
    valid_name,
)
from ttsops.dashboard.gate_view import (
    GateReportNotFoundError,
    GateView,
    audio_file,
    build_gate,
    find_report,
    plot_file,
)
from ttsops.dashboard.now import NowView, build_now
from ttsops.dashboard.timeline import HistoryView, build_history
from ttsops.errors import RequestError, TtsopsError
from ttsops.registry import normalize_version
from ttsops.render import render_template
from ttsops.rollout.agent import Agent
from ttsops.rollout.state import Rollout
from ttsops.server.contract import ErrorBody, error_responses

__all__ = [
    "ActionRequest",
    "ActionResult",
    "LoginRequest",
    "RollbackAction",
    "SessionView",
    "dashboard_router",
]

_MAX_ID = 2**63 - 1
_Id = Annotated[int, Path(ge=1, le=_MAX_ID, description="The id.")]
_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "A dashboard session without its page's header."}
}


_bearer = HTTPBearer(auto_error=False)
_cookie = APIKeyCookie(name=COOKIE, auto_error=False)


class DashboardForbiddenError(RequestError):
    """An action with a session cookie but without the dashboard's header (403)."""

    http_status = 403
    code = "forbidden"


class LoginRequest(BaseModel):
    """``POST /dashboard/api/login``."""

    token: str = Field(min_length=1, max_length=512)
    """The agent's token."""
    name: str = Field(min_length=1, max_length=64)
    """Who you are: recorded as ``NAME@dashboard`` with every action."""


class SessionView(BaseModel):
    """Whether this browser is signed in, and as whom."""

    signed_in: bool
    name: str | None = None


class ActionRequest(BaseModel):
    """An action from the dashboard: why (recorded with who)."""

    reason: str = Field(min_length=1, max_length=1000)
    """Why; recorded in the events like the CLI's ``--reason``."""


class RollbackAction(ActionRequest):
    """``POST /dashboard/api/rollback``."""

    to: str | None = Field(default=None, pattern=VERSION_PATTERN, max_length=200)
    """Version to return to; default the previous stable one."""


class ActionResult(BaseModel):
    """The deployment an action started or moved."""

    deployment: int
    version: str
    phase: str
    reason: str | None
    message: str
    """What was done, in words."""


def dashboard_router(agent: Agent, token: str) -> APIRouter:  # noqa: PLR0915 - one route each
    """The dashboard's routes over ``agent``; actions need ``token`` (or a session made with it)."""
    router = APIRouter(prefix="/dashboard", tags=["dashboard"])

    def actor(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        session: Annotated[str | None, Depends(_cookie)],
    ) -> None:
        """Put who acts in ``request.state.who``; refuse without a token or a session."""
        if creds is not None:
            check_token(creds.credentials, token)
            request.state.who = "api@dashboard"
            return
        name = read_session(session, token)
        if name is None:
            raise DashboardAuthError(
                "not signed in: sign in on the dashboard with the agent's token (or send "
                "Authorization: Bearer <token>) to roll back, abort or promote"
            )
        if request.headers.get(CSRF_HEADER) != "1":
            raise DashboardForbiddenError(
                f"an action with a dashboard session must send the header {CSRF_HEADER}: 1 "
                "(the dashboard's page does); requests from other sites are refused"
            )
        request.state.who = f"{name}@dashboard"

    signed_in = [Depends(actor)]

    def page(name: str, root: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = render_template(f"dashboard/{name}.html.j2", root=root, page=name, **context)
        return HTMLResponse(html, status_code=status)

    def error_page(root: str, exc: TtsopsError) -> HTMLResponse:
        return page("error", root, exc.http_status, title="Not found", message=exc.message)

    # -- pages ------------------------------------------------------------------------------

    @router.get("", include_in_schema=False)
    async def bare() -> RedirectResponse:
        return RedirectResponse("dashboard/", status_code=307)

    @router.get("/", include_in_schema=False)
    async def now_page() -> HTMLResponse:
        now = await asyncio.to_thread(build_now, agent)
        return page("now", "./", title="Now", now=now.model_dump(mode="json"))

    @router.get("/history", include_in_schema=False)
    async def history_page(
        version: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HTMLResponse:
        view = await asyncio.to_thread(build_history, agent.ledger, _filter(version))
        return page("history", "./", title="History", history=view.model_dump(mode="json"))

    @router.get("/gate/{report_id}", include_in_schema=False)
    async def gate_page(report_id: _Id) -> HTMLResponse:
        try:
            view = await asyncio.to_thread(build_gate, agent.ledger, report_id)
        except TtsopsError as exc:
            return error_page("../", exc)
        return page("gate", "../", title=f"Gate #{report_id}", gate=view.model_dump(mode="json"))

    @router.get("/gate/{report_id}/audio/{role}/{name}", include_in_schema=False)
    async def audio(report_id: _Id, role: str, name: str) -> FileResponse:
        record = await asyncio.to_thread(find_report, agent.ledger, report_id)
        sentence = name.removesuffix(".wav")
        found = None
        if name.endswith(".wav"):
            found = await asyncio.to_thread(audio_file, agent.ledger, record, role, sentence)
        if found is None:
            raise GateReportNotFoundError(
                f"gate report #{report_id} kept no audio {role}/{name} (the gate keeps it in "
                "<report dir>/audio/ when run with --report)"
            )
        return FileResponse(found, media_type="audio/wav")

    @router.get("/gate/{report_id}/{name}", include_in_schema=False)
    async def plot(report_id: _Id, name: str) -> FileResponse:
        record = await asyncio.to_thread(find_report, agent.ledger, report_id)
        return FileResponse(plot_file(record, name), media_type="image/png")

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise GateReportNotFoundError(f"the dashboard has no file {name}")
        text = resources.files("ttsops.dashboard").joinpath("static", name).read_text("utf-8")
        return Response(text, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    # -- JSON -------------------------------------------------------------------------------

    @router.get("/api/now", summary="Dashboard: now", responses=error_responses(405, 500, 503))
    async def now_json() -> NowView:
        """Live version, slots, readiness, patrol, and the canary in flight with its windows."""
        return await asyncio.to_thread(build_now, agent)

    @router.get(
        "/api/history",
        summary="Dashboard: history",
        responses=error_responses(405, 422, 500, 503),
    )
    async def history_json(
        version: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HistoryView:
        """Releases, deployments, rollbacks and gates, newest first (``version``: only its)."""
        wanted = _filter(version)
        return await asyncio.to_thread(build_history, agent.ledger, wanted)

    @router.get(
        "/api/gate/{report_id}",
        summary="Dashboard: a gate report",
        responses=error_responses(404, 405, 422, 500, 503),
    )
    async def gate_json(report_id: _Id) -> GateView:
        """The table, checks, reasons, plots and every sentence's two takes, worst first."""
        return await asyncio.to_thread(build_gate, agent.ledger, report_id)

    @router.get(
        "/api/session", summary="Dashboard: who is signed in", responses=error_responses(405, 500)
    )
    async def session(request: Request) -> SessionView:
        """Whether this browser has a dashboard session (it needs none to ask)."""
        name = read_session(request.cookies.get(COOKIE), token)
        return SessionView(signed_in=name is not None, name=name)

    @router.post(
        "/api/login",
        summary="Dashboard: sign in",
        response_model=SessionView,
        responses=error_responses(400, 401, 405, 422, 500),
    )
    async def login(body: LoginRequest, request: Request) -> JSONResponse:
        """Check the agent's token; set an HttpOnly session cookie (not the token itself)."""
        check_token(body.token, token)
        if not valid_name(body.name):
            raise RequestError(
                f"name {body.name!r} cannot be recorded: use letters, digits, spaces and . @ + - _"
            )
        reply = JSONResponse(SessionView(signed_in=True, name=body.name).model_dump())
        secure = request.headers.get("x-forwarded-proto", request.url.scheme) == "https"
        reply.set_cookie(
            COOKIE,
            sign_session(body.name, token),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        return reply

    @router.post(
        "/api/logout",
        summary="Dashboard: sign out",
        response_model=SessionView,
        responses=error_responses(405, 500),
    )
    async def logout() -> JSONResponse:
        """Drop this browser's session cookie."""
        reply = JSONResponse(SessionView(signed_in=False).model_dump())
        reply.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return reply

    def result(rollout: Rollout, message: str) -> ActionResult:
        return ActionResult(
            deployment=rollout.id,
            version=rollout.version,
            phase=rollout.phase.value,
            reason=rollout.reason,
            message=message,
        )

    action_errors = error_responses(400, 401, 404, 405, 409, 422, 500, 503) | _FORBIDDEN

    @router.post(
        "/api/rollback",
        status_code=202,
        summary="Dashboard: roll back",
        responses=action_errors,
        dependencies=signed_in,
    )
    async def rollback(body: RollbackAction, request: Request) -> ActionResult:
        """Return to the previous stable version (or ``to``), as ``ttsops rollback`` does."""
        to = normalize_version(body.to) if body.to else None
        done = await asyncio.to_thread(
            agent.rollback, to=to, actor=request.state.who, reason=body.reason
        )
        return result(done, f"deployment #{done.id}: {done.strategy} to {done.version}")

    @router.post(
        "/api/deployments/{deployment_id}/abort",
        summary="Dashboard: abort a deployment",
        responses=action_errors,
        dependencies=signed_in,
    )
    async def abort(deployment_id: _Id, body: ActionRequest, request: Request) -> ActionResult:
        """Stop a deployment in flight; traffic returns to (or stays on) the old version."""
        done = await asyncio.to_thread(
            agent.abort, deployment_id, actor=request.state.who, reason=body.reason
        )
        return result(done, f"deployment #{done.id} of {done.version} is being aborted")

    @router.post(
        "/api/deployments/{deployment_id}/promote",
        summary="Dashboard: promote a canary",
        responses=action_errors,
        dependencies=signed_in,
    )
    async def promote(deployment_id: _Id, body: ActionRequest, request: Request) -> ActionResult:
        """Skip a canary's remaining steps and watch window: it goes live now."""
        done = await asyncio.to_thread(
            agent.promote, deployment_id, actor=request.state.who, reason=body.reason
        )
        return result(done, f"deployment #{done.id} of {done.version} promoted: going live")

    return router


def _filter(version: str | None) -> str | None:
    """The version to filter on: ``v1.2.0`` is ``1.2.0``; what is no version matches nothing."""
    if not version:
        return None
    try:
        return normalize_version(version)
    except TtsopsError:
        return version
