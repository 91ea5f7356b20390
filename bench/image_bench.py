"""Container images and container slots with real podman: build, size, start, rollback.

Everything runs in a fresh podman storage (``TTSOPS_CONTAINERS_DIR`` pointing at a temporary
dir next to the usual cache, removed at the end), so the timings are not flattered by layers
that tests or earlier runs left behind. By default the base image (loaded from the usual
cache with ``podman save | podman load``, not timed) and the downloaded wheels (linked) are
already there, as on any machine that built once; ``--cold`` starts from nothing (the base
image from the Debian mirror, ~60 s, and 421 MB of wheels, ~20 s).

Measured, in order:

- image builds of joe 1.0.0 with ``build_image`` (what ``ttsops image build`` runs, without
  the CLI's ~2 s of start-up), each step timed: the first build in the fresh storage (the
  dependencies layer: pip installs the locked wheels), the same build again (fully cached),
  a build after a change of ttsops' code (a copy of the checkout with one line more: only
  the ttsops layer and the model layers rerun), a store image (no model), and the images of
  two more versions (another model: only the model layers);
- image sizes as the engine reports them, baked and store;
- one slot's start to ready, directly: ``podman run`` of the baked image until ``/readyz``
  answers 200, then ``podman healthcheck run`` and ``podman stop -t 30`` (time, exit code);
  beside a ``ttsops serve`` process of the same bundle until ``/readyz``, then SIGTERM;
- deploys through a real agent (nginx, default serve settings), once per runtime
  (``[agent] runtime = "container"`` and the default process runtime), as
  ``bench/deploy_bench.py`` does: first deploy, then per round a deploy of a new version
  (cold slot), a rollback (the warm previous slot), a deploy again (warm); one client sends
  requests through the router the whole time (fresh connection per request) and its
  failures are counted. "slot start → ready" is read from the deployment's events
  (``→ starting`` to ``→ shifting``).

Tag → live with the container runtime (``ttsops release``) is not measured here.

Usage: .venv/bin/python bench/image_bench.py [--rounds 2] [--starts 3] [--cold]
(about 6–8 minutes on 2 cores; needs podman, root, nginx). Writes bench/results/image.json
and prints Markdown tables. Leaves nothing running and removes its storage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ttsops.bundle import DeriveRecipe, Manifest, derive_bundle, load_manifest, make_default_bundle
from ttsops.containers import (
    ContainerEngine,
    base_image_tag,
    build_image,
    containers_state_dir,
    find_engine,
)
from ttsops.containers.slots import OWNER_LABEL, slot_owner
from ttsops.registry import Registry
from ttsops.settings import load_settings
from ttsops.testing import LoadGenerator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
IMAGE = "localhost/ttsops-bench-joe"
AGENT_TOML = "[agent]\ndrain_timeout_s = 10\n"
CONTAINER_TOML = '[agent]\nruntime = "container"\ndrain_timeout_s = 10\n\n'
CONTAINER_TOML += '[agent.container]\nmemory = "1g"\n'


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str, deadline_s: float = 240) -> bool:
    """Poll ``url/readyz`` until 200; False on timeout."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


# -- storage ----------------------------------------------------------------------------------


def _fresh_engine(cold: bool, work: Path) -> tuple[ContainerEngine, dict[str, float]]:
    """A podman with its own empty storage under ``work``; base and wheels from the cache."""
    usual = containers_state_dir()
    engine = find_engine(state_dir=work)
    prep: dict[str, float] = {}
    if cold:
        return engine, prep
    base = base_image_tag()
    main = find_engine(state_dir=usual)
    if main.image_exists(base):
        t0 = time.perf_counter()
        tar = work / "base.tar"
        main.run("save", "-o", str(tar), base, timeout=600)
        engine.run("load", "-i", str(tar), timeout=600)
        tar.unlink()
        prep["base image loaded from the cache (not timed below)"] = time.perf_counter() - t0
    if (usual / "wheels").is_dir():
        (work / "wheels").symlink_to(usual / "wheels", target_is_directory=True)
    return engine, prep


