"""`ttsops k8s render` reads the image a registered version was built into, writes whole files.

The registry is a real SQLite ledger and file store under a temporary TTSOPS_HOME; the
images are records (no registry or cluster is reached: none runs here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from ttsops.cli import app
from ttsops.errors import KubernetesError, VersionNotFoundError
from ttsops.registry import Registry
from ttsops.settings import load_settings

_BAKED_ID = "sha256:" + "ba" * 32
_STORE_ID = "sha256:" + "57" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Path:
    """A registry with joe 1.0.0 and two images recorded of it: baked, then store."""
    root = tmp_path_factory.mktemp("k8s-home")
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(root)})) as reg:
        reg.register(joe_bundle)
        reg.ledger.record_image(
            "1.0.0", "registry.example.com/tts/joe:1.0.0", _BAKED_ID, model="baked", size=1
        )
        reg.ledger.record_image(
            "1.0.0", "registry.example.com/tts/joe-store:1.0.0", _STORE_ID, model="store", size=1
        )
    return root


@pytest.fixture
def runner(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI, in-process, against that registry."""
    monkeypatch.setenv("TTSOPS_HOME", str(home))
    monkeypatch.delenv("TTSOPS_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    yield CliRunner()


def _pod(path: Path, kind: str) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == kind
    container = doc["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(container, dict)
    return container


def test_a_registered_version_runs_as_its_newest_recorded_image(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`render 1.0.0 --model baked`: the baked image the registry recorded, and its id."""
    result = runner.invoke(
        app, ["k8s", "render", "v1.0.0", "--model", "baked", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "kubectl apply -f" in result.output
    tts = _pod(tmp_path / "deployment.yaml", "Deployment")
    assert tts["image"] == "registry.example.com/tts/joe:1.0.0"
    env = {e["name"]: e.get("value") for e in tts["env"]}
    assert env["TTSOPS_IMAGE_ID"] == _BAKED_ID
    assert yaml.safe_load((tmp_path / "deployment.yaml").read_text())["metadata"]["name"] == "joe"


def test_the_newest_image_decides_the_model_unless_asked(runner: CliRunner, tmp_path: Path) -> None:
    """The store image is newest: without --model it is used, and it needs the store's URLs."""
    result = runner.invoke(app, ["k8s", "render", "1.0.0", "--out", str(tmp_path)])
    assert isinstance(result.exception, KubernetesError)
    assert "--model store needs --store-url" in str(result.exception)
    assert not list(tmp_path.iterdir()), "nothing is written when the options are refused"
    result = runner.invoke(
        app,
        [
            "k8s", "render", "1.0.0", "--rollouts", "--out", str(tmp_path),
            "--store-url", "s3://tts/ttsops", "--ledger-url", "postgresql://db/ttsops",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tts = _pod(tmp_path / "rollout.yaml", "Rollout")
    assert tts["image"] == "registry.example.com/tts/joe-store:1.0.0"
    env = {e["name"]: e.get("value") for e in tts["env"]}
    assert env["TTSOPS_VERSION"] == "1.0.0" and env["TTSOPS_STORE_URL"] == "s3://tts/ttsops"


def test_json_lists_the_files_and_their_kinds(runner: CliRunner, tmp_path: Path) -> None:
    """--json: every file with its kinds and path, for scripts."""
    out = tmp_path / "k8s"
    result = runner.invoke(
        app,
        ["k8s", "render", "1.0.0", "--image", "localhost/joe:1.0.0", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["out"] == str(out)
    kinds = {f["name"]: f["kinds"] for f in listing["files"]}
    assert kinds["deployment.yaml"] == ["Deployment"]
    assert kinds["servicemonitor.yaml"] == ["ServiceMonitor"]
    assert "ingress.yaml" not in kinds  # no --host, no --rollouts
    assert all(Path(f["path"]).is_file() for f in listing["files"])


def test_without_out_the_manifests_are_one_yaml_stream(runner: CliRunner) -> None:
    """No --out: one multi-document YAML on stdout, for `| kubectl apply -f -`."""
    result = runner.invoke(
        app, ["k8s", "render", "2.0.0", "--image", "localhost/amy:2.0.0", "--gpu", "1"]
    )
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["metadata"]["name"] == "amy"
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1


def test_a_version_without_an_image_says_how_to_build_one(
    runner: CliRunner, home: Path, joe_bundle: Path
) -> None:
    """An unregistered version, or one with no image of that kind: the command that fixes it."""
    result = runner.invoke(app, ["k8s", "render", "9.9.9"])
    assert isinstance(result.exception, VersionNotFoundError)
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as reg:
        if reg.ledger.find_version("1.0.1") is None:
            reg.register(joe_bundle, version="1.0.1")
    result = runner.invoke(app, ["k8s", "render", "1.0.1"])
    assert isinstance(result.exception, KubernetesError)
    assert "ttsops image build 1.0.1 --tag REPO:1.0.1" in str(result.exception)


def test_out_that_is_a_file_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    """--out naming a file: an error, and the file is left as it was."""
    target = tmp_path / "k8s.yaml"
    target.write_text("mine\n")
    result = runner.invoke(
        app, ["k8s", "render", "1.0.0", "--image", "localhost/joe:1.0.0", "--out", str(target)]
    )
    assert isinstance(result.exception, KubernetesError)
    assert "is a file, not a directory" in str(result.exception)
    assert target.read_text() == "mine\n"
