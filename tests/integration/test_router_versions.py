"""Which version answered, through a real nginx: the router names the slot's version.

Two real HTTP servers on loopback stand in for a foreign OpenAI-compatible service of two
versions during a canary: they answer WAV audio and do not say their version (ttsops'
own slots send ``X-TTSOps-Version``; a team's service does not). The router adds
``X-TTSOps-Slot-Version``, and a batch through it records each line's real version.
"""

from __future__ import annotations

import io
import json
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from agent_fixtures import free_port

from ttsops.batch.speech_backend import ServiceInfo, SpeakerBackend
from ttsops.batch.tasks import Task, read_tasks
from ttsops.rollout import NginxRouter, Route
from ttsops.speech import open_speaker
from ttsops.speech.spec import OpenAISpeech

pytestmark = pytest.mark.slow


def _wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


class Service:
    """A real HTTP server answering ``POST /v1/audio/speech`` with a WAV, version unsaid."""

    def __init__(self) -> None:
        body = _wav()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxRouter]:
    """A real nginx splitting 50/50 between voxui 1.0.0 (blue) and 1.1.0 (green)."""
    blue, green = Service(), Service()
    router = NginxRouter(tmp_path_factory.mktemp("versions"), public_port=free_port())
    try:
        router.ensure_running()
        router.apply(
            [Route("blue", blue.port, "1.0.0", 50), Route("green", green.port, "1.1.0", 50)]
        )
        yield router
    finally:
        router.stop()
        blue.close()
        green.close()


def test_each_answer_names_the_version_of_the_slot_that_made_it(canary: NginxRouter) -> None:
    """X-TTSOps-Slot-Version is the version of the slot X-TTSOps-Slot names."""
    versions = {"blue": "1.0.0", "green": "1.1.0"}
    seen: set[str] = set()
    with httpx.Client(base_url=canary.url) as client:
        for _ in range(20):
            reply = client.post("/v1/audio/speech", json={"input": "Hi."})
            slot = reply.headers["x-ttsops-slot"]
            assert reply.headers["x-ttsops-slot-version"] == versions[slot]
            seen.add(slot)
    assert seen == {"blue", "green"}


def test_a_batch_through_a_canary_records_each_lines_real_version(
    canary: NginxRouter, tmp_path: Path
) -> None:
    """Given --version 1.1.0, lines the 1.0.0 slot made still say voxui@1.0.0."""
    lines = tmp_path / "tasks.jsonl"
    lines.write_text(
        "".join(json.dumps({"input_text": f"Line {i}.", "output_name": f"l{i}"}) + "\n"
                for i in range(20)),
        encoding="utf-8",
    )  # fmt: skip
    tasks = [t for t in read_tasks(lines) if isinstance(t, Task)]
    assert len(tasks) == 20
    backend = SpeakerBackend(
        lambda: open_speaker(OpenAISpeech(), canary.url),
        canary.url,
        ServiceInfo(name="voxui", version="1.1.0"),
    )
    try:
        made = [backend.synthesize(task, "default") for task in tasks]
    finally:
        backend.close()
    assert {a.model_version for a in made} == {"voxui@1.0.0", "voxui@1.1.0"}
    assert all(a.duration_s == pytest.approx(0.5, abs=0.01) for a in made)
