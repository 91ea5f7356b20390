"""Deploy and rollback times of the agent on this machine: real nginx, real slots, real voice.

One `ttsops agent` (default settings: web UI on, previous version kept warm) over a
throwaway registry with joe 1.0.0 and variants (other noise_scale: real, different model
configurations). Each round deploys a new version (a cold slot start: process, model load,
warm-up synthesis, router switch), rolls it back (the warm previous slot: a router switch),
and deploys it again (warm again). Times are from the API call to the moment a fresh
connection through the public port gets the new version, and to the deployment's ``live``.
A last deploy uses ``recreate`` and reports its downtime. A light load (one client, fresh
connection per request) runs through the router the whole time; its failures are counted.

Usage: .venv/bin/python bench/deploy_bench.py [--rounds 3]
Writes bench/results/deploy.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ttsops.bundle import Source, build_bundle, load_manifest, make_default_bundle
from ttsops.registry import Registry
from ttsops.rollout.procs import alive, read_pid
from ttsops.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _variant(joe: Path, out: Path, version: str, noise: float) -> Path:
    m = load_manifest(joe)
    build_bundle(
        out,
        {rel: joe / rel for rel in m.files},
        name=m.name,
        version=version,
        engine=m.engine,
        sample_rate=m.sample_rate,
        languages=tuple(m.languages),
        voices=tuple(m.voices),
        engine_options={**m.engine_options, "noise_scale": noise},
        source=Source(trigger="bench", parent="joe@1.0.0"),
    )
    return out


class _Load:
    """One client through the router, fresh connection per request; counts failures."""

    def __init__(self, url: str) -> None:
        self.url, self.ok, self.failed = url, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = httpx.post(
                    f"{self.url}/v1/audio/speech",
                    timeout=60,
                    json={"input": "Hello there.", "response_format": "wav"},
                )
                good = reply.status_code == 200 and reply.content[:4] == b"RIFF"
            except httpx.HTTPError:
                good = False
            self.ok += good
            self.failed += not good

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class _Bench:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port, self.public = _port(), _port()
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=60,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        env = {**os.environ, "TTSOPS_HOME": str(home), "TTSOPS_TOKEN": TOKEN}
        self.log = (home / "agent.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ttsops",
                "agent",
                "--port",
                str(self.port),
                "--public-port",
                str(self.public),
            ],
            env=env,
            cwd=home,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
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
        self, step: str, path: str, body: dict[str, Any], expect: str, load: _Load | None = None
    ) -> dict[str, Any]:
        before = (load.ok, load.failed) if load else (0, 0)
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
        return {
            "step": step,
            "to_100_s": routed,
            "to_live_s": time.perf_counter() - t0,
            "state": state["state"],
            "downtime_s": state["downtime_s"],
            "requests_ok": (load.ok - before[0]) if load else None,
            "requests_failed": (load.failed - before[1]) if load else None,
        }

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        state = self.home / "agent"
        for path, mark, sig in [
            (state / "nginx" / "nginx.pid", "nginx", signal.SIGQUIT),
            *((p, "ttsops serve", signal.SIGKILL) for p in state.glob("slots/*/pid")),
        ]:
            pid = read_pid(path)
            if pid is not None and alive(pid, mark):
                os.kill(pid, sig)


def main() -> None:
    """Run the rounds and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ttsops-deploy-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        joe = root / "joe"
        make_default_bundle(joe)
        versions = [f"1.{n}.0" for n in range(1, args.rounds + 2)]
        with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
            registry.register(joe)
            for n, version in enumerate(versions):
                registry.register(_variant(joe, root / version, version, 0.5 + n / 50))
        bench = _Bench(home)
        rows: list[dict[str, Any]] = []
        try:
            rows.append(
                bench.timed("first deploy (cold)", "/v1/deployments", {"version": "1.0.0"}, "1.0.0")
            )
            with _Load(f"http://127.0.0.1:{bench.public}") as load:
                live = "1.0.0"
                for version in versions[:-1]:
                    new = {"version": version}
                    rows.append(
                        bench.timed("deploy (cold slot)", "/v1/deployments", new, version, load)
                    )
                    back = {"reason": "bench"}
                    rows.append(bench.timed("rollback (warm)", "/v1/rollback", back, live, load))
                    rows.append(
                        bench.timed("deploy again (warm)", "/v1/deployments", new, version, load)
                    )
                    live = version
                last = {"version": versions[-1], "strategy": "recreate"}
                rows.append(
                    bench.timed("recreate (cold)", "/v1/deployments", last, versions[-1], load)
                )
        finally:
            bench.close()
    summary: dict[str, Any] = {}
    for step in dict.fromkeys(r["step"] for r in rows):
        mine = [r for r in rows if r["step"] == step]
        summary[step] = {
            "n": len(mine),
            "to_100_s_median": statistics.median(r["to_100_s"] or 0 for r in mine),
            "to_live_s_median": statistics.median(r["to_live_s"] for r in mine),
            "downtime_s": [r["downtime_s"] for r in mine if r["downtime_s"] is not None],
            "requests_failed": sum(r["requests_failed"] or 0 for r in mine),
            "requests_ok": sum(r["requests_ok"] or 0 for r in mine),
        }
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "rows": rows,
        "summary": summary,
    }
    out = ROOT / "bench" / "results" / "deploy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| step | n | to 100% traffic (median s) | to `live` (median s) | downtime (s) "
        "| requests ok / failed meanwhile |"
    )
    print("|---|---|---|---|---|---|")
    for step, s in summary.items():
        down = ", ".join(f"{d:.1f}" for d in s["downtime_s"]) or "0 (none)"
        print(
            f"| {step} | {s['n']} | {s['to_100_s_median']:.2f} | {s['to_live_s_median']:.2f} "
            f"| {down} | {s['requests_ok']} / {s['requests_failed']} |"
        )


if __name__ == "__main__":
    main()
