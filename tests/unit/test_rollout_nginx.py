"""``render_nginx``: the router config is a pure function of the routes (golden text)."""

from __future__ import annotations

from ttsops.rollout import Route, render_nginx

_GOLDEN_SHIFTED = """\
# Rendered by ttsops (rollout/router_nginx.py); the agent rewrites this file on every switch.
worker_processes 1;
pid /srv/agent/nginx/nginx.pid;
error_log /srv/agent/nginx/logs/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log /srv/agent/nginx/logs/access.log;
    client_body_temp_path /srv/agent/nginx/temp/client_body;
    proxy_temp_path /srv/agent/nginx/temp/proxy;
    fastcgi_temp_path /srv/agent/nginx/temp/fastcgi;
    uwsgi_temp_path /srv/agent/nginx/temp/uwsgi;
    scgi_temp_path /srv/agent/nginx/temp/scgi;
    client_max_body_size 10m;

    upstream ttsops_live {
        # slot green: 1.1.0
        server 127.0.0.1:41002 weight=100 max_fails=0;
        # slot blue: 1.0.0 (backup: only when the live slot fails)
        server 127.0.0.1:41001 backup max_fails=0;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:6006;

        location / {
            proxy_pass http://ttsops_live;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # Streaming audio flows as it is made.
            proxy_buffering off;
            proxy_request_buffering on;
            proxy_read_timeout 150s;
            proxy_send_timeout 150s;
            proxy_connect_timeout 5s;
            # A slot that is down or draining (503), or that failed the synthesis (500),
            # hands the request to the other slot. nginx retries only before any byte of
            # the response reached the client, and synthesis has no side effects, so
            # retrying a POST is safe.
            proxy_next_upstream error timeout http_500 http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
        }
    }
}
"""


def _render(routes: list[Route], **kw: object) -> str:
    return render_nginx(
        routes,
        prefix="/srv/agent/nginx",
        listen_port=6006,
        read_timeout_s=150,
        **kw,  # type: ignore[arg-type]
    )


def test_shifted_config_matches_the_golden_text() -> None:
    """New slot weighted first, the old one as backup, every path under the prefix."""
    routes = [
        Route("blue", 41001, "1.0.0", 0, backup=True),
        Route("green", 41002, "1.1.0", 100),
    ]
    assert _render(routes) == _GOLDEN_SHIFTED


def test_weight_zero_slot_is_left_out() -> None:
    """A slot with weight 0 that is not a backup gets no traffic at all: it is not listed."""
    text = _render([Route("blue", 41001, "1.0.0", 100), Route("green", 41002, "1.1.0", 0)])
    assert "127.0.0.1:41001 weight=100" in text
    assert "41002" not in text


def test_no_live_slot_answers_503_with_a_hint() -> None:
    """With nothing weighted, the router says no version is live instead of pointing nowhere."""
    text = _render([Route("green", 41002, "1.1.0", 0, backup=True)])
    assert "upstream" not in text
    assert "return 503" in text
    assert "ttsops deploy VERSION" in text


def test_root_runs_workers_as_root_and_public_host_is_honoured() -> None:
    """As root the workers may write the state dir; the listen address is the one asked for."""
    text = _render([Route("blue", 41001, "1.0.0", 100)], user="root", listen_host="0.0.0.0")
    assert text.startswith("# Rendered by ttsops")
    assert "\nuser root;\n" in text
    assert "listen 0.0.0.0:6006;" in text


def test_a_slot_failing_a_synthesis_with_500_hands_it_to_the_other_slot() -> None:
    """http_500 is a reason to try the next upstream, so a slot broken on a sound is covered."""
    text = _render(
        [Route("blue", 41001, "1.0.0", 100), Route("green", 41002, "1.1.0", 0, backup=True)]
    )
    line = next(ln for ln in text.splitlines() if "proxy_next_upstream " in ln)
    reasons = line.strip().rstrip(";").split()[1:]
    assert {"error", "timeout", "http_500", "http_502", "http_503", "non_idempotent"} == set(
        reasons
    )
