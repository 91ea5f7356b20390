"""`ttsops release` of a Gradio ``app.py`` run by command in its own venv (glmapp), end to end.

One agent with the process runtime serves the module: glmapp 1.0.0 is released first (no
gate), then 1.1.0 through the gate and a two-step canary to live, while a thread calls
``/synthesize`` through the router with a reference clip uploaded first (the app's
``prompt_audio``), and a real Chromium session presses Synthesize on the app's page through
the router every few seconds. Every call and press is traced to its version by the slot
the router names. Then a batch whose lines carry ``prompt_audio`` goes through the router
with the version's own adapter (``ttsops batch --version``): each clip is uploaded as a
file to the app.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_fixtures import AgentProcess

try:
    from service_fixtures import (
        REFERENCE_TEXT,
        BuiltFixture,
        glmapp_python,  # noqa: F401 - fixture
        glmapp_reference,  # noqa: F401 - fixture
        glmapp_service,
    )
    from service_load import BrowserPresser, GradioApiLoad, SlotBook, upload
    from service_release_kit import (
        PROCESS_CONFIG,
        press_while,
        release,
        release_cmd,
        release_env,
        service_home,
        traced,
    )
except ImportError as exc:  # helper B's fixtures not landed yet
    MISSING = str(exc)
else:
    MISSING = ""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # a cold build of the venv takes minutes
    pytest.mark.skipif(bool(MISSING), reason=f"service fixtures missing: {MISSING}"),
]


@pytest.fixture(scope="module")
def glm(
    tmp_path_factory: pytest.TempPathFactory, glmapp_python: BuiltFixture
) -> Iterator[tuple[AgentProcess, Path]]:
    """An agent of the process runtime with glmapp 1.0.0 released; the root for versions."""
    root = tmp_path_factory.mktemp("glmapp")
    agent = service_home(root, PROCESS_CONFIG)
    try:
        agent.start()
        first = glmapp_service(root, "1.0.0", python=glmapp_python.ref)
        code, data, log = release(agent, str(first), "--version", "1.0.0")
        assert code == 0 and data["outcome"] == "live", log
        yield agent, root
    finally:
        agent.close()


def test_a_command_app_is_released_through_gate_and_canary_under_upload_and_browser_load(
    glm: tuple[AgentProcess, Path],
    glmapp_python: BuiltFixture,
    glmapp_reference: Path,
    browser: Any,
    tmp_path: Path,
) -> None:
    """glmapp 1.1.0 (its own venv, a command): gate PASS, canary, live; no API call with an
    uploaded clip and no press failed; both versions answered, each traced by its slot."""
    agent, root = glm
    service = glmapp_service(root, "1.1.0", python=glmapp_python.ref)

    def with_clip(text: str, client: httpx.Client) -> list[Any]:
        return [text, upload(client, glmapp_reference), REFERENCE_TEXT]

    presser = BrowserPresser(browser, f"{agent.public_url}/", button="Synthesize")
    try:
        with (
            SlotBook(lambda: agent.api("GET", "/v1/status")) as book,
            GradioApiLoad(agent.public_url, data=with_clip, pause_s=0.5, max_s=1800) as load,
            (tmp_path / "out").open("w") as out,
            (tmp_path / "err").open("w") as err,
        ):
            proc = subprocess.Popen(
                release_cmd(str(service), "--version", "1.1.0"),
                env=release_env(agent), cwd=agent.home, stdout=out, stderr=err,
            )  # fmt: skip
            press_while(presser, lambda: proc.poll() is None)
            proc.wait(timeout=60)
    finally:
        presser.close()
    assert proc.returncode == 0, (tmp_path / "err").read_text() + agent.log()[-3000:]
    data = json.loads((tmp_path / "out").read_text())
    assert data["outcome"] == "live" and data["gate"]["verdict"] == "pass", data
    assert load.calls and load.failures() == [], load.failures()[:5]
    assert presser.presses and presser.failures() == [], presser.failures()
    assert traced(book, [c.slot for c in load.calls if c.slot]) == {"1.0.0", "1.1.0"}
    assert traced(book, {s for p in presser.presses for s in p.slots}) <= {"1.0.0", "1.1.0"}
    (live,) = [s for s in agent.api("GET", "/v1/status")["slots"] if s["weight"] == 100]
    assert (live["version"], live["kind"], live["container"]) == ("1.1.0", "service", None)
    assert live["pid"] and "app.py" in live["runs"]


def test_a_batch_with_prompt_audio_goes_through_the_router_to_the_app(
    glm: tuple[AgentProcess, Path], glmapp_reference: Path, tmp_path: Path
) -> None:
    """`ttsops batch --server ROUTER --version 1.1.0`: the version's Gradio adapter uploads
    each line's clip; every line is audio made by glmapp@1.1.0, a bad clip fails alone."""
    agent, _ = glm
    (tmp_path / "me.wav").write_bytes(glmapp_reference.read_bytes())
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    lines = [
        {
            "input_text": f"Line {i} in my voice.",
            "output_name": f"l{i}",
            "prompt_audio": "me.wav",
            "prompt_text": REFERENCE_TEXT,
        }
        for i in range(3)
    ]
    lines += [
        {"input_text": "Plain.", "output_name": "plain"},
        {"input_text": "Broken clip.", "output_name": "bad", "prompt_audio": "bad.wav"},
    ]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "batch", str(tasks), "--out", str(tmp_path / "out"),
         "--server", agent.public_url, "--version", "1.1.0", "--retries", "1", "--json",
         "--quiet"],
        env={**agent.env, "COLUMNS": "200"}, cwd=agent.home, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert (summary["done"], summary["failed"]) == (4, 1)
    rows = [json.loads(r) for r in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["model_version"] for r in rows} == {"glmapp@1.1.0"}
    assert all(r["duration_s"] > 0.5 for r in rows)
    (failed,) = [
        json.loads(r) for r in (tmp_path / "out" / "failed.jsonl").read_text().splitlines()
    ]
    assert failed["output_name"] == "bad" and failed["attempts"] == 1, failed
