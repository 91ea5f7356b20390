"""Rendering the nginx config of the router: a pure function of the routes."""

from __future__ import annotations

from ttsops.render import render_template
from ttsops.rollout.router import Route

__all__ = ["render_nginx"]


def render_nginx(
    routes: list[Route],
    *,
    prefix: str,
    listen_port: int,
    listen_host: str = "127.0.0.1",
    read_timeout_s: float = 300.0,
    user: str | None = None,
) -> str:
    """The nginx.conf text for ``routes``: weighted slots, backups, or a 503 when none.

    A route with weight 0 and no ``backup`` is left out; so is every route when none has
    a weight, and the router then answers 503 "no version is live".
    """
    live = [r for r in routes if r.weight > 0 and not r.backup]
    servers = [*live, *(r for r in routes if r.backup)] if live else []
    return render_template(
        "nginx/nginx.conf.j2",
        servers=servers,
        prefix=prefix,
        listen_port=listen_port,
        listen_host=listen_host,
        read_timeout_s=int(read_timeout_s),
        user=user,
    )
