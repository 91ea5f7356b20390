"""Helpers for tests and benchmarks: real processes at the seams, never fakes of the parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import numpy as np

from ttsops.engines.base import AudioChunk, Reference, join_chunks
from ttsops.engines.text import split_text
from ttsops.errors import ReferenceNotSupportedError

__all__ = ["LoadGenerator", "ScriptedEngine", "ServerProcess", "Shot"]


class ScriptedEngine:
    """A fake at the Engine seam for pool tests: a tone per piece, with scripted delays.

    Real-voice behaviour is tested against the real Piper engine; this one exists to drive
    the pool's admission, cancellation and limits deterministically and fast.
    """

    supports_prompt_audio = False

    def __init__(
        self,
        piece_s: float = 0.01,
        seconds_per_char: float = 0.06,
        sample_rate: int = 16000,
        *,
        prompt_audio: bool = False,
    ) -> None:
        self.supports_prompt_audio = prompt_audio
        self.piece_s = piece_s
        self.seconds_per_char = seconds_per_char
        self.sample_rate = sample_rate
        self.voices: tuple[str, ...] = ("tone",)
        self.pieces_done = 0
        self.seeds: list[int | None] = []
        """The ``seed`` of every ``stream`` call, in order (what the pool passed on)."""
        self.references: list[Reference | None] = []
        """The ``reference`` of every ``stream`` call, in order."""

    def stream(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> Iterator[AudioChunk]:
        """One sine tone per piece of text, after ``piece_s`` of pretend work."""
        if reference is not None and not self.supports_prompt_audio:
            raise ReferenceNotSupportedError("the scripted engine cannot use a reference voice")
        self.seeds.append(seed)
        self.references.append(reference)
        for piece in split_text(text):
            time.sleep(self.piece_s)
            n = int(len(piece) * self.seconds_per_char / speed * self.sample_rate)
            tone = 0.3 * np.sin(np.arange(n, dtype=np.float32) * 0.06)
            self.pieces_done += 1
            yield AudioChunk(tone.astype(np.float32), self.sample_rate, piece)

    def synthesize(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> AudioChunk:
        """All pieces joined."""
        pieces = self.stream(text, voice, speed, seed=seed, reference=reference)
        return join_chunks(pieces, self.sample_rate, text)


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
        # a home of its own unless the caller names one: reference voices a test registers
        # must not land in the user's ~/.ttsops
        self.env.setdefault("TTSOPS_HOME", str(Path(self._tmp.name) / "home"))
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


@dataclass(frozen=True)
class Shot:
    """One request of a ``LoadGenerator``."""

    started: float
    """Wall-clock time it was sent."""

    ended: float
    """Wall-clock time its answer ended (or it failed)."""

    status: int
    """200 for a complete WAV answer; else the HTTP status, or 0 when the connection failed
    or a 200 body was cut or not audio."""

    version: str | None
    """``X-TTSOps-Version`` of the answer: which model spoke."""

    error: str = ""
    """What went wrong, for a failed request."""


DEFAULT_TEXTS = ("Hello there.", "The quick brown fox jumps over the lazy dog.")


class LoadGenerator:
    """Bounded speech load: a few threads, at most ``max_requests`` requests and ``max_s``.

    Each request opens a fresh connection (no keep-alive across a router reload) and reads
    the whole streamed body, so a cut stream counts as a failure. Traffic goes only where
    ``url`` points (tests, the demo and the benches use 127.0.0.1).
    """

    def __init__(
        self,
        url: str,
        *,
        texts: Sequence[str] = DEFAULT_TEXTS,
        threads: int = 2,
        pause_s: float = 0.0,
        max_requests: int = 3000,
        max_s: float = 180.0,
        timeout_s: float = 90.0,
    ) -> None:
        """Send ``texts`` in turn to ``url``/v1/audio/speech from ``threads`` threads."""
        self.url = url
        self.texts = list(texts)
        self.threads = threads
        self.pause_s = pause_s
        self.max_requests = max_requests
        self.max_s = max_s
        self.timeout_s = timeout_s
        self.shots: list[Shot] = []
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> LoadGenerator:
        deadline = time.monotonic() + self.max_s
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n, deadline), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout_s)

    def _run(self, n: int, deadline: float) -> None:
        sent = n
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if len(self.shots) >= self.max_requests:
                    return
            text = self.texts[sent % len(self.texts)]
            sent += self.threads
            shot = self._shoot(text)
            with self._lock:
                self.shots.append(shot)
            self._stop.wait(self.pause_s)

    def _shoot(self, text: str) -> Shot:
        started = time.time()
        try:
            with (
                httpx.Client(timeout=self.timeout_s) as client,
                client.stream(
                    "POST",
                    f"{self.url}/v1/audio/speech",
                    json={"input": text, "response_format": "wav"},
                ) as reply,
            ):
                body = reply.read()
        except httpx.HTTPError as exc:
            return Shot(started, time.time(), 0, None, f"{type(exc).__name__}: {exc}")
        ok = reply.status_code == 200 and body[:4] == b"RIFF" and len(body) > 1000
        status = 200 if ok else (0 if reply.status_code == 200 else reply.status_code)
        error = "" if ok else body[:200].decode(errors="replace")
        return Shot(started, time.time(), status, reply.headers.get("x-ttsops-version"), error)

    def failures(self) -> list[Shot]:
        """Requests that did not get a complete 200 answer."""
        with self._lock:
            return [s for s in self.shots if s.status != 200]

    def tally(self, since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        """Requests started in ``[since, until)``: total, ok, failed, by served version."""
        with self._lock:
            mine = [s for s in self.shots if since <= s.started < until]
        failed = [s for s in mine if s.status != 200]
        by_version = Counter(s.version or "?" for s in mine if s.status == 200)
        return {
            "total": len(mine),
            "ok": len(mine) - len(failed),
            "failed": len(failed),
            "by_version": dict(sorted(by_version.items())),
            "failures": [f"{s.status} {s.error}"[:200] for s in failed[:5]],
        }
