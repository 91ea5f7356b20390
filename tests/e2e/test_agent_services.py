"""The agent runs a team's own TTS service: command services through real nginx, end to end.

Every version here is a *service* (``service.toml`` with a ``[command]``), a black box to the
agent: two that wrap a real ``ttsops serve`` of joe (1.0.0 and 1.1.0, OpenAI protocol), and
three that fail in the ways real services do: one crashes on load, one answers HTTP but no
speech (``python -m http.server``), one answers silence (``tests/data/silent_service.py``).
Readiness is a real synthesis through each version's speaker; the canary counts the service
slots' real traffic from nginx's upstream log and probes them through their speakers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_fixtures import AgentProcess, Listener, LoadGenerator, make_version

from ttsops.service import ServiceManifest

pytestmark = pytest.mark.slow

QUIET = "quiet"
"""The file whose existence makes version 1.5.0 go silent."""

CONFIG = """
[canary]
steps = [50, 100]
step_interval_s = 6
watch_s = 4
min_requests = 3
probes_per_window = 3
min_scored = 3
max_latency_ratio = 3.0  # a busy test host slows a fresh slot; latency is not judged here
[patrol]
interval_s = 1
failures = 3
timeout_s = 20
webhook_url = "{webhook}"
"""

SILENT = Path(__file__).parent.parent / "data" / "silent_service.py"
CRASH = "import sys; print('model file missing', flush=True); sys.exit(3)"


def _service(root: Path, **fields: Any) -> ServiceManifest:
    base = {"name": "joesvc", "languages": ["en-US"], "sample_rate": 22050}
    return ServiceManifest.model_validate({**base, **fields})


def _serving(root: Path, bundle: Path) -> ServiceManifest:
    """A command service that is ``ttsops serve`` of ``bundle`` on its slot's port."""
    argv = [
        sys.executable, "-m", "ttsops", "serve", "--bundle", str(bundle),
        "--host", "127.0.0.1", "--port", "{port}", "--no-ui",
    ]  # fmt: skip
    command = {"argv": argv, "env": {"TTSOPS_HOME": str(root / "svc-home")}}
    return _service(root, command=command, start_timeout_s=90, ready={"interval_s": 0.5})


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """The webhook receiver of the module's agent."""
    found = Listener()
    yield found
    found.close()


@pytest.fixture(scope="module")
def agent(
    tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path, listener: Listener
) -> Iterator[AgentProcess]:
    """An agent with the service version 1.0.0 live and the others registered."""
    root = tmp_path_factory.mktemp("services")
    home = root / "home"
    home.mkdir()
    (home / "ttsops.toml").write_text(CONFIG.replace("{webhook}", listener.url))
    newer = make_version(joe_bundle, root / "joe-1.1.0", "1.1.0")
    silent_speech = {"protocol": "http", "path": "/tts", "json_body": '{"text": {{ text|tojson }}}'}
    web = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    versions = {
        "1.0.0": _serving(root, joe_bundle),
        "1.1.0": _serving(root, newer),
        "1.2.0": _service(root, command={"argv": [sys.executable, "-c", CRASH]}),
        "1.3.0": _service(root, command={"argv": web}, start_timeout_s=3),
        "1.4.0": _service(
            root, command={"argv": [sys.executable, str(SILENT), "{port}"]},
            speech=silent_speech, start_timeout_s=3, ready={"interval_s": 0.3},
        ),
        "1.5.0": _service(
            root, speech=silent_speech, start_timeout_s=20, ready={"interval_s": 0.3},
            command={"argv": [sys.executable, str(SILENT), "{port}", "--tone-until",
                              str(root / QUIET)]},
        ),
    }  # fmt: skip
    for version, manifest in versions.items():  # as a team would: ttsops register
        where = root / "services" / version
        where.mkdir(parents=True)
        (where / "service.toml").write_text(manifest.to_toml())
        subprocess.run(
            [sys.executable, "-m", "ttsops", "register", str(where), "--version", version],
            env={**os.environ, "TTSOPS_HOME": str(home)}, check=True, capture_output=True,
        )  # fmt: skip
    process = AgentProcess(home)
    try:
        process.start()
        first = process.api("POST", "/v1/deployments", json={"version": "1.0.0"})
        done = process.wait_terminal(first["id"], timeout_s=150)
        assert done["state"] == "live", (done["reason"], process.log()[-3000:])
        yield process
    finally:
        process.close()


