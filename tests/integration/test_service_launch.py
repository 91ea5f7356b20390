"""`running_service` on real processes: a `ttsops serve` of joe as a command service gets
ready and speaks; one that crashes on load, and one that never gets ready, fail with why."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from joe_service import joe_serve_argv, write_service

from ttsops.errors import ServiceError
from ttsops.service.launch import running_service
from ttsops.speech import SpeechRequest, is_silent

pytestmark = pytest.mark.slow

CRASH = (
    "import sys; print('loading weights from /models/voice.pt', flush=True); "
    "print('RuntimeError: CUDA out of memory', flush=True); sys.exit(3)"
)
"""A service that dies while loading its model."""

BUSY = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(503); self.end_headers(); self.wfile.write(b"model still loading")
    do_GET = do_POST
    def log_message(self, *a): pass
print("listening, warming up forever", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""
"""A service that answers, but only 503s: it never gets ready."""


def test_a_command_service_gets_ready_speaks_and_is_stopped(
    joe_bundle: Path, tmp_path: Path
) -> None:
    """joe behind `ttsops serve`, started by command, answers real speech; on leaving, its
    process is gone and its port closed."""
    service = write_service(tmp_path / "svc", joe_serve_argv(joe_bundle))
    log = tmp_path / "service.log"
    with running_service(service, log_path=log) as (url, speaker):
        speech = speaker.speak(SpeechRequest("The service speaks through the seam.", seed=7))
        assert speech.sample_rate == 22050
        assert speech.duration_s > 1.0 and not is_silent(speech.samples)
        again = speaker.speak(SpeechRequest("The service speaks through the seam.", seed=7))
        assert np.array_equal(speech.samples, again.samples)  # ttsops serve honours seeds
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):  # stopped: nothing listens there any more
        httpx.get(f"{url}/healthz", timeout=2)
    assert log.stat().st_size > 0  # its output was kept


def test_a_service_that_crashes_on_load_fails_fast_with_its_log(tmp_path: Path) -> None:
    """Its exit code and the last lines it printed are the error, well before the timeout."""
    service = write_service(tmp_path / "svc", [sys.executable, "-c", CRASH], start_timeout_s=300)
    with pytest.raises(ServiceError) as caught, running_service(service):
        pass
    message = caught.value.message
    assert "exited with code 3 before it was ready" in message
    assert "CUDA out of memory" in message


def test_a_service_that_never_gets_ready_fails_after_its_start_timeout(tmp_path: Path) -> None:
    """A 503 to every readiness synthesis: after start_timeout_s the error says what it
    answered, and the process is stopped."""
    service = write_service(
        tmp_path / "svc", [sys.executable, "app.py"], start_timeout_s=3, files={"app.py": BUSY}
    )
    log = tmp_path / "busy.log"
    with pytest.raises(ServiceError) as caught, running_service(service, log_path=log):
        pass
    message = caught.value.message
    assert "was not ready within 3 s (start_timeout_s)" in message
    assert "503" in message
    assert "warming up forever" in message


def test_a_changed_app_file_is_refused_before_it_starts(tmp_path: Path) -> None:
    """A registered (pinned) command service whose app changed does not start."""
    from ttsops.service import load_service_manifest, resolve_service

    root = write_service(
        tmp_path / "svc", [sys.executable, "app.py"], files={"app.py": "print('v1')\n"}
    )
    pinned = resolve_service(load_service_manifest(root), root)
    (root / "app.py").write_text("print('v2')\n", encoding="utf-8")
    changed = pytest.raises(ServiceError, match="the app changed after it was registered")
    with changed, running_service(pinned):
        pass
