"""Container images with real podman: build joe, run it non-root, heal-check, serve, stop.

The base image and the wheels are cached outside the checkout (keyed by their recipe), so
only the first run on a machine builds them. Every container and the API service a test
starts are removed by ID / PID at the end; the images stay as the build cache.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ttsops.containers import ContainerEngine, PodmanService, find_engine
from ttsops.errors import ContainerError


def _engine_or_reason() -> tuple[ContainerEngine | None, str]:
    try:
        engine = find_engine()
    except ContainerError as exc:
        return None, exc.message
    if engine.kind == "podman" and os.geteuid() != 0:
        return None, "podman here is set up rootful only: run the container tests as root"
    return engine, ""


_ENGINE, _WHY = _engine_or_reason()

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the first run on a machine builds the base image and wheels
    pytest.mark.skipif(_ENGINE is None, reason=f"no container engine: {_WHY}"),
]

_BAKED = "localhost/ttsops-test-joe:1.0.0"
_STORE = "localhost/ttsops-test-joe-store:1.0.0"


@pytest.fixture(scope="session")
def engine() -> ContainerEngine:
    """The engine the tests drive (podman with ttsops' private config here)."""
    assert _ENGINE is not None
    return _ENGINE


def ttsops(
    *args: str, home: Path, timeout: float = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ttsops ARGS`` with its registry under ``home``."""
    keep = ("TTSOPS_CONTAINERS_DIR",)  # where the engine's caches are: the tests' too
    env = {
        k: v for k, v in os.environ.items() if k in keep or not k.startswith(("TTSOPS_", "AWS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=home,
        env={**env, "TTSOPS_HOME": str(home), "COLUMNS": "200", **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def registry_home(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Path:
    """A registry with joe 1.0.0, readable by the containers' non-root user."""
    home = tmp_path_factory.mktemp("container-registry")
    done = ttsops("register", str(joe_bundle), "--version", "1.0.0", home=home)
    assert done.returncode == 0, done.stderr
    _readable(home)
    return home


def _readable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | (0o555 if p.is_dir() else 0o444))


def _build(home: Path, *args: str) -> dict[str, Any]:
    started = time.monotonic()
    done = ttsops("image", "build", *args, "--json", home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    print(f"\nimage build {args}: {time.monotonic() - started:.1f} s")
    return result


@pytest.fixture(scope="session")
def baked(registry_home: Path) -> dict[str, Any]:
    """joe 1.0.0 built into an image with the model baked in (the --json answer)."""
    return _build(registry_home, "1.0.0", "--tag", _BAKED)


@pytest.fixture(scope="session")
def store_image(registry_home: Path) -> dict[str, Any]:
    """A store image of joe 1.0.0: no model inside, fetched at start."""
    return _build(registry_home, "1.0.0", "--tag", _STORE, "--model", "store")


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


def _speak(url: str) -> httpx.Response:
    body = {"model": "tts-1", "input": "Hello from a container.", "voice": "alloy"}
    return httpx.post(f"{url}/v1/audio/speech", json={**body, "response_format": "wav"}, timeout=60)


def test_baked_image_serves_as_non_root_and_stops_with_exit_0(
    engine: ContainerEngine, baked: dict[str, Any], containers: list[Container]
) -> None:
    """The baked image runs non-root under a memory limit, heals, speaks, and drains on stop."""
    box = Container(engine, _BAKED, "-e", f"TTSOPS_IMAGE_ID={baked['id']}")
    containers.append(box)
    ready = box.wait_healthy()
    print(f"\ncontainer start → healthy: {ready:.1f} s")
    assert engine.run("exec", box.id, "id", "-u").stdout.strip() == "10001"
    answer = _speak(box.url)
    assert answer.status_code == 200
    assert answer.headers["x-ttsops-version"] == "joe@1.0.0"
    assert answer.content[:4] == b"RIFF" and len(answer.content) > 20_000
    info = httpx.get(f"{box.url}/version", timeout=10).json()
    assert info["image"] == _BAKED
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
    assert images[0]["reference"] == _BAKED and images[0]["image_id"] == baked["id"]


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
        "run", "--rm", "--pull=never", "--entrypoint", "ls", _STORE, "/opt/ttsops"
    ).stdout.split() == ["venv"]
    box = Container(engine, _STORE, *_store_args(registry_home))
    containers.append(box)
    box.wait_healthy()
    assert _speak(box.url).headers["x-ttsops-version"] == "joe@1.0.0"
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
    _readable(bad)
    box = Container(engine, _STORE, *_store_args(bad))
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
        assert client.images.get(_BAKED).id == baked["id"]
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
        url, state, lambda v: (_BAKED, baked["id"]), limits=ContainerLimits(memory="1g")
    )
    try:
        slots.start("blue", "1.0.0")
        deadline = time.monotonic() + 240
        while (info := slots.status("blue")) is not None and info.state != "ready":
            assert info.state == "starting", info
            assert time.monotonic() < deadline, "slot container not ready"
            time.sleep(0.5)
        assert info is not None and info.port is not None
        assert _speak(f"http://127.0.0.1:{info.port}").headers["x-ttsops-version"] == "joe@1.0.0"
        again = ContainerSlots(url, state, lambda v: (_BAKED, baked["id"]))
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


