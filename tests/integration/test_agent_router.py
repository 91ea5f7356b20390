"""The router and slots at the edge, without the agent: real nginx, two real `ttsops serve`.

Checks what the agent relies on: a config test refuses a bad config without touching the
running one, and a stream in flight finishes whole on the slot it started on while traffic
switches and that slot drains.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agent_fixtures import free_port, make_version

from ttsops.errors import RouterError
from ttsops.rollout import NginxRouter, Route, SlotRuntime

pytestmark = pytest.mark.slow

_LONG = " ".join(["The quick brown fox jumps over the lazy dog, and then it rests."] * 12)


@pytest.fixture(scope="module")
def edge(
    tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path
) -> Iterator[tuple[SlotRuntime, NginxRouter]]:
    """Blue serving joe 1.0.0 and green 1.1.0, both ready, behind one nginx."""
    root = tmp_path_factory.mktemp("edge")
    bundles = {
        "1.0.0": joe_bundle,
        "1.1.0": make_version(joe_bundle, root / "v110", "1.1.0", options={"noise_scale": 0.6}),
    }
    slots = SlotRuntime(root, bundles.__getitem__, serve_args=["--no-ui"], drain_timeout_s=60)
    router = NginxRouter(root, public_port=free_port())
    try:
        slots.start("blue", "1.0.0")
        slots.start("green", "1.1.0")
        router.ensure_running()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [slots.status(name) for name in ("blue", "green")]
            if all(s is not None and s.state == "ready" for s in states):
                break
            time.sleep(0.1)
        yield slots, router
    finally:
        router.stop()
        slots.stop("blue")
        slots.stop("green")


def _route(slots: SlotRuntime, slot: str, weight: int = 100, backup: bool = False) -> Route:
    info = slots.status(slot)
    assert info is not None and info.port is not None, slots.status(slot)
    return Route(slot, info.port, info.version, weight, backup)


def test_router_serves_the_routed_version_after_apply(
    edge: tuple[SlotRuntime, NginxRouter],
) -> None:
    """After apply returns, a new request through the public port reaches the routed slot."""
    slots, router = edge
    router.apply([_route(slots, "blue")])
    reply = httpx.get(f"{router.url}/version")
    assert reply.json()["version"] == "1.0.0"
    assert reply.headers["x-ttsops-version"] == "joe@1.0.0"
    router.apply([_route(slots, "green"), _route(slots, "blue", 0, backup=True)])
    assert httpx.get(f"{router.url}/version").json()["version"] == "1.1.0"
    assert router.routes()[0].slot == "green"


def test_a_config_nginx_refuses_leaves_the_running_one(
    edge: tuple[SlotRuntime, NginxRouter],
) -> None:
    """A route nginx cannot accept is refused by `nginx -t`; traffic keeps its old routing."""
    slots, router = edge
    router.apply([_route(slots, "blue")])
    with pytest.raises(RouterError, match="nginx refused"):
        router.apply([Route("green", 70000, "1.1.0", 100)])  # no such port
    assert [r.slot for r in router.routes()] == ["blue"]
    assert httpx.get(f"{router.url}/version").json()["version"] == "1.0.0"


def test_stream_in_flight_finishes_on_its_slot_across_switch_and_drain(
    edge: tuple[SlotRuntime, NginxRouter],
) -> None:
    """A long stream started on blue ends whole on blue though traffic moved and blue drained."""
    slots, router = edge
    router.apply([_route(slots, "blue")])
    got: dict[str, object] = {}
    first_bytes = threading.Event()

    def listen() -> None:
        body = b""
        with httpx.stream(
            "POST",
            f"{router.url}/v1/audio/speech",
            json={"input": _LONG, "response_format": "pcm"},
            timeout=120,
        ) as reply:
            got["version"] = reply.headers["x-ttsops-version"]
            for chunk in reply.iter_bytes():
                body += chunk
                first_bytes.set()
        got["seconds"] = len(body) / 2 / 22050

    listener = threading.Thread(target=listen)
    listener.start()
    assert first_bytes.wait(60)
    router.apply([_route(slots, "green"), _route(slots, "blue", 0, backup=True)])
    router.apply([_route(slots, "green")])
    new = httpx.post(
        f"{router.url}/v1/audio/speech", json={"input": "Hi.", "response_format": "wav"}
    )
    slots.stop("blue")  # SIGTERM: drains the stream in flight, then exits
    listener.join(120)
    assert got["version"] == "joe@1.0.0"
    assert float(got["seconds"]) > 30  # type: ignore[arg-type]  # the whole text, not a cut
    assert new.status_code == 200 and new.headers["x-ttsops-version"] == "joe@1.1.0"
