"""`ttsops register --image/--command …`: the service manifest the flags describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.errors import ServiceManifestError
from ttsops.registry.services import is_service_path, service_from_flags


def test_a_command_service_from_flags() -> None:
    """--command is split like a shell would; cwd, files, protocol and timeout are kept."""
    manifest = service_from_flags(
        command='venv/bin/python app.py --title "GLM TTS"',
        cwd="/opt/glmtts",
        files=["app.py", "requirements.lock"],
        name="glmtts",
        languages=["en-US"],
        sample_rate=24000,
        protocol="gradio",
        api_name="/synthesize",
        start_timeout_s=300,
    )
    assert manifest.kind == "command"
    assert manifest.command is not None
    assert manifest.command.argv == ("venv/bin/python", "app.py", "--title", "GLM TTS")
    assert manifest.command.files == ("app.py", "requirements.lock")
    assert manifest.speech.protocol == "gradio"
    assert manifest.speech.api_name == "/synthesize"  # type: ignore[union-attr]
    assert manifest.start_timeout_s == 300
    assert manifest.port is None


def test_an_image_service_from_flags_is_named_after_its_image() -> None:
    """--image with --port; no --name: the image's repository name (tag and registry cut)."""
    manifest = service_from_flags(
        image="localhost/teams/VoxUI:1.4.0", port=6006, languages=["zh-CN"], sample_rate=16000
    )
    assert manifest.name == "voxui"
    assert manifest.image is not None and manifest.image.reference == "localhost/teams/VoxUI:1.4.0"
    assert manifest.port == 6006
    assert manifest.speech.protocol == "openai"
    assert manifest.languages == ("zh-CN",)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({}, "give exactly one of --image REF (a container) or --command CMD"),
        ({"image": "a:1", "command": "python app.py"}, "give exactly one of --image"),
        ({"image": "a:1"}, "--image needs --port N"),
        ({"command": "python app.py", "port": 80}, "--port goes with --image"),
        ({"image": "a:1", "port": 80, "cwd": "/opt"}, "--cwd and --file go with --command"),
        ({"command": "python app.py", "protocol": "grpc"}, "--protocol must be one of"),
        ({"command": "python app.py", "api_name": "/x"}, "--api-name goes with --protocol gradio"),
        ({"command": "python 'app.py"}, "cannot be split into words"),
        ({"command": "  "}, "--command is empty"),
    ],
)
def test_bad_flags_are_named(flags: dict[str, object], said: str) -> None:
    """Each contradiction or gap is a ServiceManifestError that names the flag."""
    args: dict[str, object] = {"languages": ["en-US"], "sample_rate": 22050, **flags}
    with pytest.raises(ServiceManifestError, match=said.replace("(", r"\(").replace(")", r"\)")):
        service_from_flags(**args)  # type: ignore[arg-type]


def test_language_and_sample_rate_are_required() -> None:
    """Both missing: one error naming both."""
    with pytest.raises(ServiceManifestError) as caught:
        service_from_flags(command="python app.py")
    assert "--language is required" in caught.value.message
    assert "--sample-rate is required" in caught.value.message


def test_what_counts_as_a_service_path(tmp_path: Path) -> None:
    """A service.toml, or a dir holding one and no bundle.toml; a fetched version (both
    files) is registered as the bundle it is."""
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "service.toml").write_text("", encoding="utf-8")
    (tmp_path / "fetched").mkdir()
    for name in ("service.toml", "bundle.toml"):
        (tmp_path / "fetched" / name).write_text("", encoding="utf-8")
    assert is_service_path(tmp_path / "svc")
    assert is_service_path(tmp_path / "svc" / "service.toml")
    assert not is_service_path(tmp_path / "fetched")
    assert not is_service_path(tmp_path / "fetched" / "bundle.toml")
    assert not is_service_path(tmp_path)