def _changed_checkout(work: Path) -> Path:
    """A copy of the checkout's build inputs with one line added to ttsops' code."""
    copy = work / "checkout"
    copy.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    init = copy / "src" / "ttsops" / "__init__.py"
    init.write_text(init.read_text() + f"# image bench: a code change {time.time()}\n")
    return copy


def _code_change_build(
    engine: ContainerEngine, work: Path, joe: Path, manifest: Manifest
) -> dict[str, Any]:
    """The image built from a copy of the checkout whose ttsops code has one line more."""
    copy = _changed_checkout(work)
    return _build(
        engine, "after a ttsops code change", f"{IMAGE}-changed:1.0.0", joe, manifest, project=copy
    )


def _build(
    engine: ContainerEngine,
    label: str,
    reference: str,
    bundle: Path | None,
    manifest: Manifest | None,
    *,
    model: str = "baked",
    project: Path | None = None,
) -> dict[str, Any]:
    """One timed ``build_image`` with the seconds of each of its steps."""
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    built = build_image(
        engine,
        reference,
        model="store" if model == "store" else "baked",
        bundle_dir=bundle,
        manifest=manifest,
        on_step=lambda name: marks.append((name, time.perf_counter())),
        project=project,
    )
    end = time.perf_counter()
    steps = {
        name: round((marks[i + 1][1] if i + 1 < len(marks) else end) - at, 2)
        for i, (name, at) in enumerate(marks)
    }
    row = {
        "build": label,
        "image": reference,
        "id": built.id,
        "model": model,
        "seconds": round(end - t0, 2),
        "steps": steps,
        "size": built.size,
    }
    print(f"  {label}: {row['seconds']} s {steps}", flush=True)
    return row


# -- one slot, directly -----------------------------------------------------------------------


def _container_start(engine: ContainerEngine, image: str) -> dict[str, Any]:
    """``podman run`` → ``/readyz`` 200; then the health check and a graceful stop."""
    port = _port()
    t0 = time.perf_counter()
    done = engine.run(
        "run", "-d", "--pull=never", "-p", f"127.0.0.1:{port}:6006", "--memory", "1g", image
    )
    cid = done.stdout.strip().splitlines()[-1]
    run_s = time.perf_counter() - t0
    try:
        ok = _ready(f"http://127.0.0.1:{port}")
        ready_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        health = engine.run("healthcheck", "run", cid, check=False).returncode
        health_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        engine.run("stop", "-t", "30", cid, check=False)
        stop_s = time.perf_counter() - t2
        code = engine.run("inspect", "--format", "{{.State.ExitCode}}", cid).stdout.strip()
    finally:
        engine.run("rm", "-f", "-t", "10", cid, check=False)
    return {
        "runtime": "container",
        "ready": ok,
        "run_returned_s": round(run_s, 2),
        "to_ready_s": round(ready_s, 2),
        "healthcheck_s": round(health_s, 2),
        "healthcheck_exit": health,
        "stop_s": round(stop_s, 2),
        "exit_code": int(code) if code.lstrip("-").isdigit() else code,
    }


