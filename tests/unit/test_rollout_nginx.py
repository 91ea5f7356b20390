"""``render_nginx``: the router config is a pure function of the routes (golden text).

Besides the weighted split, the config keeps a browser session on one slot: the cookie map,
one upstream per slot, the served-slot map that sets the cookie, and the fallback for a
cookie naming a slot that is gone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ttsops.rollout import Route, render_nginx
from ttsops.rollout.router_sessions import read_sessions, sessions_by_slot

_GOLDEN = Path(__file__).parent.parent / "golden"


def _render(routes: list[Route], **kw: object) -> str:
    return render_nginx(
        routes,
        prefix="/srv/agent/nginx",
        listen_port=6006,
        read_timeout_s=150,
        **kw,  # type: ignore[arg-type]
    )


def _block(text: str, head: str) -> str:
    """The ``{ … }`` body that follows ``head`` (a map or upstream line)."""
    start = text.index(head + " {")
    return text[start : text.index("}", start)]


def _map(text: str, head: str) -> dict[str, str]:
    """Entries of the nginx ``map`` that starts with ``head``, key → value."""
    body = _block(text, head).splitlines()[1:]
    pairs = [re.match(r'\s*("[^"]*"|\S+)\s+(.*);$', line) for line in body if line.strip()]
    return {m.group(1).strip('"'): m.group(2).strip('"') for m in pairs if m}


def _servers(text: str, upstream: str) -> list[str]:
    """``server`` lines of an upstream, without the keyword and the ``;``."""
    body = _block(text, f"upstream {upstream}")
    return [ln.strip()[len("server ") : -1] for ln in body.splitlines() if "server 127" in ln]


_SHIFTED = [Route("blue", 41001, "1.0.0", 0, backup=True), Route("green", 41002, "1.1.0", 100)]
_CANARY = [Route("green", 41002, "1.1.0", 10), Route("blue", 41001, "1.0.0", 90)]


def test_shifted_config_matches_the_golden_text() -> None:
    """New slot weighted first, the old as backup, sessions by cookie, paths under the prefix."""
    text = _render(_SHIFTED)
    path = _GOLDEN / "nginx.shifted.conf"
    if os.environ.get("TTSOPS_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        "nginx.shifted.conf changed; if intended, rerun with TTSOPS_UPDATE_GOLDEN=1 and review"
    )


def test_requests_without_a_session_are_split_by_weight() -> None:
    """The weighted upstream carries the canary's share; the cookie map defaults to it."""
    text = _render(_CANARY)
    assert _servers(text, "ttsops_live") == [
        "127.0.0.1:41002 weight=10 max_fails=0",
        "127.0.0.1:41001 weight=90 max_fails=0",
    ]
    assert _map(text, "map $ttsops_session $ttsops_upstream") == {
        "default": "ttsops_live",
        "green": "ttsops_slot_green",
        "blue": "ttsops_slot_blue",
    }
    assert "proxy_pass http://$ttsops_upstream;" in text


def test_a_cookie_naming_a_slot_goes_to_that_slot_with_the_other_as_backup() -> None:
    """Each slot has its own upstream: itself first, the others only if it fails."""
    text = _render(_CANARY)
    assert _map(text, "map $cookie_ttsops_slot $ttsops_session") == {
        "default": "",
        "green": "green",
        "blue": "blue",
    }
    assert _servers(text, "ttsops_slot_green") == [
        "127.0.0.1:41002 max_fails=0",
        "127.0.0.1:41001 backup max_fails=0",
    ]
    assert _servers(text, "ttsops_slot_blue") == [
        "127.0.0.1:41001 max_fails=0",
        "127.0.0.1:41002 backup max_fails=0",
    ]


def _set_cookie(text: str, served: str, cookie: str, page: bool) -> str:
    """What the cookie map answers for a request, matched the way nginx does (exact, regex)."""
    entries = _map(text, 'map "$ttsops_served|$cookie_ttsops_slot|$ttsops_page" $ttsops_set_cookie')
    key = f"{served}|{cookie}|{int(page)}"
    for pattern, value in entries.items():
        if pattern.startswith("~") and re.search(pattern[1:], key):
            return value.replace("$ttsops_served", served)
    return entries["default"].replace("$ttsops_served", served)


