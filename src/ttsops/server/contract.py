"""HTTP contract shared by the speech server and the agent's API: the JSON error body, the
error responses each operation declares, and the ``Allow`` header of a 405."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Match

__all__ = [
    "ERROR_DESCRIPTIONS",
    "ErrorBody",
    "ErrorDetail",
    "allowed_methods",
    "describe_validation",
    "error_responses",
]


class ErrorDetail(BaseModel):
    """What went wrong, for a client."""

    type: str
    """Error class, e.g. ``invalid_request_error``, ``overloaded_error``, ``server_error``."""

    code: str
    """Stable machine-readable code, e.g. ``input_too_long``."""

    message: str
    """Human-readable: what was wrong and what to do."""


class ErrorBody(BaseModel):
    """JSON body of every error response."""

    error: ErrorDetail
    """The error."""


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request (the message says what to fix).",
    401: "Missing or wrong bearer token.",
    404: "No such resource.",
    405: "Method not allowed on this path; the Allow header lists the allowed ones.",
    409: "Refused in the current state (the message says why and what to do).",
    413: "Input longer than the server's limit.",
    415: "The upload is not in a media type the server reads (e.g. not audio).",
    422: "The request does not match the schema (the message says which field).",
    500: "Internal error; the message says what failed.",
    503: "Queue full, draining, or a backing service is unreachable; see Retry-After.",
    504: "Synthesis took longer than the request timeout.",
}
"""What each error status means, for the OpenAPI ``responses``."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``statuses``, each with the JSON error body."""
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on the request's path (for ``Allow``)."""
    routes = request.app.router.routes
    # Ask the routes themselves (included routers nest theirs): FULL means path and method fit.
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def describe_validation(errors: Iterable[Mapping[str, Any]]) -> str:
    """Pydantic's errors as one line: ``body.strategy: Input should be … (got 'x')``."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        part = f"{where}: {err.get('msg', 'invalid')}"
        if err.get("type") in {"literal_error", "enum"}:
            part += f" (got {err.get('input')!r})"
        parts.append(part)
    return "; ".join(parts)
