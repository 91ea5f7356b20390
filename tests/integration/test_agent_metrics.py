"""The agent's /metrics and /metrics/targets, and that the alert rules and the dashboard
use only metrics ttsops really exports.

A real `ttsops agent` (with its nginx) deploys joe 1.0.0, then a version whose model is
garbage, which it rolls back by itself; its /metrics is scraped without a token. The
counters' bookkeeping is also checked over a real SQLite ledger in process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from agent_fixtures import AgentProcess, free_port, make_version
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ttsops.bundle import Manifest
from ttsops.init import InitOptions, plan_files
from ttsops.registry import EventKind, Ledger, Registry
from ttsops.rollout.metrics import EventTally
from ttsops.server.gpu import GpuSample, register_gpu_metrics
from ttsops.settings import load_settings
from ttsops.testing import ServerProcess

pytestmark = pytest.mark.slow


def _samples(text: str) -> dict[str, list[Any]]:
    """Sample name → its samples, from a Prometheus text exposition."""
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    matching = [
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return float(matching[0])


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Iterator[AgentProcess]:
    """An agent that made joe 1.0.0 live, then rolled back a broken 1.2.0 by itself."""
    root = tmp_path_factory.mktemp("agent-metrics")
    home = root / "home"
    broken = make_version(joe_bundle, root / "v120", "1.2.0", garbage_model=True)
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        registry.register(joe_bundle)
        registry.register(broken)
    process = AgentProcess(home)
    try:
        process.start()
        for version, state in (("1.0.0", "live"), ("1.2.0", "rolled_back")):
            made = process.api("POST", "/v1/deployments", json={"version": version})
            done = process.wait_terminal(made["id"])
            assert done["state"] == state, (done, process.log()[-3000:])
        yield process
    finally:
        process.close()


@pytest.fixture(scope="module")
def agent_scrape(agent: AgentProcess) -> dict[str, list[Any]]:
    """The agent's /metrics, fetched with no token."""
    reply = httpx.get(f"{agent.url}/metrics", timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return _samples(reply.text)


def test_metrics_show_the_live_version_its_slot_and_the_automatic_rollback(
    agent_scrape: dict[str, list[Any]],
) -> None:
    """Live 1.0.0 at 100% and ready; 1.2.0 rolled back by the agent, counted and alerted."""
    s = agent_scrape
    assert _value(s, "ttsops_agent_live_version_info", version="1.0.0") == 1
    (weight,) = [w for w in s["ttsops_agent_slot_weight"] if w.labels["version"] == "1.0.0"]
    assert weight.value == 100
    assert _value(s, "ttsops_agent_slot_ready", slot=weight.labels["slot"], state="ready") == 1
    assert _value(s, "ttsops_agent_deployment_phase", version="1.2.0", phase="rolled_back") == 1
    assert _value(s, "ttsops_agent_deployment_phase", version="1.2.0", phase="live") == 0
    assert _value(s, "ttsops_agent_deployment_active") == 0
    assert _value(s, "ttsops_agent_canary_weight") == 0
    assert _value(s, "ttsops_agent_rollbacks_total", trigger="deployment") == 1
    assert _value(s, "ttsops_agent_rollbacks_total", trigger="manual") == 0
    assert _value(s, "ttsops_agent_alerts_total", kind="deployment.rolled_back") == 1
    assert _value(s, "ttsops_agent_patrol_enabled") == 1


def test_targets_name_the_slots_for_prometheus(agent: AgentProcess) -> None:
    """/metrics/targets (no token) lists the live slot; its /metrics is a real replica's."""
    groups = httpx.get(f"{agent.url}/metrics/targets", timeout=30).json()
    live = [g for g in groups if g["labels"]["version"] == "1.0.0"]
    assert len(live) == 1 and live[0]["labels"]["slot"] in ("blue", "green")
    (target,) = live[0]["targets"]
    assert target.startswith("127.0.0.1:")
    slot = _samples(httpx.get(f"http://{target}/metrics", timeout=30).text)
    assert _value(slot, "ttsops_model_info", version="1.0.0") == 1


def test_metrics_routes_are_in_the_openapi_schema_without_a_token(agent: AgentProcess) -> None:
    """/metrics and /metrics/targets are documented, with no security; /v1/status has one."""
    spec = httpx.get(f"{agent.url}/openapi.json", timeout=30).json()
    for path in ("/metrics", "/metrics/targets"):
        operation = spec["paths"][path]["get"]
        assert "security" not in operation, path
        assert "500" in operation["responses"]
    assert spec["paths"]["/v1/status"]["get"]["security"]
    assert httpx.get(f"{agent.url}/v1/status", timeout=30).status_code == 401


def test_a_real_prometheus_finds_the_slots_and_loads_the_rules(
    agent: AgentProcess, tmp_path: Path
) -> None:
    """The written config, run by a real Prometheus: the agent and the live slot (found
    through /metrics/targets) are scraped, the series carry slot labels, the rules load."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("no prometheus binary (scripts/system-deps.sh installs it)")
    files = {
        f.path: f.text for f in plan_files(InitOptions(monitoring=True, agent_port=agent.port))
    }
    for name in ("prometheus.yml", "ttsops-alerts.yml"):
        text = files[f"deploy/prometheus/{name}"]
        # The test scrapes every second instead of every 15 s; nothing else changes.
        text = text.replace("interval: 15s", "interval: 1s")
        (tmp_path / name).write_text(text)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        found: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(found) < 2:
            time.sleep(0.5)
            try:
                query = "ttsops_model_info or ttsops_agent_live_version_info"
                result = httpx.get(f"{api}/query", params={"query": query}, timeout=5).json()
            except httpx.HTTPError:
                continue
            for series in result.get("data", {}).get("result", []):
                found[series["metric"]["job"]] = series["metric"]
        assert set(found) == {"ttsops-agent", "ttsops-slots"}, (
            tmp_path / "prometheus.log"
        ).read_text()
        assert found["ttsops-slots"]["version"] == "1.0.0"
        assert found["ttsops-slots"]["slot"] in ("blue", "green")
        groups = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 9
        assert {r["health"] for r in rules} <= {"ok", "unknown"}
    finally:
        proc.terminate()
        proc.wait(30)


_NAME = re.compile(r"\b(ttsops_[a-z0-9_]+|up)\b(?!\s*[(=~!])")


def _names_used() -> set[str]:
    """Every metric name in the alert rules and the dashboard `ttsops init` writes."""
    files = {f.path: f.text for f in plan_files(InitOptions(monitoring=True))}
    rules = yaml.safe_load(files["deploy/prometheus/ttsops-alerts.yml"])
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = yaml.safe_load(files["deploy/grafana/ttsops-dashboard.json"])
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {m.group(1) for e in exprs for m in _NAME.finditer(e)}


def test_rules_and_dashboard_use_only_exported_metrics(
    agent_scrape: dict[str, list[Any]], joe_server: ServerProcess
) -> None:
    """Each name is in a real scrape: a slot (`ttsops serve` of joe), the agent, or the
    GPU gauges (from a fake NVML: no GPU exists here); `up` is Prometheus' own."""
    reply = httpx.post(
        f"{joe_server.url}/v1/audio/speech",
        json={"model": "joe", "input": "Hello.", "voice": "joe", "response_format": "wav"},
        timeout=60,
    )
    assert reply.status_code == 200
    server = _samples(httpx.get(f"{joe_server.url}/metrics", timeout=30).text)

    class _OneGpu:
        def samples(self) -> list[GpuSample]:
            return [GpuSample(0, "NVIDIA L4", 0.5, 0.1, 1, 2)]

    gpu_registry = CollectorRegistry()
    register_gpu_metrics(gpu_registry, nvml=_OneGpu())
    gpu = _samples(generate_latest(gpu_registry).decode())
    exported = {*server, *agent_scrape, *gpu, "up"}
    used = _names_used()
    assert {"ttsops_requests_total", "ttsops_agent_rollbacks_total"} <= used
    assert used - exported == set()


def test_counters_come_from_the_ledger_and_survive_a_restart(tmp_path: Path) -> None:
    """Analyses, rollbacks and alerts are counted from the ledger's events, incrementally,
    and a fresh tally (an agent started again) reads the same totals."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        verdict = {"outcome": "fail", "checks": [{"name": "error_rate", "outcome": "fail"}]}
        ledger.append_event(EventKind.CANARY_ANALYSIS, "w1", data={"verdict": verdict})
        ledger.append_event(EventKind.ALERT, "a1", data={"kind": "deployment.rolled_back"})
        tally = EventTally()
        tally.update(ledger)
        assert tally.analyses["fail"] == 1 and tally.analyses["pass"] == 0
        assert tally.checks[("error_rate", "fail")] == 1
        assert tally.rollbacks == {"deployment": 1, "patrol": 0, "manual": 0}
        heal = {"kind": "patrol.failed", "details": {"heal": "rollback to 1.0.0 (deployment #3)"}}
        ledger.append_event(EventKind.ALERT, "a2", data=heal)
        restart = {"kind": "patrol.failed", "details": {"heal": "restart 1.1.0 in a fresh slot"}}
        ledger.append_event(EventKind.ALERT, "a3", data=restart)
        for actor in ("ci@runner", "patrol"):
            created = {"strategy": "rollback", "reason": None}
            ledger.append_event(EventKind.DEPLOYMENT_CREATED, "d", data=created, actor=actor)
        tally.update(ledger)
        assert tally.rollbacks == {"deployment": 1, "patrol": 1, "manual": 1}
        assert tally.alerts["patrol.failed"] == 2
        again = EventTally()
        again.update(ledger)
        assert (again.rollbacks, again.analyses, again.alerts) == (
            tally.rollbacks,
            tally.analyses,
            tally.alerts,
        )
    finally:
        ledger.close()


def test_a_canary_in_flight_shows_its_weight_and_phase(
    tmp_path: Path, joe_manifest: Manifest
) -> None:
    """In process (ASGI) over a real SQLite ledger: a canary at its 10% step is active, at
    weight 10, in phase canary; the controller loop does not run, so nothing moves it."""
    from fastapi.testclient import TestClient

    from ttsops.rollout import Agent, Phase, start, transition
    from ttsops.rollout.api import create_agent_app
    from ttsops.settings import Settings

    agent = Agent(Settings(home=tmp_path))
    try:
        agent.ledger.add_version(joe_manifest, manifest_sha256="0" * 64)
        rollout = start(agent.ledger, "1.0.0", "canary", reason=None, actor="test")
        rollout = transition(agent.ledger, rollout, Phase.STARTING, slot="green")
        transition(agent.ledger, rollout, Phase.CANARY, steps=(10, 50, 100), step=0)
        with TestClient(create_agent_app(agent, "t0ken", run_loop=False)) as client:
            s = _samples(client.get("/metrics").text)
        assert _value(s, "ttsops_agent_canary_weight") == 10
        assert _value(s, "ttsops_agent_deployment_active") == 1
        assert _value(s, "ttsops_agent_deployment_phase", phase="canary", strategy="canary") == 1
        assert "ttsops_agent_live_version_info" not in s  # nothing is live yet
    finally:
        agent.close()
