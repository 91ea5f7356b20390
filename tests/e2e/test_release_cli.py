"""`ttsops release` end to end: the CLI and a real agent with nginx and the real joe voice.

One agent serves the module and the tests build on each other's state, in order: the first
release of joe goes live, a degraded candidate is blocked by the gate against it, and
releasing the live version again is a no-op. The gate runs on 8 short sentences.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_fixtures import AgentProcess

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.gate import load_eval_set
from ttsops.registry import Ledger

pytestmark = pytest.mark.slow

_SENTENCES = (
    "pangram-01",
    "questions-01",
    "numbers-04",
    "questions-02",
    "short-01",
    "punctuation-01",
    "punctuation-02",
    "names-03",
)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """An agent with an empty host, its own TTSOPS_HOME, and a ttsops.toml for the CLI."""
    home = tmp_path_factory.mktemp("release") / "home"
    home.mkdir()
    eval_set = home / "eval.jsonl"
    eval_set.write_text(
        "".join(
            json.dumps({"id": u.id, "text": u.text, "reference": u.reference}) + "\n"
            for u in load_eval_set().utterances
            if u.id in _SENTENCES
        ),
        encoding="utf-8",
    )
    process = AgentProcess(home)
    (home / "ttsops.toml").write_text(
        f'[gate]\neval_set = "{eval_set}"\nworkers = 2\n\n'
        f'[targets.production]\nagent_url = "{process.url}"\ntoken_env = "PROD_TOKEN"\n\n'
        '[targets.staging]\nagent_url = "http://127.0.0.1:9"\ntoken_env = "STAGING_TOKEN"\n\n'
        "[canary]\nsteps = [10, 50, 100]\nstep_interval_s = 6\nwatch_s = 6\nmin_requests = 3\n"
        "probes_per_window = 3\n\n[patrol]\nenabled = false\n",
        encoding="utf-8",
    )
    try:
        yield process.start()
    finally:
        process.close()


def release(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `ttsops release ARGS` as CI would: the target's token in PROD_TOKEN only."""
    env = {k: v for k, v in agent.env.items() if k not in ("TTSOPS_TOKEN", "TTSOPS_AGENT_URL")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env |= {"TTSOPS_CONFIG": str(agent.home / "ttsops.toml"), "PROD_TOKEN": "test-token"}
    return subprocess.run(
        [sys.executable, "-m", "ttsops", "release", *args],
        env={**env, "COLUMNS": "200"},
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _release_events(agent: AgentProcess) -> list[dict[str, object]]:
    ledger = Ledger.open(f"sqlite:///{agent.home / 'ledger.db'}")
    try:
        return [
            {"message": e.message, "deployment_id": e.deployment_id, **e.data}
            for e in ledger.list_events()
            if e.kind == "release"
        ]
    finally:
        ledger.close()


def test_first_release_goes_live_without_a_gate(agent: AgentProcess, joe_bundle: Path) -> None:
    """joe as 1.0.0 to an empty host: exit 0, live, JSON says live, the ledger has it."""
    summary = agent.home / "summary.md"
    done = release(
        agent,
        *(str(joe_bundle), "--version", "1.0.0", "--strategy", "blue-green"),
        *("--json", "--summary", str(summary)),
    )
    assert done.returncode == 0, done.stdout + done.stderr + agent.log()[-3000:]
    data = json.loads(done.stdout)
    assert (data["outcome"], data["version"], data["target"]) == ("live", "1.0.0", "production")
    assert data["gate"]["verdict"] == "skipped"
    assert data["gate"]["note"] == "first release: no baseline to compare with"
    assert data["deployment"]["state"] == "live" and data["deployment"]["events"]
    assert data["registered"] is True and data["live_before"] is None
    assert agent.api("GET", "/v1/status")["live_version"] == "1.0.0"
    assert "deployment #" in done.stderr  # progress goes to stderr with --json
    (event,) = _release_events(agent)
    assert (event["outcome"], event["target"], event["version"]) == ("live", "production", "1.0.0")
    assert event["deployment_id"] == data["deployment"]["id"]
    assert event["gate"]["note"] == "first release: no baseline to compare with"  # type: ignore[index]
    assert "## ttsops release: ✅ LIVE — `1.0.0` → production" in summary.read_text()


def test_degraded_candidate_is_blocked_by_the_gate(
    agent: AgentProcess, joe_bundle: Path, tmp_path: Path
) -> None:
    """Weights perturbed 50%, released as 1.1.0: exit 3, failing checks named, 1.0.0 stays."""
    degraded = tmp_path / "degraded"
    recipe = DeriveRecipe(perturb_sigma=0.5, seed=0)
    derive_bundle(joe_bundle, degraded, version="0.9.0", recipe=recipe)
    report = tmp_path / "report"
    done = release(
        agent, str(degraded), "--version", "v1.1.0", "--json", "--report-dir", str(report)
    )
    assert done.returncode == 3, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert (data["outcome"], data["version"]) == ("blocked", "1.1.0")
    gate = data["gate"]
    assert gate["verdict"] == "fail" and gate["baseline"] == "1.0.0"
    assert gate["failed_checks"], gate
    assert all(reason in data["reason"] for reason in gate["reasons"])
    assert data["deployment"] is None
    assert "registering it as 1.1.0" in done.stderr
    assert (report / "report.json").is_file() and (report / "report.md").is_file()
    status = agent.api("GET", "/v1/status")
    assert status["live_version"] == "1.0.0" and status["active_deployment"] is None
    versions = {d["version"] for d in agent.api("GET", "/v1/deployments")}
    assert versions == {"1.0.0"}
    blocked = _release_events(agent)[0]
    assert (blocked["outcome"], blocked["version"]) == ("blocked", "1.1.0")
    assert blocked["gate"]["report_dir"] == str(report)  # type: ignore[index]


def test_releasing_the_live_version_again_does_nothing(agent: AgentProcess) -> None:
    """1.0.0 is live already: exit 0 with a human line saying so, nothing deployed."""
    done = release(agent, "1.0.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1.0.0 is already live on production" in done.stdout
    assert "release ALREADY_LIVE" in done.stdout
    assert len(agent.api("GET", "/v1/deployments")) == 1


def test_an_untagged_dev_version_goes_to_staging(agent: AgentProcess, joe_bundle: Path) -> None:
    """0.0.0-dev+… picks staging, whose token variable is unset: exit 1 naming it."""
    done = release(agent, str(joe_bundle), "--version", "0.0.0-dev+abc1234")
    assert done.returncode == 1
    assert "export STAGING_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    assert os.environ.get("STAGING_TOKEN") is None


def test_a_retrained_candidate_is_promoted_through_the_canary(
    agent: AgentProcess, joe_bundle: Path, tmp_path: Path
) -> None:
    """Weights perturbed 1%, released with the default strategy: 10% → 50% → 100%, live.

    ``--skip-gate``: whether 8 sentences let the gate pass a 1% change is the gate's own
    business (tests/integration/test_gate_run.py); this is the release's canary path.
    """
    retrained = tmp_path / "retrained"
    derive_bundle(joe_bundle, retrained, version="1.2.0", recipe=DeriveRecipe(perturb_sigma=0.01))
    done = release(agent, str(retrained), "--version", "1.2.0", "--skip-gate", "--json")
    assert done.returncode == 0, done.stdout + done.stderr + agent.log()[-3000:]
    data = json.loads(done.stdout)
    assert (data["outcome"], data["live_before"]) == ("live", "1.0.0")
    assert data["gate"]["verdict"] == "skipped"
    deployment = data["deployment"]["id"]
    events = agent.api("GET", f"/v1/deployments/{deployment}/events")
    shares = [e["data"]["weight"] for e in events if e["kind"] == "canary.analysis"]
    assert shares[:2] == [10, 50] and shares[-1] == 100
    assert agent.api("GET", "/v1/status")["live_version"] == "1.2.0"
