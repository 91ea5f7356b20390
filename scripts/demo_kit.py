"""What `make demo` and `bench/release_bench.py` share: the CLI, a local agent, bounded load.

Everything here drives the real thing: `python -m ttsops …` as subprocesses, a real
`ttsops agent` (with its nginx and slots) started detached, and real speech requests
through the router. Processes are stopped by the PIDs in their pid files, never by name.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ttsops.rollout.procs import alive, read_pid, stop_pid
from ttsops.testing import LoadGenerator

__all__ = [
    "BACH",
    "LoadGenerator",
    "ReleaseRun",
    "agent_status",
    "cli",
    "demo_config",
    "new_token",
    "next_steps",
    "release",
    "start_agent",
    "stop_agent",
    "wait_api",
    "write_token",
]

BACH = "Play the cello suites by Johann Sebastian Bach."
"""Says the sound x, which the gate's evaluation set never does (one sentence: a failure
comes before any audio byte, so nginx can still hand the request to the stable slot)."""

_CLOCK = re.compile(r"^\s*\d\d:\d\d:\d\d\s+")


def demo_config(
    agent_url: str, token_file: Path, *, step_interval_s: float = 10, watch_s: float = 10
) -> str:
    """``ttsops.toml`` for a local agent with short canary steps."""
    return f"""\
# Written by scripts/demo_kit.py: short canary steps so a release takes about a minute.
[canary]
steps = [10, 50, 100]
step_interval_s = {step_interval_s:g}
watch_s = {watch_s:g}
min_requests = 3
probes_per_window = 3
min_scored = 3
min_latency_slack_s = 0.5   # a 2-core host runs the load, both slots and the probes

[patrol]
enabled = false             # the demo's outcomes should not depend on probe timing

[targets.production]
agent_url = "{agent_url}"
token_env = "TTSOPS_TOKEN"
token_file = "{token_file}"
"""


def new_token() -> str:
    """A fresh bearer token for the agent's API."""
    return secrets.token_urlsafe(24)


def write_token(state_dir: Path, token: str) -> Path:
    """Put the agent's token at ``<state_dir>/token`` (mode 0600), where a host's agent keeps it.

    Started without ``TTSOPS_TOKEN``, ``ttsops agent`` reads it from there, and ``ttsops
    status``/``deploy``/``rollback`` find it there too under the same ``TTSOPS_HOME``: the
    demo's commands then work as printed, with no secret to copy by hand.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "token"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n")
    return path


def next_steps(live: str | None, agent_url: str, public_url: str) -> str:
    """What the demo prints at the end: where to look, and commands that work as printed.

    The commands are the lines starting with ``$`` (a trailing backslash continues one),
    run from the checkout's root, where ``make demo`` runs; tests/e2e/test_demo_next_steps.py
    runs them exactly as printed against a real agent.
    """
    show, what = (
        (f"show {live}", "files, gate reports and deployments of a version")
        if live
        else ("versions", "every registered version")
    )
    return f"""
== The service keeps running (live: {live or "nothing"})
  web UI:  {public_url}/ui      API docs: {public_url}/docs
  logs:    .demo/agent.log, .demo/home/agent/   gate reports: .demo/reports/<version>/
  try, from this directory:
  $ curl -s {public_url}/v1/audio/speech -H 'content-type: application/json' \\
      -d '{{"input": "Hello from ttsops.", "response_format": "wav"}}' -o hello.wav
  $ export TTSOPS_HOME=$PWD/.demo/home TTSOPS_AGENT_URL={agent_url}
  $ .venv/bin/ttsops status          # what is live: version, slots, router weights
  $ .venv/bin/ttsops history         # every deployment and event: who, when, why
  $ .venv/bin/ttsops {show:<15}# {what}
  $ make demo-stop                   # end the agent, nginx and the slots (by PID)"""


