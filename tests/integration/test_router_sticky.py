"""The router with browser sessions, through a real nginx: a cookie keeps a session on a slot.

Two small real HTTP servers on loopback stand in for the slots: what is checked is where
nginx sends each request (each answer names its slot) and what it passes through (headers,
streams, bodies), which does not depend on what a slot serves; tests/e2e/test_browser_sessions
runs the same router in front of real `ttsops serve` slots and a real browser.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from agent_fixtures import free_port

from ttsops.rollout import NginxRouter, Route, find_nginx, render_nginx

pytestmark = pytest.mark.slow

PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
"""What a browser sends when it loads a page."""


class Slot:
    """A real HTTP server that answers as one slot and records what it was sent."""

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.release = threading.Event()
        self.seen: list[dict[str, str]] = []
        slot = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def do_GET(self) -> None:
                slot.seen.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/version":
                    self._send(json.dumps({"version": version}).encode(), "application/json")
                elif self.path.startswith("/events"):
                    self._events()
                else:
                    self._send(slot.name.encode(), "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                got = 0
                while got < length:
                    got += len(self.rfile.read(min(1 << 20, length - got)))
                self._send(str(got).encode(), "text/plain")

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Slot", slot.name)
                self.end_headers()
                self.wfile.write(body)

            def _events(self) -> None:
                """Server-sent events: one now, the last only once the test says so."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("X-Slot", slot.name)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"data: first\n\n")
                self.wfile.flush()
                released = slot.release.wait(30)
                self.wfile.write(f"data: last released={released}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.version = version
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, weight: int, backup: bool = False) -> Route:
        """This slot as a route of ``weight``."""
        return Route(self.name, self.port, self.version, weight, backup)

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NginxRouter, Slot, Slot]]:
    """A real nginx in front of blue (1.0.0) and green (1.1.0)."""
    blue, green = Slot("blue", "1.0.0"), Slot("green", "1.1.0")
    router = NginxRouter(tmp_path_factory.mktemp("sticky"), public_port=free_port())
    try:
        router.ensure_running()
        yield router, blue, green
    finally:
        router.stop()
        blue.close()
        green.close()


def _slot_of(reply: httpx.Response) -> str:
    return reply.headers["x-slot"]


def _canary(router: NginxRouter, blue: Slot, green: Slot) -> None:
    router.apply([green.route(10), blue.route(90)])


def test_a_page_load_gets_the_cookie_of_its_slot_and_stays_there(
    edge: tuple[NginxRouter, Slot, Slot],
) -> None:
    """Each fresh session's first page sets ttsops_slot; all its later requests reach that slot."""
    router, blue, green = edge
    _canary(router, blue, green)
    sessions: dict[str, list[str]] = {}
    for _ in range(20):
        with httpx.Client(base_url=router.url) as browser:  # a fresh cookie jar each
            first = browser.get("/ui/", headers=PAGE)
            cookie = first.cookies.get("ttsops_slot")
            assert cookie == _slot_of(first)
            assert "HttpOnly" in first.headers["set-cookie"]
            assert "Path=/" in first.headers["set-cookie"]
            later = [browser.get("/ui/config") for _ in range(10)]
            later += [browser.post("/ui/queue/join", content=b"{}") for _ in range(5)]
            assert all("set-cookie" not in r.headers for r in later)
            sessions.setdefault(cookie, []).extend(_slot_of(r) for r in later)
    assert set(sessions) == {"blue", "green"}  # new sessions follow the weights
    for cookie, served in sessions.items():
        assert set(served) == {cookie}


def test_api_clients_without_the_cookie_keep_the_per_request_split(
    edge: tuple[NginxRouter, Slot, Slot],
) -> None:
    """A client that never loads a page gets no cookie, even with a cookie jar: 10% canary."""
    router, blue, green = edge
    _canary(router, blue, green)
    with httpx.Client(base_url=router.url) as client:  # keeps cookies, like LoadGenerator
        replies = [client.post("/v1/audio/speech", content=b"{}") for _ in range(50)]
        assert not client.cookies
    assert all("set-cookie" not in r.headers for r in replies)
    to_green = sum(_slot_of(r) == "green" for r in replies)
    assert 4 <= to_green <= 6, to_green


def test_a_cookie_for_a_slot_that_left_is_split_again_and_replaced(
    edge: tuple[NginxRouter, Slot, Slot],
) -> None:
    """After green leaves the config, its sessions land on blue and get blue's cookie."""
    router, blue, _ = edge
    router.apply([blue.route(100)])
    with httpx.Client(base_url=router.url, cookies={"ttsops_slot": "green"}) as browser:
        moved = browser.get("/ui/queue/data")
        assert _slot_of(moved) == "blue"
        assert moved.cookies.get("ttsops_slot") == "blue"
        assert _slot_of(browser.get("/ui/config")) == "blue"
    with httpx.Client(base_url=router.url, cookies={"ttsops_slot": "nonsense"}) as browser:
        assert browser.get("/ui/").cookies.get("ttsops_slot") == "blue"


