"""The inference pool: bounded workers, a bounded queue, readiness, and cancellation.

Each admitted request holds a place until its worker thread finishes, so the number of
syntheses in memory is bounded by ``workers + queue_size``; beyond that requests are
refused at once with 503. Work is done piece by piece (a sentence, or part of a long
one): between pieces the worker checks whether the request was cancelled (client gone,
timeout) and stops, so an abandoned request costs at most the piece in progress.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ttsops.engines.base import AudioChunk, Engine, Reference
from ttsops.errors import OverloadedError, RequestTimeoutError, TtsopsError

__all__ = ["InferencePool", "Job", "PoolState", "piece_limit_s"]

log = logging.getLogger("ttsops.server")

_DONE = object()


class PoolState(enum.StrEnum):
    """Where a replica is in its life; only ``READY`` serves."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    DRAINING = "draining"


def piece_limit_s(text: str, speed: float) -> float:
    """Most audio one piece of text may yield: about 4× a slow natural pace, plus 2 s."""
    return (len(text) * 0.3 + 2.0) / speed


@dataclass
class Job:
    """One admitted synthesis; ``cancel`` stops it between pieces."""

    text: str
    voice: str
    speed: float
    deadline: float
    cancel: threading.Event = field(default_factory=threading.Event)
    audio_s: float = 0.0
    truncated: bool = False
    started: float | None = None
    seed: int | None = None
    """Noise seed passed to the engine; None draws fresh noise."""
    reference: Reference | None = None
    """Reference clip the voice should sound like, passed to the engine; None for none."""


class InferencePool:
    """Runs syntheses on a fixed number of threads with a bounded waiting line."""

    def __init__(
        self,
        workers: int,
        queue_size: int,
        request_timeout_s: float,
        max_audio_s: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.workers = workers
        self.queue_size = queue_size
        self.request_timeout_s = request_timeout_s
        self.max_audio_s = max_audio_s
        self.engine: Engine | None = None
        self.state = PoolState.LOADING
        self.reason = "loading the model"
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tts-worker")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._idle = threading.Event()
        self._idle.set()
        self._on_change = on_change

    # -- readiness -------------------------------------------------------------------

    def set_ready(self, engine: Engine) -> None:
        """Start serving with a loaded, warmed-up engine."""
        self.engine = engine
        if self.state is PoolState.LOADING:
            self.state = PoolState.READY
            self.reason = "ready"

    def set_failed(self, reason: str) -> None:
        """Record that the model cannot serve; readiness stays 503 with this reason."""
        self.state = PoolState.FAILED
        self.reason = reason

    def begin_drain(self) -> None:
        """Refuse new work from now on; work in flight continues."""
        self.state = PoolState.DRAINING
        self.reason = "draining for shutdown"

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no admitted work remains; False if ``timeout_s`` passed first."""
        return self._idle.wait(timeout_s)

    @property
    def in_flight(self) -> int:
        """Syntheses running on a worker now."""
        return self._running

    @property
    def queued(self) -> int:
        """Admitted requests waiting for a worker."""
        return self._admitted - self._running

    # -- admission and work ----------------------------------------------------------

    def admit(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> Job:
        """Take a place for one synthesis or raise ``OverloadedError`` (503)."""
        if self.state is not PoolState.READY or self.engine is None:
            raise OverloadedError(f"server is not ready ({self.reason}); retry shortly")
        with self._lock:
            if self._admitted >= self.workers + self.queue_size:
                raise OverloadedError(
                    f"server is at capacity ({self.workers} running, {self.queue_size} queued); "
                    "retry after a second",
                    retry_after=1,
                )
            self._admitted += 1
            self._idle.clear()
        self._changed()
        return Job(
            text,
            voice,
            speed,
            deadline=time.monotonic() + self.request_timeout_s,
            seed=seed,
            reference=reference,
        )

    async def run(self, job: Job) -> AsyncGenerator[AudioChunk, None]:
        """Yield the job's audio piece by piece; closing the iterator cancels the job."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def put(item: object) -> None:
            if job.cancel.is_set():
                return  # nobody reads any more; the loop may even be gone
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # event loop closed under us
                job.cancel.set()

        self._executor.submit(self._work, job, put)
        try:
            while True:
                remaining = job.deadline - time.monotonic()
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=max(remaining, 0.001))
                except TimeoutError:
                    raise RequestTimeoutError(
                        f"synthesis took longer than the {self.request_timeout_s:g} s request "
                        "timeout; send shorter input or raise server.request_timeout_s"
                    ) from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, AudioChunk)
                yield item
        finally:
            job.cancel.set()

    def _work(self, job: Job, put: Callable[[object], None]) -> None:
        with self._lock:
            self._running += 1
        self._changed()
        job.started = time.monotonic()
        try:
            if job.cancel.is_set():
                return
            assert self.engine is not None
            for chunk in self.engine.stream(
                job.text, job.voice, job.speed, seed=job.seed, reference=job.reference
            ):
                if job.cancel.is_set():
                    log.info("request cancelled; stopped after %.1f s of audio", job.audio_s)
                    return
                put(self._bounded(job, chunk))
                if job.truncated:
                    return
        except TtsopsError as exc:
            put(exc)
        except Exception as exc:  # a worker must never die; report it instead
            log.exception("synthesis failed")
            put(TtsopsError(f"synthesis failed: {exc}"))
        finally:
            # The place is free before the caller hears the job is done: a client that sends
            # its next request as soon as this one ends must not find the server at capacity.
            with self._lock:
                self._running -= 1
                self._admitted -= 1
                if self._admitted == 0:
                    self._idle.set()
            self._changed()
            put(_DONE)

    def _bounded(self, job: Job, chunk: AudioChunk) -> AudioChunk:
        """Cap a piece at ``piece_limit_s`` and the request at ``max_audio_s``."""
        limit = min(piece_limit_s(chunk.text, job.speed), self.max_audio_s - job.audio_s)
        samples = chunk.samples
        if chunk.duration_s > limit:
            keep = max(int(limit * chunk.sample_rate), 0)
            log.warning(
                "audio cut from %.1f s to %.1f s for %r (runaway output or request limit)",
                chunk.duration_s,
                keep / chunk.sample_rate,
                chunk.text[:40],
            )
            samples = np.ascontiguousarray(samples[:keep])
            job.truncated = job.audio_s + keep / chunk.sample_rate >= self.max_audio_s
        out = AudioChunk(samples=samples, sample_rate=chunk.sample_rate, text=chunk.text)
        job.audio_s += out.duration_s
        return out

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.in_flight, self.queued)

    def shutdown(self) -> None:
        """Stop the worker threads after current work."""
        self._executor.shutdown(wait=False, cancel_futures=True)
