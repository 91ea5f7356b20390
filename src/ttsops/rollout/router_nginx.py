"""Rendering the nginx config of the router: a pure function of the routes."""

from __future__ import annotations

from ttsops.render import render_template
from ttsops.rollout.router import Route

__all__ = ["SESSION_COOKIE", "render_nginx"]

SESSION_COOKIE = "ttsops_slot"
"""The cookie that keeps a browser session on the slot that answered its first page."""


def render_nginx(
    routes: list[Route],
    *,
    prefix: str,
    listen_port: int,
    listen_host: str = "127.0.0.1",
    read_timeout_s: float = 300.0,
    user: str | None = None,
    agent_upstream: str | None = None,
    max_body_mb: int = 100,
) -> str:
    """The nginx.conf text for ``routes``: weighted slots, backups, or a 503 when none.

    Requests without a session are split by weight. A page load gets the cookie
    ``ttsops_slot`` naming the slot that answered it, and every request carrying it goes to
    that slot while the slot is in ``routes`` (weighted, backup, or weight 0 without
    ``backup``: a leaving slot that keeps only its sessions). A cookie naming a slot no
    longer here is split by weight again and replaced. Every route is left out when none
    has a weight, and the router then answers 503 "no version is live". With
    ``agent_upstream`` (the agent's API, ``host:port``) ``/_ttsops/dashboard/`` goes there.
    """
    live = [r for r in routes if r.weight > 0 and not r.backup]
    servers = [*live, *(r for r in routes if r.backup)] if live else []
    leaving = [r for r in routes if r.weight == 0 and not r.backup] if live else []
    return render_template(
        "nginx/nginx.conf.j2",
        servers=servers,
        sticky=[*servers, *leaving],
        prefix=prefix,
        listen_port=listen_port,
        listen_host=listen_host,
        read_timeout_s=int(read_timeout_s),
        user=user,
        agent_upstream=agent_upstream,
        max_body_mb=max_body_mb,
    )