def _process_start(bundle: Path, home: Path) -> dict[str, Any]:
    """``ttsops serve`` of the same bundle → ``/readyz`` 200; then SIGTERM."""
    port = _port()
    env = {**os.environ, "TTSOPS_HOME": str(home)}
    cmd = [sys.executable, "-m", "ttsops", "serve", "--bundle", str(bundle)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    t0 = time.perf_counter()
    with (home / "serve.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        ok = _ready(f"http://127.0.0.1:{port}")
        ready_s = time.perf_counter() - t0
        t2 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        stop_s = time.perf_counter() - t2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {
        "runtime": "process",
        "ready": ok,
        "to_ready_s": round(ready_s, 2),
        "stop_s": round(stop_s, 2),
        "exit_code": code,
    }


# -- deploys through an agent -----------------------------------------------------------------


class _Agent:
    """A real ``ttsops agent`` over ``home``; ``close`` runs ``ttsops down``."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.port, self.public = _port(), _port()
        self.env = {**env, "TTSOPS_HOME": str(home), "TTSOPS_TOKEN": TOKEN}
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=60,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        self.log = (home / "agent.log").open("wb")
        cmd = [sys.executable, "-m", "ttsops", "agent", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--public-port", str(self.public)],
            env=self.env,
            cwd=home,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}: see {home}/agent.log")
            try:
                self.api.get("/docs")
                break
            except httpx.HTTPError:
                time.sleep(0.1)

    def served(self) -> str | None:
        try:
            with httpx.Client(timeout=2) as client:
                return str(client.get(f"http://127.0.0.1:{self.public}/version").json()["version"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def timed(
        self,
        step: str,
        path: str,
        body: dict[str, Any],
        expect: str,
        load: LoadGenerator | None = None,
    ) -> dict[str, Any]:
        since = time.time()
        t0 = time.perf_counter()
        reply = self.api.post(path, json=body)
        reply.raise_for_status()
        deployment = reply.json()
        routed = None
        while True:
            if routed is None and self.served() == expect:
                routed = time.perf_counter() - t0
            state = self.api.get(f"/v1/deployments/{deployment['id']}").json()
            if state["terminal"]:
                break
            time.sleep(0.02)
        if routed is None and self.served() == expect:
            routed = time.perf_counter() - t0
        events = self.api.get(f"/v1/deployments/{deployment['id']}/events").json()
        row = {
            "step": step,
            "to_100_s": None if routed is None else round(routed, 2),
            "to_live_s": round(time.perf_counter() - t0, 2),
            "slot_start_to_ready_s": _phase_gap(events, "→ starting", "→ shifting"),
            "state": state["state"],
        }
        if load is not None:
            tally = load.tally(since=since)
            row.update(requests_ok=tally["ok"], requests_failed=tally["failed"])
        else:
            row.update(requests_ok=None, requests_failed=None)
        print(f"    {step}: {row}", flush=True)
        return row

    def close(self) -> str:
        """``ttsops down`` (agent, slots drained, nginx); what it said."""
        done = subprocess.run(
            [sys.executable, "-m", "ttsops", "down"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()
        self.api.close()
        return done.stdout + done.stderr


def _phase_gap(events: list[dict[str, Any]], start: str, end: str) -> float | None:
    """Seconds from the first event whose message has ``start`` to the first with ``end``."""
    at = {}
    for mark in (start, end):
        found = next((e["at"] for e in events if mark in e["message"]), None)
        if found is None:
            return None
        at[mark] = datetime.fromisoformat(found)
    return round((at[end] - at[start]).total_seconds(), 2)


def _deploys(agent: _Agent, versions: list[str]) -> list[dict[str, Any]]:
    rows = [agent.timed("first deploy (cold)", "/v1/deployments", {"version": "1.0.0"}, "1.0.0")]
    # One client through the router, fresh connection per request, bounded in count and time.
    url = f"http://127.0.0.1:{agent.public}"
    with LoadGenerator(url, texts=["Hello there."], threads=1, max_s=900) as load:
        live = "1.0.0"
        for version in versions:
            new = {"version": version}
            rows.append(agent.timed("deploy (cold slot)", "/v1/deployments", new, version, load))
            back = {"reason": "bench"}
            rows.append(agent.timed("rollback (warm)", "/v1/rollback", back, live, load))
            rows.append(agent.timed("deploy again (warm)", "/v1/deployments", new, version, load))
            live = version
    return rows


# -- the run ----------------------------------------------------------------------------------


@contextmanager
def _workdir() -> Iterator[Path]:
    """A temporary dir next to the usual container cache (same file system: hard links)."""
    parent = containers_state_dir().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="image-bench-", dir=parent))
    try:
        yield work
    finally:
        if (work / "containers" / "wheels").is_symlink():
            (work / "containers" / "wheels").unlink()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(str(work))), reverse=True):
            subprocess.run(["umount", point], check=False)  # overlay mounts of our storage
        shutil.rmtree(work, ignore_errors=True)


def _cleanup(engine: ContainerEngine, homes: list[Path]) -> list[str]:
    """Remove what is left in the bench's own storage: agent containers, then the images."""
    left = []
    for home in homes:
        owner = f"label={OWNER_LABEL}={slot_owner(home / 'agent')}"
        ids = engine.run("ps", "-aq", "--filter", owner, check=False).stdout.split()
        for cid in ids:
            left.append(cid)
            engine.run("rm", "-f", "-t", "10", cid, check=False)
    engine.run("rmi", "-af", check=False, timeout=600)
    return left


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 2) if found else None


def _setup(work: Path, rounds: int) -> tuple[dict[str, Path], dict[str, Path]]:
    """joe 1.0.0 and ``rounds`` variants; two homes (container, process) registering them."""
    joe = work / "joe"
    make_default_bundle(joe)
    bundles = {"1.0.0": joe}
    for n in range(1, rounds + 1):
        version = f"1.{n}.0"
        # Another model of the same files: only an inference setting differs (bundle derive --set).
        recipe = DeriveRecipe(settings={"noise_scale": 0.5 + (n - 1) / 50})
        derive_bundle(joe, work / version, version=version, recipe=recipe)
        bundles[version] = work / version
    homes = {"container": work / "home-container", "process": work / "home-process"}
    for runtime, home in homes.items():
        home.mkdir()
        (home / "ttsops.toml").write_text(CONTAINER_TOML if runtime == "container" else AGENT_TOML)
        with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
            for bundle in bundles.values():
                registry.register(bundle)
    return bundles, homes


def _all_builds(
    engine: ContainerEngine, work: Path, bundles: dict[str, Path], cold: bool, home: Path
) -> list[dict[str, Any]]:
    """Every image build, timed; the baked images of each version recorded in ``home``."""
    print("image builds:", flush=True)
    joe = bundles["1.0.0"]
    manifest = load_manifest(joe)
    builds = []
    first = "first build, fresh storage" + (" (cold)" if cold else "")
    builds.append(_build(engine, first, f"{IMAGE}:1.0.0", joe, manifest))
    builds.append(_build(engine, "same build again", f"{IMAGE}:1.0.0", joe, manifest))
    builds.append(_code_change_build(engine, work, joe, manifest))
    store = f"{IMAGE}-store:1.0.0"
    builds.append(_build(engine, "store image (no model)", store, None, manifest, model="store"))
    for version, bundle in bundles.items():
        if version != "1.0.0":
            label = f"another version's image ({version})"
            builds.append(
                _build(engine, label, f"{IMAGE}:{version}", bundle, load_manifest(bundle))
            )
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as reg:
        for row in builds:
            if row["model"] == "baked" and "-changed:" not in row["image"]:
                version = row["image"].rpartition(":")[2]
                reg.ledger.record_image(
                    version, row["image"], row["id"], model="baked", size=row["size"]
                )
    return builds


def _direct_starts(engine: ContainerEngine, joe: Path, work: Path, n: int) -> list[dict[str, Any]]:
    """``n`` starts of one slot per runtime, alternating (so load falls on both alike)."""
    print("one slot, directly:", flush=True)
    serve_home = work / "serve-home"
    serve_home.mkdir()
    starts = []
    for _ in range(n):
        starts.append(_container_start(engine, f"{IMAGE}:1.0.0"))
        print(f"  {starts[-1]}", flush=True)
        starts.append(_process_start(joe, serve_home))
        print(f"  {starts[-1]}", flush=True)
    return starts


def main() -> None:
    """Build, start, deploy and roll back; write the results and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="new versions per agent")
    parser.add_argument("--starts", type=int, default=3, help="direct starts per runtime")
    parser.add_argument("--cold", action="store_true", help="no base image, no wheels cached")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    builds: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    deploys: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, Any] = {}
    with _workdir() as work:
        engine, prep = _fresh_engine(args.cold, work / "containers")
        notes["prepared"] = {k: round(v, 2) for k, v in prep.items()}
        env = {**os.environ, "TTSOPS_CONTAINERS_DIR": str(engine.state_dir)}
        env.pop("DOCKER_HOST", None)
        bundles, homes = _setup(work, args.rounds)
        versions = [v for v in bundles if v != "1.0.0"]
        try:
            builds = _all_builds(engine, work, bundles, args.cold, homes["container"])
            starts = _direct_starts(engine, bundles["1.0.0"], work, args.starts)
            for runtime in ("container", "process"):
                print(f"deploys, {runtime} runtime:", flush=True)
                agent = _Agent(homes[runtime], env)
                try:
                    deploys[runtime] = _deploys(agent, versions)
                finally:
                    notes[f"ttsops down ({runtime})"] = agent.close().strip()
        except Exception as exc:  # keep what was measured; the error goes into the results
            notes["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            notes["left after ttsops down"] = _cleanup(engine, list(homes.values()))
            _report(
                args, builds, starts, deploys, notes, load_before, time.perf_counter() - started
            )


def _report(
    args: argparse.Namespace,
    builds: list[dict[str, Any]],
    starts: list[dict[str, Any]],
    deploys: dict[str, list[dict[str, Any]]],
    notes: dict[str, Any],
    load_before: float,
    seconds: float,
) -> None:
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
        },
        "args": vars(args),
        "seconds": round(seconds, 1),
        "builds": builds,
        "starts": starts,
        "deploys": deploys,
        "notes": notes,
    }
    out = ROOT / "bench" / "results" / "image.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| image build | seconds | of which the build step | image size MB |")
    print("|---|---:|---:|---:|")
    for b in builds:
        print(
            f"| {b['build']} | {b['seconds']:.1f} | {b['steps'].get('build', 0):.1f} "
            f"| {b['size'] / 1e6:.0f} |"
        )
    print("\n| one slot, directly | n | start → /readyz (median s) | stop (median s) | exit |")
    print("|---|---|---:|---:|---|")
    for runtime in ("container", "process"):
        mine = [s for s in starts if s["runtime"] == runtime]
        if mine:
            codes = ", ".join(sorted({str(s["exit_code"]) for s in mine}))
            print(
                f"| {runtime} | {len(mine)} | {_median([s['to_ready_s'] for s in mine])} "
                f"| {_median([s['stop_s'] for s in mine])} | {codes} |"
            )
    health = [s["healthcheck_s"] for s in starts if s["runtime"] == "container"]
    if health:
        print(f"\n`podman healthcheck run` (median): {_median(health)} s")
    print(
        "\n| runtime | step | n | slot start → ready (median s) | to 100% (median s) "
        "| to `live` (median s) | requests ok / failed |"
    )
    print("|---|---|---|---:|---:|---:|---|")
    for runtime, rows in deploys.items():
        for step in dict.fromkeys(r["step"] for r in rows):
            mine = [r for r in rows if r["step"] == step]
            ok = sum(r["requests_ok"] or 0 for r in mine)
            failed = sum(r["requests_failed"] or 0 for r in mine)
            load = f"{ok} / {failed}" if mine[0]["requests_ok"] is not None else "(no load yet)"
            ready = _median([r["slot_start_to_ready_s"] for r in mine])
            print(
                f"| {runtime} | {step} | {len(mine)} | {ready if ready is not None else '–'} "
                f"| {_median([r['to_100_s'] for r in mine])} "
                f"| {_median([r['to_live_s'] for r in mine])} | {load} |"
            )
    print(f"\nwhole bench: {seconds:.0f} s; load {load_before:.2f} before")


if __name__ == "__main__":
    main()
