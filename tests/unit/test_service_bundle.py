"""A service version as a one-file bundle: what it pins, and the readiness clip it carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from ttsops.bundle import verify_bundle
from ttsops.errors import ServiceError, ServiceManifestError
from ttsops.service import (
    check_command_files,
    parse_service_manifest,
    resolve_service,
    service_of,
    write_service_bundle,
)
from ttsops.speech import Speech, SpeechRequest
from ttsops.speech.ready import check_ready


def _command(tmp_path: Path, **ready: str) -> dict[str, object]:
    (tmp_path / "app.py").write_text("print('hello')\n")
    return {
        "name": "glmapp",
        "languages": ["en-US"],
        "sample_rate": 22050,
        "command": {"argv": ["python", "app.py"], "files": ["app.py"]},
        "speech": {"protocol": "gradio", "api_name": "/synthesize", "reference_audio": "clip"},
        "ready": ready,
    }


def _clip(path: Path) -> Path:
    tone = 0.3 * np.sin(np.linspace(0, 2000, 48000)).astype(np.float32)
    soundfile.write(path, tone, 16000)
    return path


def test_command_files_are_pinned_and_a_change_is_refused(tmp_path: Path) -> None:
    """Registering pins the app's sha256; editing the app afterwards stops the version."""
    manifest = resolve_service(parse_service_manifest(_command(tmp_path), "t"), tmp_path)
    assert manifest.command is not None
    assert manifest.command.cwd == str(tmp_path.resolve())
    assert set(manifest.command.digests) == {"app.py"}
    check_command_files(manifest)
    (tmp_path / "app.py").write_text("print('changed')\n")
    with pytest.raises(ServiceError, match="changed after it was registered"):
        check_command_files(manifest)


def test_the_bundle_digest_follows_what_runs(tmp_path: Path) -> None:
    """Two builds of the same app have one digest; another app file gives another digest."""
    first = resolve_service(parse_service_manifest(_command(tmp_path), "t"), tmp_path)
    a = write_service_bundle(first.model_copy(update={"version": "1.0.0"}), tmp_path / "a")
    b = write_service_bundle(first.model_copy(update={"version": "1.0.0"}), tmp_path / "b")
    data = _command(tmp_path)
    (tmp_path / "app.py").write_text("print('v2')\n")
    second = resolve_service(parse_service_manifest(data, "t"), tmp_path)
    c = write_service_bundle(second.model_copy(update={"version": "1.0.0"}), tmp_path / "c")
    assert a.digest == b.digest != c.digest
    assert verify_bundle(tmp_path / "a").engine == "service"


def test_the_readiness_clip_travels_with_the_version(tmp_path: Path) -> None:
    """A [ready] reference clip is copied into the version and found again after a fetch."""
    _clip(tmp_path / "hello.wav")
    data = _command(tmp_path, reference="hello.wav", reference_text="hello")
    resolved = resolve_service(parse_service_manifest(data, "t"), tmp_path)
    bundle = write_service_bundle(resolved.model_copy(update={"version": "2.0.0"}), tmp_path / "v")
    assert "ready/hello.wav" in bundle.files
    (tmp_path / "hello.wav").unlink()  # the version no longer needs the original
    fetched = service_of(tmp_path / "v")
    assert fetched is not None and fetched.version == "2.0.0"
    assert fetched.ready.reference is not None and Path(fetched.ready.reference).is_file()


def test_a_missing_readiness_clip_is_refused(tmp_path: Path) -> None:
    """A [ready] reference that is not a file is refused when the version is resolved."""
    data = _command(tmp_path, reference="nowhere.wav")
    with pytest.raises(ServiceError, match="not a file"):
        resolve_service(parse_service_manifest(data, "t"), tmp_path)


def test_an_image_and_a_command_together_are_refused() -> None:
    """A service runs from an image or a command, never both, and an image needs its port."""
    both = {"name": "x", "languages": ["en"], "sample_rate": 1, "command": {"argv": ["a"]}}
    with pytest.raises(ServiceManifestError, match="exactly one"):
        parse_service_manifest({**both, "image": {"reference": "r"}}, "t")
    image = {"name": "x", "languages": ["en"], "sample_rate": 1, "image": {"reference": "r"}}
    with pytest.raises(ServiceManifestError, match="needs `port`"):
        parse_service_manifest(image, "t")


class _Cloner:
    """A speaker seam fake that needs a clip, as a cloning app does."""

    can_reference = True

    def __init__(self) -> None:
        self.seen: list[SpeechRequest] = []

    def speak(self, request: SpeechRequest) -> Speech:
        self.seen.append(request)
        if request.reference is None:
            raise ServiceError("prompt_audio is required")
        return Speech(np.full(24000, 0.2, dtype=np.float32), 24000, 0.1)

    def close(self) -> None:
        pass


def test_the_readiness_check_sends_the_clip(tmp_path: Path) -> None:
    """check_ready sends the [ready] clip and its text to a speaker that can take one."""
    clip = _clip(tmp_path / "c.wav")
    manifest = parse_service_manifest(
        _command(tmp_path, reference=str(clip), reference_text="hi"), "t"
    )
    speaker = _Cloner()
    assert check_ready(speaker, manifest.ready) is None
    sent = speaker.seen[0].reference
    assert sent is not None and sent.path == clip and sent.text == "hi"
    bare = parse_service_manifest(_command(tmp_path), "t")
    assert check_ready(speaker, bare.ready) == "prompt_audio is required"