def _live_slot(agent: AgentProcess) -> dict[str, Any]:
    status = agent.api("GET", "/v1/status")
    (slot,) = [s for s in status["slots"] if s["weight"] == 100]
    return slot


def test_a_service_canary_goes_live_under_load_and_every_answer_is_traceable(
    agent: AgentProcess,
) -> None:
    """1.0.0 → 1.1.0 in two analysed steps under API load: no request fails, each answer
    names the version that made it, and the canary's windows count what nginx sent it."""
    with LoadGenerator(agent.public_url, max_s=150) as load:
        created = agent.api(
            "POST", "/v1/deployments", json={"version": "1.1.0", "strategy": "canary"}
        )
        done = agent.wait_terminal(created["id"], timeout_s=200)
    assert done["state"] == "live", (done["reason"], agent.log()[-3000:])
    assert load.shots and load.failures() == []
    assert {s.version for s in load.shots} == {"joe@1.0.0", "joe@1.1.0"}
    events = agent.api("GET", f"/v1/deployments/{done['id']}/events")
    analyses = [e["data"] for e in events if e["kind"] == "canary.analysis"]
    assert [a["weight"] for a in analyses if a["action"] == "advance"][:1] == [50]
    first = analyses[0]
    # More requests than the probes: the users' requests nginx sent each slot are counted.
    assert first["canary"]["requests"] > 3 and first["stable"]["requests"] > 3
    assert first["canary"]["errors"] == 0 and len(first["canary"]["ovrl"]) >= 3
    status = agent.api("GET", "/v1/status")
    assert status["live_version"] == "1.1.0" and status["public_ready"] is True
    live = _live_slot(agent)
    assert live["kind"] == "service" and "ttsops serve" in live["runs"]


def test_a_restarted_agent_adopts_the_running_service_slots(agent: AgentProcess) -> None:
    """kill -9 the agent: its service slots keep serving, the new agent adopts them, and its
    dashboard shows the live slot as a service with its command."""
    before = _live_slot(agent)
    agent.kill()
    agent.start()
    after = _live_slot(agent)
    assert (after["pid"], after["state"], after["version"]) == (before["pid"], "ready", "1.1.0")
    now = agent.api("GET", "/dashboard/api/now")  # the dashboard shows what the slot runs
    (shown,) = [s for s in now["slots"] if s["weight"] == 100]
    assert shown["kind"] == "service" and "ttsops serve" in shown["runs"]


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("1.2.0", ["failed to start: exited with code 3: model file missing"]),
        ("1.3.0", ["not ready within 3 s", "501"]),
        ("1.4.0", ["not ready within 3 s: answered 2.0 s of silence"]),
    ],
    ids=["crashes-on-load", "answers-no-speech", "answers-silence"],
)
def test_a_failing_service_version_is_rolled_back_saying_why(
    agent: AgentProcess, version: str, says: list[str]
) -> None:
    """Each bad version is rolled back with its own reason; 1.1.0 keeps all the traffic."""
    created = agent.api("POST", "/v1/deployments", json={"version": version})
    done = agent.wait_terminal(created["id"], timeout_s=120)
    assert done["state"] == "rolled_back", (done["reason"], agent.log()[-3000:])
    for words in says:
        assert words in done["reason"], done["reason"]
    status = agent.api("GET", "/v1/status")
    assert status["live_version"] == "1.1.0"
    assert [s["version"] for s in status["slots"] if s["weight"] == 100] == ["1.1.0"]
    assert version not in {s["version"] for s in status["slots"]}


def test_the_patrol_catches_a_live_service_gone_silent_and_rolls_it_back(
    agent: AgentProcess, listener: Listener
) -> None:
    """1.5.0 speaks (a tone) and goes live, then answers silence: the patrol probes it in its
    own protocol through the router, and three silent answers roll it back to 1.1.0."""
    created = agent.api("POST", "/v1/deployments", json={"version": "1.5.0"})
    done = agent.wait_terminal(created["id"])
    assert done["state"] == "live", (done["reason"], agent.log()[-3000:])
    (agent.home.parent / QUIET).touch()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = agent.api("GET", "/v1/status")
        if status["live_version"] == "1.1.0" and status["active_deployment"] is None:
            break
        time.sleep(0.5)
    assert status["live_version"] == "1.1.0", agent.log()[-3000:]
    (alert,) = [body for body in listener.bodies if body["kind"] == "patrol.failed"]
    assert alert["version"] == "1.5.0" and "answered 2.0 s of silence" in alert["reason"]
    assert alert["details"]["heal"].startswith("rollback to 1.1.0")
