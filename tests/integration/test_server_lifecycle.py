"""A real server under pressure: backpressure, client disconnects, SIGTERM drain."""

from __future__ import annotations

import io
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from ttsops.testing import ServerProcess

PARAGRAPH = " ".join(
    ["Each of these sentences takes the voice a little while to speak out loud."] * 12
)


@pytest.fixture(scope="module")
def small_server(joe_bundle: Path) -> Iterator[ServerProcess]:
    """One worker, one queue place, no UI: easy to fill."""
    with ServerProcess(
        joe_bundle, ["--workers", "1", "--queue-size", "1", "--no-ui", "--drain-timeout", "60"]
    ) as server:
        yield server


def _metric(server: ServerProcess, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.split()[-1])
    return 0.0


def _wait_idle(server: ServerProcess, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _metric(server, "ttsops_in_flight") == 0 and _metric(server, "ttsops_queue_depth") == 0:
            return True
        time.sleep(0.1)
    return False


def test_flood_gets_503_with_retry_after_then_recovers(small_server: ServerProcess) -> None:
    """Beyond one running and one queued, requests get 503 + Retry-After; afterwards all is well."""

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{small_server.url}/v1/audio/speech",
            json={"input": "A short sentence to keep the worker busy for a moment."},
            timeout=120,
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2
    assert statuses.count(503) >= 1
    assert set(statuses) <= {200, 503}
    for resp in responses:
        if resp.status_code == 503:
            assert int(resp.headers["retry-after"]) >= 1
            assert resp.json()["error"]["code"] == "overloaded"
    assert _wait_idle(small_server)
    again = httpx.post(
        f"{small_server.url}/v1/audio/speech", json={"input": "Healthy again."}, timeout=60
    )
    assert again.status_code == 200
    assert httpx.get(f"{small_server.url}/readyz").status_code == 200


def test_client_leaving_mid_stream_frees_the_worker(small_server: ServerProcess) -> None:
    """A client that hangs up after the first bytes of a long paragraph stops its synthesis."""
    before = _metric(small_server, "ttsops_cancelled_requests_total")
    with httpx.stream(
        "POST",
        f"{small_server.url}/v1/audio/speech",
        json={"input": PARAGRAPH * 3, "response_format": "pcm"},
        timeout=60,
    ) as resp:
        next(resp.iter_raw())
    assert _wait_idle(small_server, timeout_s=10)
    assert _metric(small_server, "ttsops_cancelled_requests_total") == before + 1
    assert httpx.post(
        f"{small_server.url}/v1/audio/speech", json={"input": "Still here."}, timeout=60
    ).is_success


def test_many_concurrent_cancels_do_not_hurt_the_server(joe_bundle: Path) -> None:
    """Twelve clients that connect, send, and vanish at once leave a healthy, idle server."""
    with ServerProcess(joe_bundle, ["--no-ui", "--queue-size", "16"]) as server:
        body = ('{"input": "' + PARAGRAPH + '", "response_format": "wav"}').encode()
        request = (
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

        def hit_and_run(_: int) -> None:
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(request)
                time.sleep(0.3)

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(hit_and_run, range(12)))
        assert _wait_idle(server, timeout_s=30)
        resp = httpx.post(
            f"{server.url}/v1/audio/speech",
            json={"input": "Nothing broke.", "response_format": "wav"},
            timeout=60,
        )
        assert resp.status_code == 200
        assert sf.info(io.BytesIO(resp.content)).duration > 0.3
        assert server.proc is not None and server.proc.poll() is None


def test_sigterm_drains_in_flight_requests_and_exits_0(joe_bundle: Path) -> None:
    """After SIGTERM readiness is 503 and new work refused; the long request completes; exit 0."""
    server = ServerProcess(joe_bundle, ["--no-ui", "--drain-timeout", "120"]).start()
    result: dict[str, httpx.Response] = {}

    def long_request() -> None:
        result["resp"] = httpx.post(
            f"{server.url}/v1/audio/speech",
            json={"input": PARAGRAPH, "response_format": "wav"},
            timeout=120,
        )

    worker = threading.Thread(target=long_request)
    worker.start()
    deadline = time.monotonic() + 10
    while _metric(server, "ttsops_in_flight") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.signal(signal.SIGTERM)
    time.sleep(0.3)
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    refused = httpx.post(f"{server.url}/v1/audio/speech", json={"input": "Too late."})
    assert refused.status_code == 503
    worker.join(120)
    resp = result["resp"]
    assert resp.status_code == 200
    assert sf.info(io.BytesIO(resp.content)).duration > 20  # the whole paragraph, not a cut
    assert server.proc is not None
    assert server.proc.wait(30) == 0
    assert "drained" in server.log()


def test_second_sigterm_ends_the_drain_at_once(joe_bundle: Path) -> None:
    """A second SIGTERM during the drain stops the process without waiting, exit code 1."""
    server = ServerProcess(joe_bundle, ["--no-ui", "--drain-timeout", "300"]).start()
    outcome: list[str] = []

    def doomed_request() -> None:
        try:
            resp = httpx.post(
                f"{server.url}/v1/audio/speech", json={"input": PARAGRAPH * 4}, timeout=120
            )
            outcome.append(f"completed {resp.status_code}")
        except httpx.HTTPError:
            outcome.append("cut")

    worker = threading.Thread(target=doomed_request)
    worker.start()
    deadline = time.monotonic() + 60  # a busy machine may take a while to start the request
    while _metric(server, "ttsops_in_flight") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _metric(server, "ttsops_in_flight") >= 1, "the long request never started"
    server.signal(signal.SIGTERM)
    time.sleep(0.5)
    server.signal(signal.SIGTERM)
    assert server.proc is not None
    assert server.proc.wait(20) == 1
    worker.join(30)
    assert outcome == ["cut"]
