"""Registering service versions into a real SQLite ledger and file store, as `ttsops
register` does: from service.toml and from flags, again (a no-op), and with a changed app
(refused); `show` and `versions` say the version is a service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from joe_service import write_service
from typer.testing import CliRunner

from ttsops.cli import app
from ttsops.errors import VersionConflictError
from ttsops.registry import Registry
from ttsops.registry.services import register_service
from ttsops.service import service_of
from ttsops.settings import load_settings

APP = "import os\nprint('serving on', os.environ['PORT'])\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state dir (its ledger and store), for the CLI in this process too."""
    root = tmp_path / "home"
    monkeypatch.setenv("TTSOPS_HOME", str(root))
    monkeypatch.delenv("TTSOPS_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return root


@pytest.fixture
def registry(home: Path) -> Iterator[Registry]:
    """The registry of ``home``."""
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as reg:
        yield reg


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A command service: `python app.py` in its own directory, app.py pinned."""
    return write_service(tmp_path / "glm", ["python", "app.py"], name="glm", files={"app.py": APP})


def test_a_service_toml_registers_pinned_and_fetches_back(
    registry: Registry, service: Path, tmp_path: Path
) -> None:
    """The version is a one-file bundle of engine service whose service.toml has the
    absolute cwd and app.py's sha256; fetched back, it is the same service."""
    result = register_service(registry, service, version="v1.0.0", trigger="ci")
    assert result.created
    record = result.record
    assert (record.name, record.version, record.trigger) == ("glm", "1.0.0", "ci")
    assert record.manifest["engine"] == "service"
    assert record.manifest["engine_options"] == {"kind": "command"}
    fetched = registry.fetch("1.0.0", out=tmp_path / "fetched").path
    again = service_of(fetched)
    assert again is not None and again.command is not None
    assert again.version == "1.0.0"
    assert again.command.cwd == str(service.resolve())
    assert set(again.command.digests) == {"app.py"}


def test_registering_the_same_service_again_is_a_no_op(registry: Registry, service: Path) -> None:
    """Same files, same version: nothing new is recorded."""
    first = register_service(registry, service / "service.toml", version="1.0.0")
    second = register_service(registry, service, version="1.0.0")
    assert first.created and not second.created
    assert second.record.digest == first.record.digest
    assert len(registry.ledger.list_versions()) == 1


def test_a_changed_app_under_the_same_version_is_refused(registry: Registry, service: Path) -> None:
    """app.py's sha256 is in the digest: the same version with another app is a conflict,
    and the app as a new version is a new digest."""
    first = register_service(registry, service, version="1.0.0")
    (service / "app.py").write_text(APP + "print('v2')\n", encoding="utf-8")
    with pytest.raises(VersionConflictError, match="registered versions are immutable"):
        register_service(registry, service, version="1.0.0")
    second = register_service(registry, service, version="1.1.0")
    assert second.record.digest != first.record.digest


def test_the_cli_registers_a_service_from_flags_and_shows_it(home: Path, tmp_path: Path) -> None:
    """`ttsops register --command … --cwd … --file …`, then `show` and `versions` name the
    command and say it is a service."""
    cwd = tmp_path / "app"
    cwd.mkdir()
    (cwd / "app.py").write_text(APP, encoding="utf-8")
    runner = CliRunner()
    args = ["register", "--command", "python app.py", "--cwd", str(cwd), "--file", "app.py"]
    args += ["--language", "en-US", "--sample-rate", "24000", "--protocol", "gradio"]
    args += ["--api-name", "/synthesize", "--name", "glmtts", "--version", "2.0.0"]
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    said = json.loads(done.output)
    assert (said["name"], said["version"], said["service"], said["created"]) == (
        "glmtts",
        "2.0.0",
        "command",
        True,
    )
    again = runner.invoke(app, args)
    said_again = " ".join(again.output.split())  # one line, however the console wrapped it
    assert again.exit_code == 0 and "already registered with this digest" in said_again
    shown = runner.invoke(app, ["show", "2.0.0"])
    assert shown.exit_code == 0, shown.output
    # The table wraps a long tmp path at the console's width: compare without whitespace.
    flat = "".join(shown.output.split())
    assert "service(command)@24000Hz" in flat
    assert "".join(f"command python app.py in {cwd.resolve()}".split()) in flat
    listed = json.loads(runner.invoke(app, ["versions", "--json"]).output)
    assert [(v["version"], v["service"]) for v in listed] == [("2.0.0", "command")]


def test_the_cli_refuses_a_path_mixed_with_service_flags(home: Path, service: Path) -> None:
    """PATH and --command both describe what to register: a usage error, nothing recorded."""
    done = CliRunner().invoke(app, ["register", str(service), "--command", "python app.py"])
    assert done.exit_code == 2
    assert "--command describes a service without a file" in " ".join(done.output.split())
    assert (
        not (home / "ledger.db").exists()
        or "no versions" in CliRunner().invoke(app, ["versions"]).output
    )


def test_the_same_version_with_another_image_id_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    """An image service is pinned to its image's id: a rebuilt image under the same
    version is a conflict. (Ids given here, as a registered manifest carries them; no
    engine is asked.)"""
    from ttsops.service import parse_service_manifest

    def image(image_id: str) -> Path:
        data = {
            "name": "voxui",
            "languages": ["en-US"],
            "sample_rate": 22050,
            "port": 6006,
            "image": {"reference": "localhost/voxui:1.4.0", "image_id": image_id},
            "speech": {"protocol": "gradio", "api_name": "/synthesize"},
        }
        out = tmp_path / image_id[-4:]
        out.mkdir()
        (out / "service.toml").write_text(
            parse_service_manifest(data, where="test").to_toml(), encoding="utf-8"
        )
        return out

    first = register_service(registry, image("sha256:" + "a" * 64), version="1.4.0")
    assert first.record.manifest["engine_options"] == {"kind": "image"}
    with pytest.raises(VersionConflictError):
        register_service(registry, image("sha256:" + "b" * 64), version="1.4.0")


def test_an_image_that_is_not_there_is_refused_saying_to_build_it() -> None:
    """Registering pins an image to its id, asked of the real engine (podman here): an
    image it does not hold is an error saying to build or load it first (never pulled)."""
    from ttsops.containers import find_engine
    from ttsops.errors import ContainerError, ServiceError
    from ttsops.registry.services import image_id_of

    try:
        find_engine()
    except ContainerError as exc:
        pytest.skip(f"no container engine here: {exc.message}")
    with pytest.raises(ServiceError, match="build or load it first"):
        image_id_of("localhost/ttsops-no-such-image:0.0.1")
