"""Helpers for tests and benchmarks: real processes at the seams, never fakes of the parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import httpx
import numpy as np

from ttsops.engines.base import AudioChunk
from ttsops.engines.text import split_text

__all__ = ["ScriptedEngine", "ServerProcess"]


class ScriptedEngine:
    """A fake at the Engine seam for pool tests: a tone per piece, with scripted delays.

    Real-voice behaviour is tested against the real Piper engine; this one exists to drive
    the pool's admission, cancellation and limits deterministically and fast.
    """

    supports_prompt_audio = False

    def __init__(
        self, piece_s: float = 0.01, seconds_per_char: float = 0.06, sample_rate: int = 16000
    ) -> None:
        self.piece_s = piece_s
        self.seconds_per_char = seconds_per_char
        self.sample_rate = sample_rate
        self.voices: tuple[str, ...] = ("tone",)
        self.pieces_done = 0

    def stream(self, text: str, voice: str, speed: float) -> Iterator[AudioChunk]:
        """One sine tone per piece of text, after ``piece_s`` of pretend work."""
        for piece in split_text(text):
            time.sleep(self.piece_s)
            n = int(len(piece) * self.seconds_per_char / speed * self.sample_rate)
            tone = 0.3 * np.sin(np.arange(n, dtype=np.float32) * 0.06)
            self.pieces_done += 1
            yield AudioChunk(tone.astype(np.float32), self.sample_rate, piece)

    def synthesize(self, text: str, voice: str, speed: float) -> AudioChunk:
        """All pieces joined."""
        parts = [c.samples for c in self.stream(text, voice, speed)]
        return AudioChunk(np.concatenate(parts), self.sample_rate, text)


class ServerProcess:
    """A real ``ttsops serve`` child on an ephemeral loopback port; a context manager."""

    def __init__(
        self,
        bundle_dir: Path,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 180.0,
    ) -> None:
        self.bundle_dir = bundle_dir
        self.extra_args = list(extra_args)
        self.env = {**os.environ, **(env or {})}
        self.ready_timeout_s = ready_timeout_s
        self._tmp = tempfile.TemporaryDirectory(prefix="ttsops-serve-")
        self.port_file = Path(self._tmp.name) / "port"
        self.log_path = Path(self._tmp.name) / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Start the process and wait until ``/readyz`` answers 200."""
        cmd = [
            sys.executable,
            "-m",
            "ttsops",
            "serve",
            "--bundle",
            str(self.bundle_dir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(self.port_file),
            *self.extra_args,
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Block until the server is ready, or raise with its log."""
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ttsops serve exited {self.proc.returncode}:\n{self.log()}")
            if self.port_file.is_file() and self.port_file.read_text().strip():
                self.port = int(self.port_file.read_text())
                try:
                    if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"ttsops serve not ready in {self.ready_timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the server process (by its PID)."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._tmp.cleanup()