def test_a_leaving_slot_keeps_its_sessions_and_takes_no_new_ones(
    edge: tuple[NginxRouter, Slot, Slot],
) -> None:
    """Weight 0 without backup: green still serves its cookie, page loads all go to blue."""
    router, blue, green = edge
    router.apply([blue.route(100), green.route(0)])
    with httpx.Client(base_url=router.url, cookies={"ttsops_slot": "green"}) as old:
        assert {_slot_of(old.get("/ui/config")) for _ in range(10)} == {"green"}
    fresh = {_slot_of(httpx.get(f"{router.url}/ui/", headers=PAGE)) for _ in range(20)}
    assert fresh == {"blue"}
    api = {_slot_of(httpx.post(f"{router.url}/v1/audio/speech")) for _ in range(20)}
    assert api == {"blue"}


def test_once_apply_returns_a_slot_taken_out_gets_no_request(
    edge: tuple[NginxRouter, Slot, Slot],
) -> None:
    """A leaving slot taken out of the routes: the very next request of its session goes to
    the live slot (nginx's old workers had stopped accepting when apply returned)."""
    router, blue, green = edge
    served: list[str] = []
    for _ in range(15):
        router.apply([blue.route(100), green.route(0)])
        router.apply([blue.route(100)])
        with httpx.Client(base_url=router.url, cookies={"ttsops_slot": "green"}) as session:
            served.append(_slot_of(session.post("/ui/gradio_api/queue/join", content=b"{}")))
    assert served == ["blue"] * 15


def test_session_requests_are_seen_open_and_ended(edge: tuple[NginxRouter, Slot, Slot]) -> None:
    """A session's stream counts as open while it runs; its end is the slot's last activity."""
    router, blue, green = edge
    _canary(router, blue, green)
    before = time.time()
    assert router.sessions("blue").open == 0
    got: list[str] = []
    green.release.clear()
    with (
        httpx.Client(base_url=router.url, cookies={"ttsops_slot": "green"}) as browser,
        browser.stream("GET", "/events", timeout=60) as stream,
    ):
        assert _slot_of(stream) == "green"
        lines = stream.iter_lines()
        got.append(next(line for line in lines if line))  # before the slot sends the rest
        deadline = time.monotonic() + 10
        while router.sessions("green").open != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert router.sessions("green").open == 1
        green.release.set()
        got.extend(line for line in lines if line)
    assert got == ["data: first", "data: last released=True"]  # streamed, not buffered
    deadline = time.monotonic() + 10
    while router.sessions("green").open != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = router.sessions("green")
    assert seen.open == 0 and seen.last_at is not None and seen.last_at >= before - 1
    assert router.sessions("blue").open == 0


def test_the_whole_surface_passes_through(
    edge: tuple[NginxRouter, Slot, Slot], tmp_path: Path
) -> None:
    """Host with its port (UI links), forwarded proto, WebSocket upgrade headers, 20 MB uploads."""
    router, blue, _ = edge
    router.apply([blue.route(100)])
    blue.seen.clear()
    httpx.get(f"{router.url}/ui/", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    headers = blue.seen[-1]
    assert headers["host"] == f"127.0.0.1:{router.public_port}"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["upgrade"] == "websocket" and headers["connection"].lower() == "upgrade"
    httpx.get(f"{router.url}/ui/")
    assert "upgrade" not in blue.seen[-1]
    body = b"\0" * (20 << 20)
    reply = httpx.post(f"{router.url}/ui/gradio_api/upload", content=body, timeout=60)
    assert reply.status_code == 200 and reply.text == str(len(body))


_CANARY_ROUTES = [Route("green", 41002, "1.1.0", 10), Route("blue", 41001, "1.0.0", 90)]
_SHIFTED_ROUTES = [
    Route("blue", 41001, "1.0.0", 0, backup=True),
    Route("green", 41002, "1.1.0", 100),
]


def test_nginx_accepts_every_shape_of_the_config(tmp_path: Path) -> None:
    """`nginx -t` takes the canary, shifted, leaving and empty configs."""
    binary = find_nginx()
    for sub in ("logs", "temp"):
        (tmp_path / sub).mkdir()
    leaving = [Route("blue", 41001, "1.0.0", 100), Route("green", 41002, "1.1.0", 0)]
    shapes = [_CANARY_ROUTES, _SHIFTED_ROUTES, leaving, []]
    for routes in shapes:
        conf = tmp_path / "nginx.conf"
        conf.write_text(render_nginx(routes, prefix=str(tmp_path), listen_port=6006))
        test = subprocess.run(
            [binary, "-t", "-q", "-p", str(tmp_path), "-c", str(conf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert test.returncode == 0, test.stderr
