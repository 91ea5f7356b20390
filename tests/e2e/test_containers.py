"""Container images with real podman: build joe, run it non-root, heal-check, serve, stop.

The base image and the wheels are cached outside the checkout (keyed by their recipe), so
only the first run on a machine builds them. Every container and the API service a test
starts are removed by ID / PID at the end; the images stay as the build cache.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from container_fixtures import (
    BAKED,
    ENGINE,
    STORE,
    build,
    container_marks,
    readable,
    speak,
    ttsops,
)

from ttsops.containers import ContainerEngine, PodmanService

pytestmark = container_marks()


@pytest.fixture(scope="session")
def engine() -> ContainerEngine:
    """The engine the tests drive (podman with ttsops' private config here)."""
    assert ENGINE is not None
    return ENGINE


@pytest.fixture(scope="session")
def registry_home(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Path:
    """A registry with joe 1.0.0, readable by the containers' non-root user."""
    home = tmp_path_factory.mktemp("container-registry")
    done = ttsops("register", str(joe_bundle), "--version", "1.0.0", home=home)
    assert done.returncode == 0, done.stderr
    readable(home)
    return home


@pytest.fixture(scope="session")
def baked(registry_home: Path) -> dict[str, Any]:
    """joe 1.0.0 built into an image with the model baked in (the --json answer)."""
    return build(registry_home, "1.0.0", "--tag", BAKED)


@pytest.fixture(scope="session")
def store_image(registry_home: Path) -> dict[str, Any]:
    """A store image of joe 1.0.0: no model inside, fetched at start."""
    return build(registry_home, "1.0.0", "--tag", STORE, "--model", "store")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Container:
    """One container the test started; removed by ID when the test ends."""

    def __init__(
        self, engine: ContainerEngine, image: str, *args: str, host_network: bool = False
    ) -> None:
        self.engine = engine
        self.port = _free_port()
        self.name = f"ttsops-test-{uuid.uuid4().hex[:8]}"
        # On the host's network (to reach a loopback-only server) the container serves on
        # a free loopback port of its own instead of a published 6006.
        network = ["--network=host"] if host_network else ["-p", f"127.0.0.1:{self.port}:6006"]
        command = ["ttsops", "image", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        done = engine.run(
            "run",
            "-d",
            "--pull=never",
            "--name",
            self.name,
            *network,
            "--memory",
            "1g",
            *args,
            image,
            *(command if host_network else []),
        )
        self.id = done.stdout.strip().splitlines()[-1]

    @property
    def url(self) -> str:
        """Where the published port answers."""
        return f"http://127.0.0.1:{self.port}"

    def inspect(self, fmt: str) -> str:
        """One field of ``inspect``."""
        return self.engine.run("inspect", "--format", fmt, self.id).stdout.strip()

    def logs(self) -> str:
        """Everything the container printed."""
        done = self.engine.run("logs", self.id, check=False)
        return done.stdout + done.stderr

    def wait_healthy(self, deadline_s: float = 240) -> float:
        """Run the image's health check until it passes; seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            if self.inspect("{{.State.Running}}") != "true":
                pytest.fail(f"container exited before it was healthy:\n{self.logs()}")
            if self.engine.run("healthcheck", "run", self.id, check=False).returncode == 0:
                return time.monotonic() - started
            time.sleep(0.5)
        pytest.fail(f"container not healthy in {deadline_s} s:\n{self.logs()}")

    def remove(self) -> None:
        """Remove the container (stopping it first, gracefully)."""
        self.engine.run("rm", "-f", "-t", "10", self.id, check=False)


@pytest.fixture
def containers(engine: ContainerEngine) -> Iterator[list[Container]]:
    """Containers a test starts, each removed by ID at its end."""
    started: list[Container] = []
    yield started
    for c in started:
        c.remove()


def test_baked_image_serves_as_non_root_and_stops_with_exit_0(
    engine: ContainerEngine, baked: dict[str, Any], containers: list[Container]
) -> None:
    """The baked image runs non-root under a memory limit, heals, speaks, and drains on stop."""
    box = Container(engine, BAKED, "-e", f"TTSOPS_IMAGE_ID={baked['id']}")
    containers.append(box)
    ready = box.wait_healthy()
    print(f"\ncontainer start → healthy: {ready:.1f} s")
    assert engine.run("exec", box.id, "id", "-u").stdout.strip() == "10001"
    answer = speak(box.url)
    assert answer.status_code == 200
    assert answer.headers["x-ttsops-version"] == "joe@1.0.0"
    assert answer.content[:4] == b"RIFF" and len(answer.content) > 20_000
    info = httpx.get(f"{box.url}/version", timeout=10).json()
    assert info["image"] == BAKED
    assert info["image_id"] == baked["id"]
    stop = engine.run("stop", "-t", "30", box.id)
    assert stop.returncode == 0
    assert box.inspect("{{.State.ExitCode}}") == "0"


def test_baked_image_is_labelled_and_recorded(
    baked: dict[str, Any], registry_home: Path, joe_bundle: Path
) -> None:
    """OCI labels name version, revision, time, source and digest; the ledger has the image."""
    from ttsops.bundle import load_manifest

    labels = baked["labels"]
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["io.ttsops.bundle.digest"] == load_manifest(joe_bundle).digest
    shown = ttsops("show", "1.0.0", "--json", home=registry_home)
    images = json.loads(shown.stdout)["images"]
    assert images[0]["reference"] == BAKED and images[0]["image_id"] == baked["id"]


def _store_args(home: Path) -> list[str]:
    return [
        "-v",
        f"{home}:/registry:ro",
        "-e",
        "TTSOPS_STORE_URL=file:///registry/store",
        "-e",
        "TTSOPS_LEDGER_URL=sqlite:////registry/ledger.db",
    ]


def test_store_image_fetches_verifies_and_serves(
    engine: ContainerEngine,
    store_image: dict[str, Any],
    registry_home: Path,
    containers: list[Container],
) -> None:
    """A store image holds no model: it fetches 1.0.0 from the mounted store, then speaks."""
    assert store_image["labels"]["io.ttsops.model"] == "store"
    assert engine.run(
        "run", "--rm", "--pull=never", "--entrypoint", "ls", STORE, "/opt/ttsops"
    ).stdout.split() == ["venv"]
    box = Container(engine, STORE, *_store_args(registry_home))
    containers.append(box)
    box.wait_healthy()
    assert speak(box.url).headers["x-ttsops-version"] == "joe@1.0.0"
    assert "every file matches its digest" in box.logs()


def test_store_image_refuses_a_tampered_blob_at_once(
    engine: ContainerEngine,
    store_image: dict[str, Any],
    registry_home: Path,
    tmp_path: Path,
    containers: list[Container],
) -> None:
    """One byte changed in the stored model: the container exits 1 with one clear line."""
    bad = tmp_path / "registry"
    shutil.copytree(registry_home, bad)
    blob = max((bad / "store").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF
    blob.write_bytes(bytes(data))
    readable(bad)
    box = Container(engine, STORE, *_store_args(bad))
    containers.append(box)
    code = engine.run("wait", box.id, timeout=120).stdout.strip()
    assert code == "1"
    errors = [ln for ln in box.logs().splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "tampered with" in errors[0]


def test_push_to_an_unreachable_registry_fails_clearly(
    engine: ContainerEngine, baked: dict[str, Any], registry_home: Path
) -> None:
    """No registry listens at 127.0.0.1:1: exit 1 naming the registry and what to check."""
    tag = "127.0.0.1:1/joe:1.0.0"
    try:
        done = ttsops("image", "build", "1.0.0", "--tag", tag, "--push", home=registry_home)
    finally:
        engine.run("rmi", tag, check=False)
    assert done.returncode == 1
    assert "pushing 127.0.0.1:1/joe:1.0.0 to registry 127.0.0.1:1 failed" in done.stderr
    assert "Traceback" not in done.stderr


def test_podman_service_serves_the_docker_api(
    engine: ContainerEngine, baked: dict[str, Any]
) -> None:
    """The Docker SDK reaches podman's socket and sees the image; the service stops by PID."""
    import docker

    if engine.kind != "podman":
        pytest.skip("the API service is podman's; this engine is " + engine.kind)
    service = PodmanService(engine)
    url = service.start()
    try:
        client = docker.DockerClient(base_url=url, version="1.41")
        assert client.ping()
        assert client.images.get(BAKED).id == baked["id"]
        client.close()
    finally:
        pid = service.proc.pid if service.proc else None
        service.stop()
    assert pid is not None and not Path(f"/proc/{pid}").exists()


def test_slot_containers_start_get_adopted_and_stop(
    engine: ContainerEngine, baked: dict[str, Any], tmp_path: Path
) -> None:
    """A slot container becomes ready, a restarted agent adopts it, stop drains and removes it."""
    from ttsops.containers.slots import ContainerLimits, ContainerSlots

    if engine.kind != "podman":
        pytest.skip("the API service is podman's; this engine is " + engine.kind)
    service = PodmanService(engine)
    url = service.start()
    state = tmp_path / "agent"
    slots = ContainerSlots(
        url, state, lambda v: (BAKED, baked["id"]), limits=ContainerLimits(memory="1g")
    )
    try:
        slots.start("blue", "1.0.0")
        deadline = time.monotonic() + 240
        while (info := slots.status("blue")) is not None and info.state != "ready":
            assert info.state == "starting", info
            assert time.monotonic() < deadline, "slot container not ready"
            time.sleep(0.5)
        assert info is not None and info.port is not None
        assert speak(f"http://127.0.0.1:{info.port}").headers["x-ttsops-version"] == "joe@1.0.0"
        again = ContainerSlots(url, state, lambda v: (BAKED, baked["id"]))
        adopted = again.status("blue")
        assert adopted is not None and adopted.container_id == info.container_id
        assert ContainerSlots(url, tmp_path / "other", lambda v: ("", "")).slots() == []
        assert "ready" in again.logs("blue")
        again.close()
        slots.stop("blue")
        assert slots.status("blue") is None
    finally:
        slots.stop("blue")
        slots.close()
        service.stop()
