"""What the end-to-end service release tests share: the agent's home, `ttsops release` as CI
runs it, presses of a page's button while a release runs, versions traced from slots."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_fixtures import AgentProcess
from service_load import BrowserPresser, SlotBook

from ttsops.gate import load_eval_set

__all__ = [
    "CONFIG",
    "FIVE",
    "PRESS_EVERY_S",
    "PROCESS_CONFIG",
    "press_while",
    "release",
    "release_cmd",
    "release_env",
    "service_home",
    "traced",
    "write_five",
]

FIVE = ("pangram-01", "questions-01", "numbers-04", "questions-02", "numbers-06")
"""Five short sentences of the shipped set: the fewest a verdict may rest on."""

CONFIG = """
[agent]
runtime = "container"
drain_timeout_s = 15

[agent.container]
memory = "1g"

[canary]
steps = [50, 100]
step_interval_s = 6
watch_s = 4
min_requests = 3
probes_per_window = 3
min_scored = 3
inconclusive_limit = 20

[patrol]
enabled = false

[gate]
eval_set = "{eval_set}"
workers = 1
round_size = 5
# The same voice, unseeded (a Gradio app takes no seed), on five sentences, timed while the
# test's own API and browser load share the two cores: the intervals are wide, so the limits
# are too (the gate's precision is the gate tests' business; here the release flow is).
max_ovrl_drop = 0.3
max_p808_drop = 0.3
max_rtf_ratio = 5.0
# Piper is unseeded too, so one sentence in five misheard moves WER by 0.2 either way.
max_wer_increase = 0.5

[targets.production]
agent_url = "{agent_url}"
token_env = "PROD_TOKEN"
"""

PROCESS_CONFIG = CONFIG.replace('runtime = "container"\n', "").replace(
    '[agent.container]\nmemory = "1g"\n\n', ""
)
"""The same, with slots as processes (command services)."""

PRESS_EVERY_S = 3.0
"""Pause between two presses of Speak."""


def write_five(path: Path) -> Path:
    """The five sentences as a JSONL evaluation set."""
    rows = [u for u in load_eval_set().utterances if u.id in FIVE]
    path.write_text(
        "".join(
            json.dumps({"id": u.id, "text": u.text, "reference": u.reference}) + "\n" for u in rows
        ),
        encoding="utf-8",
    )
    return path


def service_home(root: Path, config: str = CONFIG) -> AgentProcess:
    """An agent (not started) whose home has the ttsops.toml above."""
    home = root / "home"
    home.mkdir()
    agent = AgentProcess(home)
    eval_set = write_five(home / "five.jsonl")
    (home / "ttsops.toml").write_text(config.format(eval_set=eval_set, agent_url=agent.url))
    return agent


def release_cmd(*args: str) -> list[str]:
    """The argv of `ttsops release ARGS --json` as CI runs it."""
    return [sys.executable, "-m", "ttsops", "release", *args, "--json"]


def release_env(agent: AgentProcess) -> dict[str, str]:
    """CI's environment: the target's token in PROD_TOKEN only."""
    env = {k: v for k, v in agent.env.items() if k not in ("TTSOPS_TOKEN", "TTSOPS_AGENT_URL")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env | {"PROD_TOKEN": "test-token", "COLUMNS": "200"}


def release(
    agent: AgentProcess, *args: str, timeout: float = 400
) -> tuple[int, dict[str, Any], str]:
    """Run `ttsops release ARGS --json`: exit code, its JSON, its progress (stderr)."""
    done = subprocess.run(
        release_cmd(*args),
        env=release_env(agent),
        cwd=agent.home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        data = {}
    return done.returncode, data, done.stderr + agent.log()[-3000:]


def press_while(presser: BrowserPresser, running: Any, until_s: float = 600) -> None:
    """Press Speak every few seconds while ``running()`` is true."""
    deadline = time.monotonic() + until_s
    while running() and time.monotonic() < deadline:
        presser.step()
        time.sleep(PRESS_EVERY_S)


def traced(book: SlotBook, slots: list[str] | set[str]) -> set[str | None]:
    """The versions the slots that answered ran."""
    return {book.version(s) for s in slots if s}
