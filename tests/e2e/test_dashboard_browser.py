"""The release dashboard in a real headless Chromium, against a real agent, nginx and slots.

One agent serves the module (short canary steps, as the demo's): joe 1.0.0 live, 1.1.0 (1%
perturbed) to canary, and 1.3.0 (50% perturbed) gated against 1.0.0 by a real `ttsops gate`
run on five sentences while the canary runs, so its report has both takes of every
sentence. The browser signs in with the agent's token, watches the canary's weight and
windows live, promotes it, rolls back, is refused without the token, and plays a gate
report's audio. Each page is saved as a screenshot at 1280×800 and on a phone viewport
(to ``$TTSOPS_ARTIFACTS``, default a pytest temp dir).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_fixtures import AgentProcess

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.gate import load_eval_set
from ttsops.registry import Registry
from ttsops.settings import load_settings

pytestmark = pytest.mark.slow

CONFIG = """
[canary]
steps = [10, 50, 100]
step_interval_s = 6
watch_s = 900               # promoted to 100%, it waits in the watch window for the page
min_requests = 2
probes_per_window = 2
min_scored = 2
min_latency_slack_s = 0.5
# A busy test machine repeats a thin or slow window rather than roll the good canary back:
inconclusive_limit = 10
failure_limits = { error_rate = 0, latency_p95 = 5, audio_quality = 5 }
[patrol]
interval_s = 10
[gate]
eval_set = "{eval_set}"
workers = 2
"""

SENTENCES = ("short-01", "questions-01", "pangram-01", "questions-02", "punctuation-02")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
WAIT_MS = 300_000


def _ttsops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTSOPS_", "AWS_"))}
    env.update(TTSOPS_HOME=str(home), COLUMNS="250", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$TTSOPS_ARTIFACTS`` or a temp dir."""
    given = os.environ.get("TTSOPS_ARTIFACTS")
    out = Path(given) if given else tmp_path_factory.mktemp("dashboard-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path) -> Path:
    """A home with 1.0.0, 1.1.0 (1% perturbed) and 1.3.0 (50% perturbed) registered."""
    root = tmp_path_factory.mktemp("dashboard")
    home = root / "home"
    home.mkdir()
    lines = [
        json.dumps({"id": u.id, "text": u.text, "reference": u.reference})
        for u in load_eval_set().utterances
        if u.id in SENTENCES
    ]
    (root / "five.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (home / "ttsops.toml").write_text(CONFIG.replace("{eval_set}", str(root / "five.jsonl")))
    derive_bundle(
        joe_bundle, root / "good", version="1.1.0", recipe=DeriveRecipe(perturb_sigma=0.01)
    )
    derive_bundle(
        joe_bundle, root / "noisy", version="1.3.0", recipe=DeriveRecipe(perturb_sigma=0.5)
    )
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        for bundle in (joe_bundle, root / "good", root / "noisy"):
            registry.register(bundle)
    return home


@pytest.fixture(scope="module")
def agent(home: Path) -> Iterator[AgentProcess]:
    """The module's agent, 1.0.0 live."""
    process = AgentProcess(home)
    try:
        process.start()
        first = process.api("POST", "/v1/deployments", json={"version": "1.0.0"})
        assert process.wait_terminal(first["id"])["state"] == "live", process.log()[-3000:]
        yield process
    finally:
        process.close()


@pytest.fixture(scope="module")
def gate(home: Path, agent: AgentProcess) -> Iterator[subprocess.Popen[bytes]]:
    """`ttsops gate 1.3.0 --baseline 1.0.0 --report DIR --json`, started once 1.0.0 is live."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTSOPS_", "AWS_"))}
    command = [sys.executable, "-m", "ttsops", "gate", "1.3.0", "--baseline", "1.0.0"]
    with (home / "gate.json").open("wb") as out, (home / "gate.log").open("wb") as err:
        running = subprocess.Popen(
            [*command, "--report", str(home.parent / "report"), "--json"],
            cwd=home,
            env={**env, "TTSOPS_HOME": str(home)},
            stdout=out,
            stderr=err,
        )
    try:
        yield running
    finally:
        if running.poll() is None:
            running.kill()
        running.wait()


@pytest.fixture(scope="module")
def report_id(home: Path, gate: subprocess.Popen[bytes]) -> int:
    """The gate of 1.3.0, finished, recorded in the ledger."""
    gate.wait(timeout=600)
    assert gate.returncode in (0, 1), (home / "gate.log").read_text()[-3000:]
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(home)})) as registry:
        (report,) = registry.ledger.gate_reports("1.3.0")
    printed = json.loads((home / "gate.json").read_text())
    assert printed["verdict"]["outcome"] == report.verdict.value
    return report.id


def _open(browser: Any, url: str, viewport: str = "desktop") -> tuple[Any, Any]:
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    page.goto(url)
    return context, page


def _sign_in(page: Any, name: str = "ana") -> None:
    page.fill("#login input[name=name]", name)
    page.fill("#login input[name=token]", "test-token")
    page.click("#login button")
    page.wait_for_selector("#whoami:not([hidden])")


def _until(page: Any, agent: AgentProcess, deployment_id: int, condition: str) -> None:
    """Wait until the page's JS ``condition`` holds; fail at once if the deployment ended."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not page.evaluate(condition):
        found = agent.api("GET", f"/v1/deployments/{deployment_id}")
        assert not found["terminal"], f"#{deployment_id} ended {found['state']}: {found['reason']}"
        assert time.monotonic() < deadline, (
            f"never {condition}: {found['phase']}, {found['reason']}"
        )
        page.wait_for_timeout(500)


def _shoot(page: Any, name: str, artifacts: Path) -> list[Path]:
    """Screenshots of ``page`` at both viewports (it is left at the desktop one); their paths."""
    saved = []
    for viewport, size in [*VIEWPORTS.items()][::-1]:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # let the layout settle at the new width
        path = artifacts / f"{name}-{viewport}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    return saved


_WATCH = """() => {
    window.seenWeights = [];
    window.seenWindows = 0;
    new MutationObserver(() => {
        const weight = document.getElementById("weight")?.textContent;
        if (weight && window.seenWeights.at(-1) !== weight) window.seenWeights.push(weight);
        const rows = document.querySelectorAll("table.windows tr.window").length;
        window.seenWindows = Math.max(window.seenWindows, rows);
    }).observe(document.getElementById("flight"), {childList: true, subtree: true});
}"""
"""Records every weight the page shows and the most analysis windows it listed."""


def test_the_live_page_follows_a_canary_and_promotes_it(
    agent: AgentProcess, gate: subprocess.Popen[bytes], browser: Any, artifacts: Path
) -> None:
    """The page shows the weight rise 10% → 50% → 100% and windows appear; Promote ends it."""
    context, page = _open(browser, f"{agent.url}/dashboard/")
    try:
        _sign_in(page)
        page.evaluate(_WATCH)
        created = agent.api(
            "POST", "/v1/deployments", json={"version": "1.1.0", "strategy": "canary"}
        )
        _until(
            page, agent, created["id"], "document.getElementById('weight')?.textContent === '100'"
        )
        seen = page.evaluate("window.seenWeights")
        assert seen[0] == "10" and seen[-1] == "100" and seen == sorted(seen, key=int)
        points = page.locator("[data-chart=weight] circle.point")
        assert [points.nth(i).get_attribute("data-value") for i in range(3)] == ["10", "50", "100"]
        assert page.locator("[data-chart=errors] circle.point").count() >= 4  # both slots
        assert "watch window at 100%" in (page.text_content("#next") or "")
        shots = _shoot(page, "now-canary", artifacts)
        page.fill("#promote-form input[name=reason]", "sounds right to me")
        page.click("#promote-form button")
        page.wait_for_selector("#message:not(.error):has-text('promoted')")
        done = agent.wait_terminal(created["id"])
    finally:
        context.close()
    assert done["state"] == "live", agent.log()[-3000:]
    assert done["reason"] == "promoted by ana@dashboard: sounds right to me"
    assert agent.api("GET", "/v1/status")["live_version"] == "1.1.0"
    assert all(path.stat().st_size > 0 for path in shots)


def test_actions_without_the_token_are_refused(agent: AgentProcess, browser: Any) -> None:
    """Not signed in, Roll back is refused (401) and the page says why; nothing changes."""
    before = agent.api("GET", "/v1/deployments?limit=1")[0]["id"]
    context, page = _open(browser, f"{agent.url}/dashboard/")
    try:
        page.fill("#rollback-form input[name=reason]", "I have no token")
        page.click("#rollback-form button")
        page.wait_for_selector("#message.error")
        message = page.text_content("#message") or ""
    finally:
        context.close()
    assert "HTTP 401" in message and "not signed in" in message
    wrong = httpx.post(
        f"{agent.public_url}/_ttsops/dashboard/api/rollback",
        json={"reason": "guess"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert wrong.status_code == 401
    context, page = _open(browser, f"{agent.url}/dashboard/")
    try:
        _sign_in(page, "mallory")
        (cookie,) = context.cookies()
    finally:
        context.close()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "test-token" not in cookie["value"]
    forged = httpx.post(  # the cookie alone, without the dashboard page's header, is refused
        f"{agent.url}/dashboard/api/rollback",
        json={"reason": "cross-site"},
        cookies={cookie["name"]: cookie["value"]},
    )
    assert forged.status_code == 403
    assert agent.api("GET", "/v1/deployments?limit=1")[0]["id"] == before


def test_a_rollback_from_the_page_switches_the_router_and_is_in_history(
    agent: AgentProcess, browser: Any, home: Path, artifacts: Path
) -> None:
    """Roll back on the router's dashboard: it serves 1.0.0, `ttsops history` says who and why."""
    served = httpx.post(f"{agent.public_url}/v1/audio/speech", json={"input": "Hi."}, timeout=60)
    assert served.headers["X-TTSOps-Version"] == "joe@1.1.0"
    context, page = _open(browser, f"{agent.public_url}/_ttsops/dashboard/")
    try:
        _sign_in(page, "bob")
        page.fill("#rollback-form input[name=reason]", "listeners hear clicks")
        page.click("#rollback-form button")
        page.wait_for_selector("#message:not(.error):has-text('rollback to 1.0.0')")
        rollback = agent.api("GET", "/v1/deployments?limit=1")[0]
        assert agent.wait_terminal(rollback["id"])["state"] == "live"
    finally:
        context.close()
    served = httpx.post(f"{agent.public_url}/v1/audio/speech", json={"input": "Hi."}, timeout=60)
    assert served.headers["X-TTSOps-Version"] == "joe@1.0.0"
    history = _ttsops(home, "history", "--json")
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)["events"]
    assert any(
        e["actor"] == "bob@dashboard" and e["deployment_id"] == rollback["id"] for e in events
    )
    (found,) = [d for d in json.loads(history.stdout)["deployments"] if d["id"] == rollback["id"]]
    assert found["reason"] == "rollback by bob@dashboard: listeners hear clicks"
    context, page = _open(browser, f"{agent.public_url}/_ttsops/dashboard/")
    try:
        page.wait_for_selector("#slots tbody tr")
        _shoot(page, "now", artifacts)
        page.goto(f"{agent.url}/dashboard/history")
        assert page.locator(".item.rollback:has-text('listeners hear clicks')").count() == 1
        page.select_option("select[name=version]", "1.1.0")
        page.wait_for_url("**/history?version=1.1.0")
        versions = page.eval_on_selector_all(".item", "els => els.map(e => e.dataset.version)")
    finally:
        context.close()
    assert versions and set(versions) == {"1.1.0"}


def test_a_gate_report_plays_both_takes_of_the_worst_sentence(
    agent: AgentProcess, browser: Any, report_id: int, artifacts: Path
) -> None:
    """From History to the report; both takes of the first (worst) sentence play."""
    view = httpx.get(f"{agent.url}/dashboard/api/gate/{report_id}").json()
    regressions = [s["regression"] for s in view["sentences"]]
    assert len(regressions) == len(SENTENCES) and regressions == sorted(regressions, reverse=True)
    context, page = _open(browser, f"{agent.url}/dashboard/history")
    try:
        gate_item = page.locator(".item.gate:has-text('gate 1.3.0 vs 1.0.0')")
        _shoot(page, "history", artifacts)
        gate_item.locator("a.gate-link").click()
        page.wait_for_url(f"**/dashboard/gate/{report_id}")
        first = page.locator("li.sentence").first
        assert first.get_attribute("data-sentence") == view["sentences"][0]["id"]
        for role in ("candidate", "baseline"):
            audio = first.locator(f"audio[data-role={role}]")
            audio.evaluate("a => a.play()")
            page.wait_for_function(
                "a => !a.paused && a.currentTime > 0 && a.duration > 0",
                arg=audio.element_handle(),
                timeout=WAIT_MS,
            )
            audio.evaluate("a => a.pause()")
        assert page.locator("img.plot").count() >= 1
        assert page.locator("table.metrics tr.worse").count() >= 1
        _shoot(page, "gate-report", artifacts)
    finally:
        context.close()