def _container_agent(home: Path, joe_bundle: Path, extra_toml: str = "") -> Any:
    """An agent (not started) over joe 1.0.0 and its image, slots as containers."""
    from agent_fixtures import AgentProcess

    home.mkdir()
    assert ttsops("register", str(joe_bundle), "--version", "1.0.0", home=home).returncode == 0
    built = _build(home, "1.0.0", "--tag", _BAKED)
    (home / "ttsops.toml").write_text(
        '[agent]\nruntime = "container"\ndrain_timeout_s = 10\n\n'
        '[agent.container]\nmemory = "1g"\n' + extra_toml
    )
    agent = AgentProcess(home)
    agent.image_id = built["id"]
    return agent


def _owned(engine: ContainerEngine, agent: Any, *, running: bool = False) -> list[str]:
    """Ids of the containers the agent's state dir owns."""
    from ttsops.containers.slots import OWNER_LABEL, slot_owner

    args = ["ps", "-q", "--no-trunc", "--filter"]
    args.append(f"label={OWNER_LABEL}={slot_owner(agent.state_dir)}")
    done = engine.run(*args) if running else engine.run(*args[:1], "-a", *args[1:])
    return done.stdout.split()


def _deploy(agent: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "deploy", "1.0.0", "--wait"],
        env=agent.env,
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + agent.log()[-3000:]


def _close(engine: ContainerEngine, agent: Any) -> None:
    agent.close()
    for cid in _owned(engine, agent):
        engine.run("rm", "-f", "-t", "10", cid, check=False)


