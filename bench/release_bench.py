"""Tag to 100%: how long `ttsops release` takes through gate and canary, under load.

A throwaway home with a real `ttsops agent` (nginx, slots, default serve settings: web UI
on) and the canary steps of `make demo` (10 → 50 → 100%, 10 s per step, 10 s watch).
1.0.0 (joe) is released first; then, while two clients send the shared sentences through
the router (fresh connection per request, 0.3 s apart), each round releases a new version
made with `ttsops bundle derive --perturb 0.01` (a retrained checkpoint; another seed per
round) with the real CLI, `ttsops release DIR --version V --json`, exactly as CI would.

For each release: seconds from the command's start to registered, gate verdict, deployment
accepted, canary at 10% (the new slot started and ready), at 50%, promoted to 100%, and
live (the watch window passed, the old slot left the router); and the requests sent and
failed while it ran. Steps are read from the CLI's progress lines (registered, gate) and
the agent's deployment events (timestamps of the events themselves).

Usage: .venv/bin/python bench/release_bench.py [--rounds 2]
Writes bench/results/release.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from demo_kit import (  # noqa: E402 - the shared demo helpers, after the path insert above
    LoadGenerator,
    ReleaseRun,
    cli,
    demo_config,
    new_token,
    release,
    start_agent,
    stop_agent,
    wait_api,
)

SHARED = ROOT.parent / "shared" / "bench" / "sentences.txt"

# (column, where the moment is found: "line" = CLI progress, "event" = deployment event)
MILESTONES: list[tuple[str, str, str]] = [
    ("registered", "line", r"registered \("),
    ("gate done", "line", r"→ gate: (PASS|FAIL|INCONCLUSIVE|ERROR)"),
    ("accepted", "line", r"deployment #\d+ of .* accepted"),
    ("canary 10%", "event", r"canary step 1 of"),
    ("canary 50%", "event", r"canary step 2 of"),
    ("at 100%", "event", r"promoted to 100%"),
    ("live", "event", r"→ live"),
]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _row(run: ReleaseRun, load: LoadGenerator | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "version": run.version,
        "outcome": run.outcome,
        "exit_code": run.exit_code,
        "total_s": round(run.seconds, 2),
        "cli_timings": run.result.get("timings", {}),
    }
    for name, where, pattern in MILESTONES:
        at = run.first_line(pattern) if where == "line" else run.first_event(pattern)
        row[name] = None if at is None else round(at, 2)
    if load is not None:
        row["load"] = load.tally(since=run.started, until=run.started + run.seconds)
    return row


def _env(root: Path, api: str, token: str, args: argparse.Namespace) -> dict[str, str]:
    (root / "token").write_text(token)
    config = demo_config(
        api, root / "token", step_interval_s=args.step_interval, watch_s=args.watch
    )
    (root / "ttsops.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    env.update(
        TTSOPS_HOME=str(root / "home"), TTSOPS_CONFIG=str(root / "ttsops.toml"), TTSOPS_TOKEN=token
    )
    return env


def _bundles(root: Path, env: dict[str, str], versions: list[str]) -> None:
    joe = root / "joe-1.0.0"
    cli(["bundle", "default", "--out", str(joe)], env)
    for n, version in enumerate(versions):
        out = root / f"joe-{version}"
        cli(["bundle", "derive", str(joe), "--out", str(out), "--version", version,
             "--perturb", "0.01", "--seed", str(n)], env)  # fmt: skip


def _measure(
    root: Path, versions: list[str], texts: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Start the agent, release 1.0.0, then each version under load; the rows."""
    state = root / "home" / "agent"
    state.parent.mkdir()
    port, public = _port(), _port()
    api = f"http://127.0.0.1:{port}"
    token = new_token()
    env = _env(root, api, token, args)
    _bundles(root, env, versions)
    agent = start_agent(
        env,
        state_dir=state,
        port=port,
        public_port=public,
        log_path=root / "agent.log",
        pid_path=root / "agent.pid",
        cwd=root,
    )
    rows: list[dict[str, Any]] = []

    def rel(version: str) -> ReleaseRun:
        run = release(root / f"joe-{version}", version, env, report_dir=root / "reports" / version)
        print(f"  {version}: {run.outcome} in {run.seconds:.1f} s", flush=True)
        if run.outcome != "live":
            tail = (root / "agent.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{version} ended {run.outcome}: {run.result}\n{tail}")
        return run

    try:
        wait_api(api, token, agent, root / "agent.log")
        rows.append({**_row(rel("1.0.0"), None), "step": "first release (no gate, no load)"})
        url = f"http://127.0.0.1:{public}"
        with LoadGenerator(url, texts=texts, threads=2, pause_s=0.3, max_s=1800) as load:
            time.sleep(3)
            for version in versions:
                rows.append({**_row(rel(version), load), "step": "release under load"})
    finally:
        stop_agent(root / "agent.pid", state)
        agent.wait(30)
    return rows


def _write(rows: list[dict[str, Any]], load_before: float, args: argparse.Namespace) -> None:
    loaded = [r for r in rows if "load" in r]
    summary = {
        name: round(statistics.median(r[name] for r in loaded if r[name] is not None), 2)
        for name, _, _ in MILESTONES
        if any(r[name] is not None for r in loaded)
    }
    summary["total_s"] = round(statistics.median(r["total_s"] for r in loaded), 2)
    canary = {"steps": [10, 50, 100], "step_interval_s": args.step_interval, "watch_s": args.watch}
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "canary": canary,
        "rows": rows,
        "median_under_load": summary,
        "requests_under_load": {
            "sent": sum(r["load"]["total"] for r in loaded),
            "failed": sum(r["load"]["failed"] for r in loaded),
        },
    }
    out = ROOT / "bench" / "results" / "release.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    names = [name for name, _, _ in MILESTONES]
    print("| release | " + " | ".join(names) + " | total s | requests sent / failed |")
    print("|---" * (len(names) + 3) + "|")
    for r in rows:
        cells = " | ".join("–" if r[n] is None else f"{r[n]:.1f}" for n in names)
        load = f"{r['load']['total']} / {r['load']['failed']}" if "load" in r else "(no load)"
        print(f"| {r['version']} | {cells} | {r['total_s']:.1f} | {load} |")


def main() -> None:
    """Release 1.0.0, then ``--rounds`` perturbed versions under load; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--step-interval", type=float, default=10)
    parser.add_argument("--watch", type=float, default=10)
    args = parser.parse_args()
    texts = [t for t in SHARED.read_text().splitlines() if t.strip()]
    load_before = os.getloadavg()[0]
    versions = [f"1.{n}.0" for n in range(1, args.rounds + 1)]
    with tempfile.TemporaryDirectory(prefix="ttsops-release-bench-") as tmp:
        rows = _measure(Path(tmp), versions, texts, args)
    _write(rows, load_before, args)


if __name__ == "__main__":
    main()