def cli(
    args: Sequence[str], env: Mapping[str, str], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ttsops ARGS``; raise with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"ttsops {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done


def start_agent(
    env: Mapping[str, str],
    *,
    state_dir: Path,
    port: int,
    public_port: int,
    log_path: Path,
    pid_path: Path,
    cwd: Path,
) -> subprocess.Popen[bytes]:
    """Start ``ttsops agent`` detached (own session, survives this process)."""
    cmd = [
        sys.executable, "-m", "ttsops", "agent",
        "--state-dir", str(state_dir),
        "--port", str(port),
        "--public-port", str(public_port),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_path.write_text(f"{proc.pid}\n")
    return proc


def wait_api(
    url: str, token: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 90
) -> None:
    """Wait until the agent's API answers ``/v1/status``; raise with its log if it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the agent exited {proc.returncode}:\n{_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            reply = httpx.get(
                f"{url}/v1/status", headers={"Authorization": f"Bearer {token}"}, timeout=2
            )
            if reply.status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the agent's API at {url} did not answer in {timeout_s:g} s")


def agent_status(url: str, token: str) -> dict[str, Any]:
    """The agent's ``/v1/status``."""
    reply = httpx.get(f"{url}/v1/status", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply.raise_for_status()
    result: dict[str, Any] = reply.json()
    return result


def stop_agent(pid_path: Path, state_dir: Path) -> list[str]:
    """Stop an agent, then its nginx and slots, each by the PID in its pid file."""
    stopped = []
    pid = read_pid(pid_path)
    if pid is not None and alive(pid, "ttsops agent"):
        stop_pid(pid, "ttsops agent", grace_s=15)
        stopped.append(f"agent (pid {pid})")
    nginx = read_pid(state_dir / "nginx" / "nginx.pid")
    if nginx is not None and alive(nginx, "nginx"):
        stop_pid(nginx, "nginx", grace_s=10, sig=signal.SIGQUIT)
        stopped.append(f"nginx (pid {nginx})")
    for path in sorted(state_dir.glob("slots/*/pid")):
        slot = read_pid(path)
        if slot is not None and alive(slot, "ttsops serve"):
            stop_pid(slot, "ttsops serve", grace_s=10)
            stopped.append(f"slot {path.parent.name} (pid {slot})")
    pid_path.unlink(missing_ok=True)
    return stopped


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class ReleaseRun:
    """One ``ttsops release --json`` run: its exit code, JSON result and progress lines."""

    version: str
    exit_code: int
    result: dict[str, Any]
    started: float
    """Wall clock (epoch s) when the command started."""
    seconds: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    """(seconds since the start, line) of everything it printed on stderr."""

    @property
    def outcome(self) -> str:
        """``live``, ``blocked``, ``rolled_back``…; ``error`` when there was no JSON."""
        return str(self.result.get("outcome", "error"))

    def events(self) -> list[tuple[float, str, str]]:
        """(seconds since the start, kind, message) of the deployment's events."""
        deployment = self.result.get("deployment") or {}
        found = []
        for event in deployment.get("events") or []:
            at = datetime.fromisoformat(str(event["at"])).timestamp()
            found.append((at - self.started, str(event["kind"]), str(event["message"])))
        return found

    def first_line(self, pattern: str) -> float | None:
        """Seconds from the start to the first progress line matching ``pattern``."""
        rx = re.compile(pattern)
        return next((t for t, line in self.lines if rx.search(line)), None)

    def first_event(self, pattern: str) -> float | None:
        """Seconds from the start to the first deployment event matching ``pattern``."""
        rx = re.compile(pattern)
        return next((t for t, _, message in self.events() if rx.search(message)), None)


def release(
    bundle: Path,
    version: str,
    env: Mapping[str, str],
    *,
    report_dir: Path,
    on_line: Callable[[str], None] = lambda _line: None,
    timeout_s: float = 900,
) -> ReleaseRun:
    """Run ``ttsops release BUNDLE --version V --json``, passing each progress line on."""
    cmd = [
        sys.executable, "-m", "ttsops", "release", str(bundle),
        "--version", version, "--json", "--report-dir", str(report_dir),
        "--timeout", f"{timeout_s:g}",
    ]  # fmt: skip
    child_env = {**env, "COLUMNS": "200", "NO_COLOR": "1"}
    started, t0 = time.time(), time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        cmd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        for raw in proc.stderr:  # type: ignore[union-attr]
            line = _CLOCK.sub("", raw.rstrip())
            if line.strip():
                lines.append((time.perf_counter() - t0, line))
                on_line(line)
        code = proc.wait()
        reader.join()
    try:
        result: dict[str, Any] = json.loads("".join(out) or "{}")
    except json.JSONDecodeError:
        result = {"outcome": "error", "reason": "no JSON on stdout: " + "".join(out)[-500:]}
    return ReleaseRun(version, code, result, started, time.perf_counter() - t0, lines)
