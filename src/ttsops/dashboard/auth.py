"""Who may act from the dashboard: the agent's token, kept as a signed session cookie.

``POST api/login`` checks the token once and sets an HttpOnly, SameSite=Strict session
cookie that holds the person's name, when it was issued and an HMAC of both keyed by the
token — never the token itself, and never in a URL. Changing the token ends every session.
An action needs that cookie (plus the ``X-TTSOps-Dashboard`` header, which a page of
another site cannot send without CORS: no cross-site request forgery) or, for scripts,
``Authorization: Bearer <token>`` like the rest of the agent's API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from ttsops.errors import RequestError

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "SESSION_S",
    "DashboardAuthError",
    "check_token",
    "read_session",
    "sign_session",
    "valid_name",
]

COOKIE = "ttsops_dashboard"
"""Name of the session cookie."""

CSRF_HEADER = "X-TTSOps-Dashboard"
"""Header the dashboard's own scripts send with every action."""

SESSION_S = 12 * 3600
"""A session lasts this long (or until the browser closes: it is a session cookie)."""

_NAME = re.compile(r"^[\w.@+-][\w .@+-]{0,63}$")


class DashboardAuthError(RequestError):
    """Not signed in to the dashboard, or a wrong token (401)."""

    http_status = 401
    code = "unauthorized"


def valid_name(name: str) -> bool:
    """A name that may be recorded as who acted: 1-64 letters, digits, ``. @ + - _`` spaces."""
    return bool(_NAME.match(name))


def check_token(given: str, token: str) -> None:
    """Raise ``DashboardAuthError`` unless ``given`` is the agent's token (constant time)."""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise DashboardAuthError(
            "wrong token; use the agent's token (TTSOPS_TOKEN, or the agent's token file, "
            "by default <state_dir>/token)"
        )


def _mac(token: str, payload: str) -> str:
    return hmac.new(
        token.encode(), f"ttsops-dashboard:{payload}".encode(), hashlib.sha256
    ).hexdigest()


def sign_session(name: str, token: str, now: float | None = None) -> str:
    """The cookie value of a session of ``name``."""
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    payload = f"{encoded}.{int(now if now is not None else time.time())}"
    return f"{payload}.{_mac(token, payload)}"


def read_session(value: str | None, token: str, now: float | None = None) -> str | None:
    """The name of a valid, unexpired session cookie; None for anything else."""
    if not value or value.count(".") != 2:
        return None
    encoded, issued, mac = value.split(".")
    if not hmac.compare_digest(mac, _mac(token, f"{encoded}.{issued}")):
        return None
    try:
        age = (now if now is not None else time.time()) - int(issued)
        name = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return name if 0 <= age <= SESSION_S and valid_name(name) else None
