"""The agent with `[agent] runtime = "container"`: real podman slots, real nginx, real joe.

Deploys, canaries (good and bad) under load with every answer's version checked against
the router's weights at that moment, kill -9 of the agent mid-canary, a real OOM kill by the
container's memory limit healed by the patrol, store images against a real S3 (a moto
server), and `ttsops agent stop`. Every container a test starts is removed by id at its end;
the images stay as the build cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_fixtures import LoadGenerator, Shot, allowed_versions
from container_fixtures import (
    ENGINE,
    STORE,
    build,
    close_agent,
    container_agent,
    container_marks,
    deploy,
    owned,
    readable,
    speak,
    ttsops,
)

from ttsops.bundle import DeriveRecipe, derive_bundle, load_manifest
from ttsops.containers import ContainerEngine
from ttsops.rollout.procs import alive, read_pid

pytestmark = container_marks()

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

# A busy host may not finish a window's probes in time: the good canary then holds its step
# (inconclusive) instead of rolling back after three such windows.
_PATIENT = _CANARY.replace("min_scored = 3\n", "min_scored = 3\ninconclusive_limit = 20\n")

BACH = "Play the cello suites by Johann Sebastian Bach."


@pytest.fixture(scope="module")
def engine() -> ContainerEngine:
    """The engine the tests drive (podman with ttsops' private config here)."""
    assert ENGINE is not None
    return ENGINE


def _run(agent: Any, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        env={**agent.env, "COLUMNS": "200"},
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _canary_windows(
    agent: Any, deployment_id: int, old: str, new: str
) -> list[tuple[float, float, str, str]]:
    """When the router may send a request to either version, from the canary's phase events.

    ``canary`` is persisted before the router gives the new slot its first share; ``watching``
    after it gives it 100% (the old slot a backup only); ``rolled_back`` after it gives the
    old slot 100% again. Outside these windows exactly one version has weight.
    """
    events = agent.api("GET", f"/v1/deployments/{deployment_id}/events")
    phases = [e["data"] for e in events if e["kind"] == "rollout.phase"]
    opened = min(p["at"] for p in phases if p["phase"] == "canary")
    promoted = [p["at"] for p in phases if p["phase"] in ("watching", "draining")]
    if promoted:
        return [(opened, min(promoted), old, new)]
    ended = max(p["at"] for p in phases if p["phase"] == "rolled_back")
    return [(opened, ended, old, new), (ended, ended, new, old)]


def _check_versions(shots: list[Shot], windows: list[tuple[float, float, str, str]]) -> None:
    """Every answer came from a version the router weighted at some moment of its request."""
    first = windows[0][2]
    for shot in shots:
        allowed = {f"joe@{v}" for v in allowed_versions(windows, first, shot.started, shot.ended)}
        assert shot.version in allowed, (shot, windows)


def _podman_services(agent: Any) -> list[int]:
    """PIDs of `podman system service` processes serving this agent's socket."""
    from ttsops.containers.slots import slot_owner

    mark = f"podman-{slot_owner(agent.state_dir)}.sock"
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"service" in argv and any(mark.encode() in a for a in argv):
                found.append(int(proc.name))
    return found


def test_agent_with_the_container_runtime_deploys_adopts_after_kill_9_and_stops(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """1.0.0 goes live as a container; kill -9, restart, adopt; `ttsops agent stop` leaves
    no container, no nginx and no podman service running."""
    agent = container_agent(tmp_path / "home", joe_bundle)
    try:
        agent.start()
        deploy(agent)
        assert speak(agent.public_url).headers["x-ttsops-version"] == "joe@1.0.0"
        version = httpx.get(f"{agent.public_url}/version", timeout=10).json()
        assert version["image_id"] == agent.image_id
        (running,) = owned(engine, agent)
        agent.kill()
        agent.start()
        status = agent.api("GET", "/v1/status")
        assert status["live_version"] == "1.0.0"
        assert [(s["version"], s["state"]) for s in status["slots"]] == [("1.0.0", "ready")]
        assert owned(engine, agent) == [running]
        assert status["slots"][0]["pid"] is None
        assert status["slots"][0]["container"] == running[:12]
        assert speak(agent.public_url).status_code == 200
        slot = status["slots"][0]["slot"]
        table = _run(agent, "status")
        assert table.returncode == 0, table.stderr
        assert f"container {running[:12]}" in table.stdout and "None" not in table.stdout
        shown = _run(agent, "logs", slot, "--tail", "50")
        assert shown.returncode == 0, shown.stderr
        assert "model joe@1.0.0 ready" in shown.stdout + shown.stderr
        nginx_pid = read_pid(agent.state_dir / "nginx" / "nginx.pid")
        assert _podman_services(agent) != []
        stop = _run(agent, "agent", "stop")
        assert stop.returncode == 0, stop.stderr
        assert "stopped agent agent" in stop.stdout
        assert f"1.0.0, container {running[:12]}" in stop.stdout
        assert f"stopped router nginx (pid {nginx_pid})" in stop.stdout
        assert agent.proc is not None and agent.proc.wait(30) is not None
        assert owned(engine, agent) == []
        assert nginx_pid is not None and not alive(nginx_pid, "nginx")
        assert _podman_services(agent) == []
        kept = _run(agent, "logs", slot)  # the removed container's log was kept
        assert kept.returncode == 0 and "model joe@1.0.0 ready" in kept.stdout
    finally:
        close_agent(engine, agent)


def test_a_good_canary_survives_kill_9_of_the_agent_and_goes_live_under_load(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """1.1.0 canaried 10% → 50% → 100%; the agent is killed at 50% and started again: it
    adopts both containers, finishes, and no answer failed or came from an unweighted slot."""
    agent = container_agent(tmp_path / "home", joe_bundle, _PATIENT)
    good = tmp_path / "good"
    derive_bundle(joe_bundle, good, version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    assert ttsops("register", str(good), home=agent.home).returncode == 0
    build(agent.home, "1.1.0", "--tag", "localhost/ttsops-test-joe:1.1.0")
    try:
        agent.start()
        deploy(agent)
        with LoadGenerator(agent.public_url, max_s=600) as load:
            started = time.monotonic()
            created = agent.api(
                "POST", "/v1/deployments", json={"version": "1.1.0", "strategy": "canary"}
            )
            deadline = time.monotonic() + 600
            while (now := agent.api("GET", f"/v1/deployments/{created['id']}"))["weight"] != 50:
                assert not now["terminal"] and time.monotonic() < deadline, agent.log()[-3000:]
                time.sleep(0.2)
            both = sorted(owned(engine, agent, running=True))
            agent.kill()
            served = len(load.shots)
            while len(load.shots) <= served + 3:
                assert time.monotonic() < deadline, "nothing served while the agent was down"
                time.sleep(0.1)
            agent.start()
            done = agent.wait_terminal(created["id"], timeout_s=600)
            took = time.monotonic() - started
        print(f"\ncanary 1.1.0 with containers (agent killed at 50%): {took:.1f} s")
        assert done["state"] == "live", agent.log()[-3000:]
        assert load.shots and load.failures() == []
        assert {s.version for s in load.shots} == {"joe@1.0.0", "joe@1.1.0"}
        _check_versions(load.shots, _canary_windows(agent, created["id"], "1.0.0", "1.1.0"))
        assert agent.api("GET", "/v1/status")["live_version"] == "1.1.0"
        assert len(both) == 2 and sorted(owned(engine, agent, running=True)) == both  # adopted
    finally:
        close_agent(engine, agent)
        engine.run("rmi", "localhost/ttsops-test-joe:1.1.0", check=False)


def test_a_broken_canary_container_is_rolled_back_under_load_with_no_failed_request(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """1.0.0 live as a container; a canary image broken on "x" fails on real traffic and is
    rolled back; no answer failed or came from a slot the router did not weight then."""
    agent = container_agent(tmp_path / "home", joe_bundle, _CANARY)
    broken = tmp_path / "broken"
    derive_bundle(joe_bundle, broken, version="1.3.0", recipe=DeriveRecipe(corrupt_phoneme="x"))
    assert ttsops("register", str(broken), home=agent.home).returncode == 0
    build(agent.home, "1.3.0", "--tag", "localhost/ttsops-test-joe:1.3.0")
    try:
        agent.start()
        deploy(agent)
        with LoadGenerator(agent.public_url, texts=[BACH, "Hello there."], max_s=600) as load:
            created = agent.api(
                "POST", "/v1/deployments", json={"version": "1.3.0", "strategy": "canary"}
            )
            done = agent.wait_terminal(created["id"], timeout_s=600)
            time.sleep(2)  # answers after the rollback come from 1.0.0 only
        assert done["state"] == "rolled_back", agent.log()[-3000:]
        assert "error_rate" in done["reason"]
        assert load.shots and load.failures() == []
        _check_versions(load.shots, _canary_windows(agent, created["id"], "1.0.0", "1.3.0"))
        assert agent.api("GET", "/v1/status")["live_version"] == "1.0.0"
    finally:
        close_agent(engine, agent)
        engine.run("rmi", "localhost/ttsops-test-joe:1.3.0", check=False)


_HOG = (
    "import pathlib\n"
    "pathlib.Path('/proc/1/oom_score_adj').write_text('1000')\n"
    "hog = []\n"
    "while True:\n"
    "    hog.append(b'\\x01' * (16 << 20))\n"
)
"""Run in the slot's container: make its PID 1 (`ttsops serve`) the OOM killer's choice,
then allocate until the container's memory limit is reached. The hog's own score cannot be
lowered here instead: writing a negative oom_score_adj fails with EIO on this kernel, even
as root on the host."""


def test_a_slot_container_killed_at_its_memory_limit_is_healed_and_named(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path
) -> None:
    """A real OOM kill: the kernel kills the live container's serve process at the 1g limit;
    the patrol restarts it, and the alert and the healing deployment say "out of memory"."""
    from ttsops.containers.oom import kernel_oom_kill
    from ttsops.registry import Ledger

    agent = container_agent(
        tmp_path / "home", joe_bundle, "\n[patrol]\ninterval_s = 1\nfailures = 2\n"
    )
    try:
        agent.start()
        deploy(agent)
        (first,) = owned(engine, agent, running=True)
        started = time.monotonic()
        hog = engine.run("exec", first, "python3", "-c", _HOG, check=False, timeout=300)
        if "Error" in hog.stderr and "oom_score_adj" in hog.stderr:
            pytest.skip(f"this kernel refused the OOM setup: {hog.stderr.strip()[-300:]}")
        state = json.loads(engine.run("inspect", "--format", "{{json .State}}", first).stdout)
        assert state["ExitCode"] == 137, (state, hog.stderr)
        # podman 4.3 + conmon 2.1 on cgroup v1 leave OOMKilled false; the kernel log names it.
        assert state["OOMKilled"] or kernel_oom_kill(first) is not None, state
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, agent.log()[-3000:]
            running = owned(engine, agent, running=True)
            if running and running != [first]:
                try:
                    if speak(agent.public_url).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        print(f"\nOOM kill → healed and speaking: {time.monotonic() - started:.1f} s")
        with Ledger.open(f"sqlite:///{agent.home / 'ledger.db'}") as ledger:
            events = ledger.list_events(limit=200)
            deployments = ledger.list_deployments(limit=10)
        alerts = [e.message for e in events if e.kind == "alert"]
        assert any("out of memory" in m and "1024 MiB" in m for m in alerts), alerts
        heal = deployments[0]
        assert heal.version == "1.0.0" and "out of memory" in (heal.reason or ""), heal
    finally:
        close_agent(engine, agent)


@pytest.fixture
def s3() -> Iterator[dict[str, str]]:
    """A real S3 API (moto's server on a loopback port) with an empty bucket: the env to use."""
    import logging

    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }
        fs = s3fs.S3FileSystem(
            endpoint_url=env["AWS_ENDPOINT_URL"], key="testing", secret="testing"
        )
        bucket = f"ttsops-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield {**env, "TTSOPS_STORE_URL": f"s3://{bucket}/store", "port": str(port)}
    finally:
        server.stop()


def test_store_images_from_real_s3_deploy_and_a_tampered_blob_rolls_back(
    engine: ContainerEngine, tmp_path: Path, joe_bundle: Path, s3: dict[str, str]
) -> None:
    """The store is S3: the agent deploys 1.0.0 as a store image that fetches from it; 1.1.0,
    whose model object was overwritten in the bucket, refuses to start with one line in
    `ttsops logs`, and the deployment rolls back naming the digest failure."""
    import s3fs

    port = s3.pop("port")
    # Slots reach the host's loopback (the moto server) through slirp4netns at 10.0.2.2.
    inside = {**s3, "AWS_ENDPOINT_URL": f"http://10.0.2.2:{port}"}
    mounted = tmp_path / "mounted"
    env_toml = ", ".join(f'{k} = "{v}"' for k, v in inside.items())
    extra = (
        'network = "slirp4netns:allow_host_loopback=true"\n'
        f'env = {{ {env_toml}, TTSOPS_LEDGER_URL = "sqlite:////registry/ledger.db" }}\n'
        f'volumes = ["{mounted}:/registry:ro"]\n'
    )
    agent = container_agent(
        tmp_path / "home", joe_bundle, extra, image=STORE, model="store", env=s3
    )
    retrained = tmp_path / "v110"
    derive_bundle(joe_bundle, retrained, version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    assert ttsops("register", str(retrained), home=agent.home, extra_env=s3).returncode == 0
    store_110 = "localhost/ttsops-test-joe-store:1.1.0"
    build(agent.home, "1.1.0", "--tag", store_110, "--model", "store", extra_env=s3)
    mounted.mkdir()
    shutil.copy2(agent.home / "ledger.db", mounted / "ledger.db")  # the versions' digests
    readable(mounted)
    fs = s3fs.S3FileSystem(endpoint_url=s3["AWS_ENDPOINT_URL"], key="testing", secret="testing")
    manifest = load_manifest(retrained)
    sha = manifest.files[manifest.engine_options["model"]].sha256
    bucket = s3["TTSOPS_STORE_URL"].removeprefix("s3://").split("/", 1)[0]
    (key,) = [k for k in fs.find(bucket) if k.endswith(sha)]
    fs.pipe_file(key, b"not the model")
    try:
        agent.start()
        deploy(agent)
        assert speak(agent.public_url).headers["x-ttsops-version"] == "joe@1.0.0"
        first = agent.api("GET", "/v1/status")["slots"][0]["slot"]
        shown = _run(agent, "logs", first)
        assert f"from {s3['TTSOPS_STORE_URL']}: every file matches its digest" in shown.stdout
        created = agent.api("POST", "/v1/deployments", json={"version": "1.1.0"})
        done = agent.wait_terminal(created["id"], timeout_s=600)
        assert done["state"] == "rolled_back", agent.log()[-3000:]
        assert "failed to start" in done["reason"] and "tampered with" in done["reason"]
        assert agent.api("GET", "/v1/status")["live_version"] == "1.0.0"
        assert speak(agent.public_url).headers["x-ttsops-version"] == "joe@1.0.0"
        second = "green" if first == "blue" else "blue"
        refused = _run(agent, "logs", second)
        assert refused.returncode == 0, refused.stderr
        errors = [ln for ln in refused.stdout.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "tampered with" in errors[0], refused.stdout
    finally:
        close_agent(engine, agent)
        engine.run("rmi", store_110, check=False)