def test_agent_with_the_container_runtime_deploys_and_adopts_after_kill_9(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """`[agent] runtime = "container"`: 1.0.0 goes live as a container; kill -9, restart, adopt."""
    agent = _container_agent(tmp_path / "home", joe_bundle)
    try:
        agent.start()
        _deploy(agent)
        assert _speak(agent.public_url).headers["x-ttsops-version"] == "joe@1.0.0"
        version = httpx.get(f"{agent.public_url}/version", timeout=10).json()
        assert version["image_id"] == agent.image_id
        (running,) = _owned(engine, agent)
        agent.kill()
        agent.start()
        status = agent.api("GET", "/v1/status")
        assert status["live_version"] == "1.0.0"
        assert [(s["version"], s["state"]) for s in status["slots"]] == [("1.0.0", "ready")]
        assert _owned(engine, agent) == [running]
        assert status["slots"][0]["pid"] is None
        assert status["slots"][0]["container"] == running[:12]
        assert _speak(agent.public_url).status_code == 200
        slot = status["slots"][0]["slot"]
        table = subprocess.run(
            [sys.executable, "-m", "ttsops", "status"],
            env={**agent.env, "COLUMNS": "200"},
            cwd=agent.home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert table.returncode == 0, table.stderr
        assert f"container {running[:12]}" in table.stdout and "None" not in table.stdout
        shown = subprocess.run(
            [sys.executable, "-m", "ttsops", "logs", slot, "--tail", "50"],
            env=agent.env,
            cwd=agent.home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert "model joe@1.0.0 ready" in shown.stdout + shown.stderr
        down = subprocess.run(
            [sys.executable, "-m", "ttsops", "down"],
            env=agent.env,
            cwd=agent.home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert down.returncode == 0, down.stderr
        assert f"1.0.0, container {running[:12]}" in down.stdout
        assert _owned(engine, agent) == []
    finally:
        _close(engine, agent)


def test_a_dead_slot_container_is_healed_by_the_patrol(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """The live container is killed (exit 137, as at its memory limit): the patrol restarts it."""
    agent = _container_agent(
        tmp_path / "home", joe_bundle, "\n[patrol]\ninterval_s = 1\nfailures = 2\n"
    )
    try:
        agent.start()
        _deploy(agent)
        (first,) = _owned(engine, agent, running=True)
        engine.run("kill", "--signal", "KILL", first)
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, agent.log()[-3000:]
            running = _owned(engine, agent, running=True)
            if running and running != [first]:
                try:
                    if _speak(agent.public_url).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(1)
        from ttsops.registry import Ledger

        with Ledger.open(f"sqlite:///{agent.home / 'ledger.db'}") as ledger:
            kinds = {str(e.kind) for e in ledger.list_events(limit=100)}
        assert {"alert", "patrol.heal"} & kinds, kinds
    finally:
        _close(engine, agent)


_CANARY = """
[canary]
steps = [10, 50, 100]
step_interval_s = 8
watch_s = 8
min_requests = 3
probes_per_window = 3
min_scored = 3
[patrol]
enabled = false
"""


def test_a_broken_canary_container_is_rolled_back_under_load_with_no_failed_request(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """1.0.0 live as a container; a canary image broken on "x" fails on real traffic, rolls back."""
    from agent_fixtures import LoadGenerator

    from ttsops.bundle import DeriveRecipe, derive_bundle

    agent = _container_agent(tmp_path / "home", joe_bundle, _CANARY)
    broken = tmp_path / "broken"
    derive_bundle(joe_bundle, broken, version="1.3.0", recipe=DeriveRecipe(corrupt_phoneme="x"))
    assert ttsops("register", str(broken), home=agent.home).returncode == 0
    _build(agent.home, "1.3.0", "--tag", "localhost/ttsops-test-joe:1.3.0")
    try:
        agent.start()
        _deploy(agent)
        bach = "Play the cello suites by Johann Sebastian Bach."
        with LoadGenerator(agent.public_url, texts=[bach, "Hello there."], max_s=180) as load:
            created = agent.api(
                "POST", "/v1/deployments", json={"version": "1.3.0", "strategy": "canary"}
            )
            done = agent.wait_terminal(created["id"], timeout_s=300)
        assert done["state"] == "rolled_back", agent.log()[-3000:]
        assert "error_rate" in done["reason"]
        assert load.shots and load.failures() == []
        assert {s.version for s in load.shots} <= {"joe@1.0.0", "joe@1.3.0"}
        status = agent.api("GET", "/v1/status")
        assert status["live_version"] == "1.0.0"
    finally:
        _close(engine, agent)
        engine.run("rmi", "localhost/ttsops-test-joe:1.3.0", check=False)


def test_a_store_image_whose_blob_was_tampered_with_is_rolled_back(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """1.1.0 as a store image, its model's blob changed in the store the slots mount: the
    container refuses to start, the deployment rolls back with its line, 1.0.0 stays live."""
    from ttsops.bundle import DeriveRecipe, derive_bundle, load_manifest

    mounted = tmp_path / "mounted"
    extra = (
        'env = { TTSOPS_STORE_URL = "file:///registry/store", '
        'TTSOPS_LEDGER_URL = "sqlite:////registry/ledger.db" }\n'
        f'volumes = ["{mounted}:/registry:ro"]\n'
    )
    agent = _container_agent(tmp_path / "home", joe_bundle, extra)
    retrained = tmp_path / "v110"
    derive_bundle(joe_bundle, retrained, version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    assert ttsops("register", str(retrained), home=agent.home).returncode == 0
    _build(
        agent.home, "1.1.0", "--tag", "localhost/ttsops-test-joe-store:1.1.0", "--model", "store"
    )
    mounted.mkdir()
    shutil.copytree(agent.home / "store", mounted / "store")
    shutil.copy2(agent.home / "ledger.db", mounted / "ledger.db")
    manifest = load_manifest(retrained)
    sha = manifest.files[manifest.engine_options["model"]].sha256
    (blob,) = (mounted / "store").rglob(sha)
    data = bytearray(blob.read_bytes())
    data[5000] ^= 0xFF
    blob.write_bytes(bytes(data))
    _readable(mounted)
    try:
        agent.start()
        _deploy(agent)
        created = agent.api("POST", "/v1/deployments", json={"version": "1.1.0"})
        done = agent.wait_terminal(created["id"], timeout_s=300)
        assert done["state"] == "rolled_back", agent.log()[-3000:]
        assert "failed to start" in done["reason"] and "tampered with" in done["reason"]
        assert agent.api("GET", "/v1/status")["live_version"] == "1.0.0"
        assert _speak(agent.public_url).headers["x-ttsops-version"] == "joe@1.0.0"
    finally:
        _close(engine, agent)
        engine.run("rmi", "localhost/ttsops-test-joe-store:1.1.0", check=False)


def test_store_image_against_real_s3_serves_and_refuses_a_tampered_blob(
    engine: ContainerEngine,
    store_image: dict[str, Any],
    tmp_path: Path,
    joe_bundle: Path,
    containers: list[Container],
) -> None:
    """The store is S3 (a moto server): the image fetches 1.0.0 from it and serves; after the
    model's object is overwritten, a new container exits 1 with the tampered-blob line."""
    import logging

    import s3fs
    from moto.server import ThreadedMotoServer

    from ttsops.bundle import load_manifest

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        aws = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
        fs = s3fs.S3FileSystem(
            endpoint_url=endpoint, key="testing", secret="testing", skip_instance_cache=True
        )
        bucket = f"ttsops-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        home = tmp_path / "home"
        home.mkdir()
        store = {**aws, "TTSOPS_STORE_URL": f"s3://{bucket}/store"}
        done = ttsops("register", str(joe_bundle), "--version", "1.0.0", home=home, extra_env=store)
        assert done.returncode == 0, done.stderr
        _readable(home)
        run_env = [f"--env={k}={v}" for k, v in store.items()]
        run_env += [
            "-v",
            f"{home}:/registry:ro",
            "-e",
            "TTSOPS_LEDGER_URL=sqlite:////registry/ledger.db",
        ]
        box = Container(engine, _STORE, *run_env, host_network=True)
        containers.append(box)
        deadline = time.monotonic() + 240
        while True:
            assert box.inspect("{{.State.Running}}") == "true", box.logs()
            assert time.monotonic() < deadline, box.logs()
            try:
                if httpx.get(f"{box.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert _speak(box.url).headers["x-ttsops-version"] == "joe@1.0.0"
        assert f"from s3://{bucket}/store: every file matches its digest" in box.logs()
        manifest = load_manifest(joe_bundle)
        sha = manifest.files[manifest.engine_options["model"]].sha256
        (key,) = [k for k in fs.find(bucket) if k.endswith(sha)]
        fs.pipe_file(key, b"not the model")
        bad = Container(engine, _STORE, *run_env, host_network=True)
        containers.append(bad)
        assert engine.run("wait", bad.id, timeout=120).stdout.strip() == "1"
        errors = [ln for ln in bad.logs().splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "tampered with" in errors[0], bad.logs()
    finally:
        server.stop()
