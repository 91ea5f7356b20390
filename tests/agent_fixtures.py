"""Helpers of the agent tests: versions of joe in a registry, a real agent process, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from ttsops.bundle import Source, build_bundle, load_manifest
from ttsops.rollout.procs import alive, read_pid
from ttsops.testing import LoadGenerator, Shot

__all__ = [
    "AgentProcess",
    "Listener",
    "LoadGenerator",
    "Shot",
    "allowed_versions",
    "free_port",
    "make_version",
    "switch_windows",
]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_version(
    joe_bundle: Path,
    out: Path,
    version: str,
    *,
    options: dict[str, Any] | None = None,
    garbage_model: bool = False,
) -> Path:
    """A real bundle of ``version`` made from joe: other engine options, or a garbage model."""
    manifest = load_manifest(joe_bundle)
    files = {rel: joe_bundle / rel for rel in manifest.files}
    model = manifest.engine_options["model"]
    if garbage_model:
        junk = out.parent / f"{version}-junk.onnx"
        junk.write_bytes(os.urandom(4096))
        files[model] = junk
    build_bundle(
        out,
        files,
        name=manifest.name,
        version=version,
        engine=manifest.engine,
        sample_rate=manifest.sample_rate,
        languages=tuple(manifest.languages),
        voices=tuple(manifest.voices),
        engine_options={**manifest.engine_options, **(options or {})},
        source=Source(trigger="test", git_sha=f"{version.replace('.', '')}abc", parent="joe@1.0.0"),
    )
    return out


class AgentProcess:
    """A real `ttsops agent` child; ``close`` ends it, its nginx and its slots by PID."""

    def __init__(self, home: Path, extra: Sequence[str] = ()) -> None:
        self.home = home
        self.state_dir = home / "agent"
        self.port = free_port()
        self.public_port = free_port()
        self.env = {**os.environ, "TTSOPS_HOME": str(home), "TTSOPS_TOKEN": "test-token"}
        self.env["TTSOPS_AGENT_URL"] = self.url
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "agent.log"

    @property
    def url(self) -> str:
        """Management API URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        """The router's URL."""
        return f"http://127.0.0.1:{self.public_port}"

    def start(self) -> AgentProcess:
        """Start the agent and wait until its API answers."""
        cmd = [
            sys.executable, "-m", "ttsops", "agent",
            "--state-dir", str(self.state_dir),
            "--port", str(self.port),
            "--public-port", str(self.public_port),
            "--serve-arg=--no-ui", "--serve-arg=--workers", "--serve-arg=2",
            *self.extra,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.home
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/docs", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"agent API not up in 60 s:\n{self.log()}")

    def log(self) -> str:
        """What the agent printed."""
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, **kw: Any) -> Any:
        """Call the management API with the token; the JSON answer."""
        reply = httpx.request(
            method, f"{self.url}{path}", headers={"Authorization": "Bearer test-token"},
            timeout=60, **kw,
        )  # fmt: skip
        reply.raise_for_status()
        return reply.json()

    def wait_terminal(self, deployment_id: int, timeout_s: float = 120) -> dict[str, Any]:
        """Poll a deployment until it is terminal."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found: dict[str, Any] = self.api("GET", f"/v1/deployments/{deployment_id}")
            if found["terminal"]:
                return found
            time.sleep(0.2)
        raise TimeoutError(f"deployment #{deployment_id} not done:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """kill -9 the agent process only."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def close(self) -> None:
        """End the agent, then its nginx and slots, each by the PID in its pid file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        pids = [(self.state_dir / "nginx" / "nginx.pid", "nginx", signal.SIGQUIT)]
        for path in self.state_dir.glob("slots/*/pid"):
            marked = path.with_name("mark")  # a service slot: what its command line holds
            pids.append(
                (path, marked.read_text() if marked.is_file() else "ttsops serve", signal.SIGKILL)
            )
        for path, mark, sig in pids:
            pid = read_pid(path)
            if pid is not None and alive(pid, mark):
                os.kill(pid, sig)


def switch_windows(
    agent: AgentProcess, deployment_ids: Sequence[int]
) -> list[tuple[float, float, str, str]]:
    """(shift start, shift verified, old, new version) of each deployment that replaced one.

    From the phase events: routes change after ``shifting`` is persisted and are verified
    before ``draining`` is; in between, either version may answer.
    """
    windows = []
    for deployment_id in deployment_ids:
        events = agent.api("GET", f"/v1/deployments/{deployment_id}/events")
        phases = {e["data"]["phase"]: e["data"] for e in events if e["kind"] == "rollout.phase"}
        switched = "shifting" in phases and "draining" in phases
        if "live" in phases and switched and phases["live"]["old_version"] is not None:
            live = phases["live"]
            windows.append(
                (
                    phases["shifting"]["at"],
                    phases["draining"]["at"],
                    live["old_version"],
                    live["version"],
                )
            )
    return sorted(windows)


def allowed_versions(
    windows: list[tuple[float, float, str, str]], first: str, started: float, ended: float
) -> set[str]:
    """Versions the router was set to at some moment of ``[started, ended]``."""
    segments: list[tuple[float, float, set[str]]] = []
    current, since = first, float("-inf")
    for shift, verified, old, new in windows:
        segments.append((since, shift, {current}))
        segments.append((shift, verified, {old, new}))
        current, since = new, verified
    segments.append((since, float("inf"), {current}))
    found: set[str] = set()
    for lo, hi, versions in segments:
        if lo <= ended and started <= hi:
            found |= versions
    return found


class Listener:
    """A real webhook receiver: every JSON body POSTed to it, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ttsops"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
