"""The fixture services' ``service.toml`` files are valid versions, and their cache keys
follow their recipes (no engine needed: nothing is built here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import service_fixtures
from service_fixtures import (
    ZHTTS_READY_TEXT,
    glmapp_service,
    recipe_key,
    voxui_service,
    zhtts_service,
)

from ttsops.service import load_service_manifest, resolve_service


def test_voxui_is_an_image_on_6006_speaking_gradio(tmp_path: Path) -> None:
    """voxui's version runs its fixture image on 6006, heard at /synthesize by text."""
    manifest = load_service_manifest(voxui_service(tmp_path, "1.2.0"))
    assert (manifest.kind, manifest.port, manifest.version) == ("image", 6006, "1.2.0")
    assert manifest.image is not None
    assert manifest.image.reference == service_fixtures.fixture_tag("voxui")
    assert manifest.image.env == {"VOXUI_VERSION": "1.2.0"}
    assert manifest.speech.protocol == "gradio" and manifest.speech.api_name == "/synthesize"
    assert manifest.languages == ("en-US",) and not manifest.can_reference


def test_voxui_failure_modes_are_set_in_the_containers_env(tmp_path: Path) -> None:
    """``fail`` becomes VOXUI_FAIL; two modes of one version are two directories and two
    identities (so the registry sees different versions)."""
    hang = load_service_manifest(voxui_service(tmp_path, "1.0.1", "hang"))
    crash = load_service_manifest(voxui_service(tmp_path, "1.0.1", "crash"))
    assert hang.image is not None and hang.image.env["VOXUI_FAIL"] == "hang"
    assert hang.identity_sha256 != crash.identity_sha256
    with pytest.raises(ValueError, match="crash"):
        voxui_service(tmp_path, "1.0.1", "slow")


def test_glmapp_is_a_command_with_a_reference_input(tmp_path: Path) -> None:
    """glmapp's version runs app.py in its own venv; registering pins app.py and the lock."""
    service_dir = glmapp_service(tmp_path, "2.0.0", python="/opt/glmapp/venv/bin/python")
    manifest = load_service_manifest(service_dir)
    assert manifest.command is not None
    assert manifest.command.argv == ("/opt/glmapp/venv/bin/python", "app.py")
    assert manifest.can_reference
    assert manifest.speech.protocol == "gradio"
    assert manifest.speech.reference_audio == "prompt_audio"
    assert manifest.speech.reference_text == "prompt_text"
    resolved = resolve_service(manifest, service_dir)
    assert resolved.command is not None
    assert sorted(resolved.command.digests) == ["app.py", "requirements.lock"]


def test_zhtts_is_an_image_with_a_base64_http_api_and_a_mandarin_ready_check(
    tmp_path: Path,
) -> None:
    """zhtts is heard at POST /tts (base64 in ``audio``) and checked with Mandarin text."""
    manifest = load_service_manifest(zhtts_service(tmp_path, "0.3.0"))
    assert manifest.languages == ("zh-CN",) and manifest.sample_rate == 24000
    speech = manifest.speech
    assert speech.protocol == "http"
    assert (speech.path, speech.audio, speech.field) == ("/tts", "base64", "audio")
    assert manifest.ready.text == ZHTTS_READY_TEXT


def test_a_recipe_key_is_stable_and_changes_with_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same recipe gives the same key (a cache hit); an edited app.py another."""
    copy = tmp_path / "services"
    shutil.copytree(service_fixtures.SERVICES, copy)
    monkeypatch.setattr(service_fixtures, "SERVICES", copy)
    before = recipe_key("voxui")
    assert recipe_key("voxui") == before
    glmapp = recipe_key("glmapp")
    with (copy / "voxui" / "app.py").open("a") as app:
        app.write("# changed\n")
    with (copy / "glmapp" / "app.py").open("a") as app:
        app.write("# changed\n")
    assert recipe_key("voxui") != before
    assert recipe_key("glmapp") == glmapp  # its venv depends on the lock only
