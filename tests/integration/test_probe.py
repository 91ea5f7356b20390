"""`ttsops probe URL`: a real synthesis decides health, in one line and an exit code."""

from __future__ import annotations

import socket
import subprocess
import sys

from ttsops.testing import ServerProcess


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ttsops", "probe", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_speaking_server_passes(joe_server: ServerProcess) -> None:
    """joe speaks the sentence: exit 0 and one line naming the audio and the version."""
    done = _probe(joe_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ok: ") and "joe@1.0.0" in lines[0]


def test_audio_shorter_than_the_threshold_fails(joe_server: ServerProcess) -> None:
    """A sentence cannot give a minute of audio: exit 1, one line saying how much came."""
    done = _probe(joe_server.url, "--min-seconds", "60")
    assert done.returncode == 1
    assert done.stdout.startswith("fail: ") and "under the 60.00 s" in done.stdout


def test_nothing_listening_fails() -> None:
    """A port nobody listens on: exit 1 with the URL, no traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _probe(f"http://127.0.0.1:{port}", "--timeout", "5")
    assert done.returncode == 1
    assert done.stdout.startswith(f"fail: http://127.0.0.1:{port}/v1/audio/speech")
    assert "Traceback" not in done.stderr
