"""Alerts reach a real HTTP listener; the patrol's probe synthesizes on a real server."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ttsops.rollout import Alert, probe_speech, send_webhook
from ttsops.testing import ServerProcess


class Listener:
    """A webhook receiver on a loopback port: answers the scripted statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, object]] = []
        self.content_types: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                listener.bodies.append(json.loads(self.rfile.read(length)))
                listener.content_types.append(self.headers.get("Content-Type", ""))
                status = listener.statuses.pop(0) if listener.statuses else 200
                reply = b'{"ok": true}' if status == 200 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest's output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the receiver listens."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ttsops"


@pytest.fixture
def listener(request: pytest.FixtureRequest) -> Iterator[Listener]:
    """A running receiver; parametrize indirectly with the statuses it answers first."""
    receiver = Listener(getattr(request, "param", []))
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


ALERT = Alert(
    kind="patrol.failed",
    reason="HTTP 500: synthesis_error: the model failed",
    version="1.1.0",
    host="tts-host-01",
    at=1_767_225_600.0,  # 2026-01-01T00:00:00Z
    details={"reasons": ["HTTP 500: a", "HTTP 500: b", "HTTP 500: c"]},
)


def test_alert_is_posted_as_json_with_its_fields(listener: Listener) -> None:
    """The receiver gets kind, reason, version, host, an ISO 8601 UTC time and the details."""
    assert send_webhook(listener.url, ALERT) is None
    assert len(listener.bodies) == 1
    assert listener.content_types == ["application/json"]
    assert listener.bodies[0] == {
        "kind": "patrol.failed",
        "reason": "HTTP 500: synthesis_error: the model failed",
        "version": "1.1.0",
        "host": "tts-host-01",
        "at": "2026-01-01T00:00:00+00:00",
        "details": {"reasons": ["HTTP 500: a", "HTTP 500: b", "HTTP 500: c"]},
    }


def test_alert_defaults_to_this_host_and_now(listener: Listener) -> None:
    """An alert made without host and time carries the machine's name and a current time."""
    alert = Alert(kind="canary.rolled_back", reason="error rate 4 % > 1 %", version=None)
    assert send_webhook(listener.url, alert) is None
    body = listener.bodies[0]
    assert body["host"] == os.uname().nodename
    assert body["version"] is None
    sent = datetime.fromisoformat(str(body["at"]))
    assert sent.utcoffset() is not None
    assert abs(sent.timestamp() - alert.at) < 1e-3


@pytest.mark.parametrize("listener", [[500, 503]], indirect=True)
def test_a_receiver_failing_twice_is_retried_and_reached(listener: Listener) -> None:
    """500 and 503 are retried; the third attempt's 200 delivers the same body."""
    assert send_webhook(listener.url, ALERT, attempts=3) is None
    assert len(listener.bodies) == 3
    assert listener.bodies[0] == listener.bodies[2]


@pytest.mark.parametrize("listener", [[500, 500, 500]], indirect=True)
def test_a_receiver_that_stays_down_gives_a_reason(listener: Listener) -> None:
    """After the last attempt the answer is a one-line reason naming the status, not an error."""
    reason = send_webhook(listener.url, ALERT, attempts=2)
    assert reason is not None
    assert "HTTP 500" in reason
    assert "2 attempts" in reason
    assert "\n" not in reason
    assert len(listener.bodies) == 2


@pytest.mark.parametrize("listener", [[404]], indirect=True)
def test_a_client_error_is_not_retried(listener: Listener) -> None:
    """A 4xx answer will not change on retry: one attempt, and the status in the reason."""
    reason = send_webhook(listener.url, ALERT)
    assert reason is not None
    assert "HTTP 404" in reason
    assert len(listener.bodies) == 1


def test_an_unreachable_receiver_gives_a_reason_and_does_not_raise() -> None:
    """Nothing listening: the alert is reported undelivered, the caller carries on."""
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    reason = send_webhook(url, ALERT, timeout_s=1.0, attempts=2)
    assert reason is not None
    assert url in reason
    assert "ConnectError" in reason


def test_a_malformed_url_gives_a_reason_and_does_not_raise() -> None:
    """A URL httpx cannot use is a reason too, never an exception in the agent."""
    reason = send_webhook("not a url", ALERT, attempts=1)
    assert reason is not None
    assert "not a url" in reason


def test_probe_of_a_real_server_passes(joe_server: ServerProcess) -> None:
    """A short synthesis by `ttsops serve` comes back as readable audio: no reason."""
    assert probe_speech(joe_server.url, "Ready to speak.", timeout_s=60) is None
    assert probe_speech(joe_server.url + "/", "Ready.", timeout_s=60, voice="joe") is None


def test_probe_of_an_unknown_voice_names_the_status(joe_server: ServerProcess) -> None:
    """A refused request's reason carries the HTTP status and the server's message."""
    reason = probe_speech(joe_server.url, "Hello.", timeout_s=60, voice="nobody")
    assert reason is not None
    assert reason.startswith("HTTP 400: ")
    assert "nobody" in reason


def test_probe_of_a_closed_port_says_connection_refused() -> None:
    """Nothing listening is a failed probe with a plain reason, not an exception."""
    reason = probe_speech(f"http://127.0.0.1:{_closed_port()}", "Hello.", timeout_s=5)
    assert reason == "connection refused"


def test_probe_that_gets_no_answer_in_time_says_timed_out() -> None:
    """A server that accepts but never answers fails the probe after the timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        reason = probe_speech(f"http://127.0.0.1:{port}", "Hello.", timeout_s=0.3)
    assert reason == "timed out after 0.3 s"


def test_probe_of_an_answer_that_is_not_audio_says_so(listener: Listener) -> None:
    """A 200 whose body is not a WAV file is a failed probe (the receiver here answers JSON)."""
    base = listener.url.removesuffix("/hooks/ttsops")
    reason = probe_speech(base, "Hello.", timeout_s=5)
    assert reason is not None
    assert reason.startswith("unreadable audio")