def test_the_cookie_is_set_for_page_loads_and_moved_sessions_only() -> None:
    """A page load gets its slot's cookie; API calls none; a cookie for another slot is replaced."""
    text = _render(_CANARY)
    assert _set_cookie(text, "green", "", page=True).startswith("ttsops_slot=green; Path=/;")
    assert "HttpOnly" in _set_cookie(text, "blue", "", page=True)
    assert _set_cookie(text, "blue", "", page=False) == ""  # an API client: per-request split
    assert _set_cookie(text, "blue", "blue", page=False) == ""  # already there
    assert _set_cookie(text, "green", "green", page=True) == ""
    assert _set_cookie(text, "", "", page=True) == ""  # nginx answered itself
    moved = _set_cookie(text, "blue", "red", page=False)  # a slot that is gone
    assert moved.startswith("ttsops_slot=blue;")
    assert _map(text, "map $upstream_addr $ttsops_served") == {
        "default": "",
        r"~(^|[ ,])127\.0\.0\.1:41002$": "green",
        r"~(^|[ ,])127\.0\.0\.1:41001$": "blue",
    }
    page = _map(text, 'map "$http_accept|$uri" $ttsops_page')
    assert page["default"] == "0"
    starts = [re.compile(key[1:]) for key, value in page.items() if value == "1"]

    def starts_session(accept: str, uri: str) -> bool:
        return any(p.search(f"{accept}|{uri}") for p in starts)

    assert starts_session("text/html,application/xhtml+xml,*/*", "/")
    # a Gradio client's first request: its job's later requests must reach the same slot
    for uri in ("/config", "/ui/config", "/gradio_api/upload", "/gradio_api/queue/join",
                "/gradio_api/call/synthesize"):  # fmt: skip
        assert starts_session("*/*", uri), uri
    assert not starts_session("*/*", "/v1/audio/speech")  # OpenAI clients keep the split
    assert not starts_session("application/json", "/gradio_api/file=/tmp/a.wav")


def test_a_slot_that_left_the_routes_has_no_cookie_route() -> None:
    """Its cookie falls to the default: the weighted split, and a new cookie on the answer."""
    text = _render([Route("blue", 41001, "1.0.0", 100)])
    assert _map(text, "map $cookie_ttsops_slot $ttsops_session") == {
        "default": "",
        "blue": "blue",
    }
    assert "ttsops_slot_green" not in text
    assert _set_cookie(text, "blue", "green", page=False).startswith("ttsops_slot=blue;")


def test_a_leaving_slot_keeps_its_cookie_route_but_takes_nothing_new() -> None:
    """Weight 0 without backup: in the cookie map and its own upstream, not in the split."""
    text = _render([Route("blue", 41001, "1.0.0", 100), Route("green", 41002, "1.1.0", 0)])
    assert _servers(text, "ttsops_live") == ["127.0.0.1:41001 weight=100 max_fails=0"]
    assert _map(text, "map $cookie_ttsops_slot $ttsops_session")["green"] == "green"
    assert _servers(text, "ttsops_slot_green") == [
        "127.0.0.1:41002 max_fails=0",
        "127.0.0.1:41001 backup max_fails=0",
    ]
    assert _servers(text, "ttsops_slot_blue") == ["127.0.0.1:41001 max_fails=0"]
    assert "(leaving: no new sessions)" in text


def test_the_whole_surface_passes_streams_upgrades_uploads_and_long_requests() -> None:
    """WebSocket upgrade, unbuffered streams, big bodies, the client's host, long timeouts."""
    text = _render(_CANARY, max_body_mb=200)
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert _map(text, "map $http_upgrade $ttsops_connection") == {"default": "upgrade", "": ""}
    assert "proxy_buffering off;" in text
    assert "client_max_body_size 200m;" in text
    assert "proxy_set_header Host $http_host;" in text
    assert "proxy_read_timeout 150s;" in text and "worker_shutdown_timeout 150s;" in text


def test_weight_zero_backup_less_slot_alone_is_not_live() -> None:
    """With nothing weighted there is no cookie route either: everything answers 503."""
    text = _render([Route("green", 41002, "1.1.0", 0)])
    assert "upstream" not in text and "ttsops_slot" not in text
    assert "return 503" in text


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


def test_session_log_counts_open_requests_and_the_last_activity(tmp_path: Path) -> None:
    """A start without its end is open; the latest start or end is the slot's last activity."""
    lines = [
        "100.0 start green a",
        "100.5 end green a",
        "101.0 start green b",
        "102.0 start blue c",
        "103.0 end blue c",
        "garbage",
        "104.0 end blue never-started",
    ]
    found = sessions_by_slot(lines)
    assert (found["green"].open, found["green"].last_at) == (1, 101.0)
    assert (found["blue"].open, found["blue"].last_at) == (0, 104.0)
    log = tmp_path / "sessions.log"
    assert read_sessions(log, "green").last_at is None  # no log yet: nothing seen
    log.write_text("\n".join(lines) + "\n")
    assert read_sessions(log, "green").open == 1
    assert read_sessions(log, "red").open == 0
