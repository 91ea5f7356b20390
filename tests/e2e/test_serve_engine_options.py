"""`ttsops serve --seed / --solo-threads`: the options reach the engine, bad values exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ttsops.testing import ServerProcess

TEXT = "The quick brown fox jumps over the lazy dog. It was a bright cold day in April."


def test_serve_seed_makes_unseeded_requests_repeat(joe_bundle: Path) -> None:
    """With `--seed`, two requests naming no seed get the same audio bytes."""
    body = {"model": "joe", "input": TEXT, "voice": "joe", "response_format": "wav"}
    with ServerProcess(joe_bundle, ["--seed", "9", "--solo-threads", "0", "--no-ui"]) as server:
        replies = [
            httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=60) for _ in range(2)
        ]
    assert [r.status_code for r in replies] == [200, 200]
    assert len(replies[0].content) > 10_000
    assert replies[0].content == replies[1].content


@pytest.mark.parametrize(
    ("option", "value"), [("--solo-threads", "-1"), ("--seed", "-5"), ("--threads", "0")]
)
def test_serve_refuses_bad_thread_and_seed_values(
    joe_bundle: Path, option: str, value: str
) -> None:
    """A negative thread count or seed is a usage error (exit 2) naming the option."""
    result = subprocess.run(
        [sys.executable, "-m", "ttsops", "serve", "--bundle", str(joe_bundle), option, value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert option in result.stderr
    assert "Traceback" not in result.stderr
