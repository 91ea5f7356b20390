"""`running_service` of an image service: voxui (a Gradio web UI image, B's fixture) run as
a container through a private podman API service, heard through the gradio adapter, then
stopped and removed; a voxui that crashes while loading fails with its log line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from service_fixtures import voxui_image, voxui_service  # noqa: F401 - fixtures

from ttsops.errors import ServiceError
from ttsops.service.launch import running_service
from ttsops.speech import SpeechRequest, is_silent

pytestmark = pytest.mark.slow


def test_an_image_service_gets_ready_speaks_and_is_removed(
    voxui_image: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The container answers real speech on a loopback port; afterwards nothing listens
    there and its log (kept in log_path) ends with its own shutdown lines."""
    log = tmp_path / "voxui.log"
    with running_service(voxui_service(tmp_path, "1.0.0"), log_path=log) as (url, speaker):
        assert url.startswith("http://127.0.0.1:")
        speech = speaker.speak(SpeechRequest("A container speaks through the seam."))
        assert speech.duration_s > 1.0 and not is_silent(speech.samples)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    assert "voxui 1.0.0" in log.read_text(errors="replace")


def test_an_image_service_that_crashes_on_load_fails_with_its_log(
    voxui_image: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The container stops while loading: the error says so and quotes its last line."""
    service = voxui_service(tmp_path, "1.0.1", fail="crash", start_timeout_s=120)
    with pytest.raises(ServiceError) as caught, running_service(service):
        pass
    assert "stopped (container exited, exit 1)" in caught.value.message
    assert "could not load the model" in caught.value.message
