"""Running a batch: stream tasks, skip what is done, synthesize the rest concurrently with retries.

The main thread reads the tasks file line by line and hands each task to a pool of
``concurrency`` threads; it blocks when all are busy, so only ``concurrency`` tasks are in
memory at once. A task is done when its file is in place and its line is in
``results.jsonl``; a rerun with the same command skips exactly those, so a batch killed at
any moment resumes with nothing lost and nothing made twice.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from ttsops.batch.client import Audio, Backend, BackendInfo, TaskError
from ttsops.batch.parts import join_parts, pack, smaller_limit
from ttsops.batch.references import clip_path
from ttsops.batch.results import FailedLog, ResultRecord, ResultsLog, task_key
from ttsops.batch.sinks import Sink
from ttsops.batch.summary import BatchSummary
from ttsops.batch.tasks import BadLine, Task, TaskDefaults, count_lines, read_tasks
from ttsops.errors import BatchError

__all__ = [
    "BatchOptions",
    "Reporter",
    "default_concurrency",
    "run_batch",
]

_FATAL_ERRNO = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch."""

    concurrency: int | None = None
    """Tasks in flight at once; ``None`` picks ``default_concurrency`` of the backend."""

    retries: int = 6
    """Extra attempts for a task after a retryable failure (503, timeout, connection)."""

    max_backoff_s: float = 30.0
    """Longest wait between two attempts; waits grow 0.5 s, 1 s, 2 s… up to this."""

    breaker: int | None = None
    """Retryable failures in a row that stop the batch; default ``max(8, 2 × concurrency)``."""

    defaults: TaskDefaults = field(default_factory=TaskDefaults)
    """Values for fields a task line leaves out."""


class Reporter(Protocol):
    """Receives progress while a batch runs (the CLI draws a progress bar)."""

    def start(self, summary: BatchSummary) -> None:
        """The batch is about to start; ``summary.total`` is known."""
        ...

    def update(self, summary: BatchSummary) -> None:
        """A task or line was dealt with."""
        ...

    def problem(self, line: int, output_name: str | None, message: str) -> None:
        """A line was bad or a task failed."""
        ...


def default_concurrency(info: BackendInfo) -> int:
    """Pool size plus one waiting request per worker (capped by the queue), so no worker idles."""
    return max(1, info.workers + min(info.workers, info.queue_size))


def run_batch(
    tasks_file: Path,
    backend: Backend,
    sink: Sink,
    options: BatchOptions | None = None,
    reporter: Reporter | None = None,
) -> BatchSummary:
    """Make every task of ``tasks_file`` not already done; return what happened."""
    options = options or BatchOptions()
    if not tasks_file.is_file():
        raise BatchError(
            f"tasks file {tasks_file} does not exist or is not a file; pass a JSONL file with "
            'one object a line such as {"input_text": "Hello.", "output_name": "hello"}'
        )
    if options.concurrency is not None and options.concurrency < 1:
        raise BatchError(
            f"--concurrency {options.concurrency} is not a positive number; use 1 or more, or "
            "leave it out to match the server's pool size"
        )
    if options.retries < 0:
        raise BatchError(f"--retries {options.retries} is negative; use 0 or more")
    info = backend.info()
    summary = BatchSummary(tasks_file, sink.location, sink.results_path, sink.failed_path)
    summary.where = info.where
    summary.concurrency = options.concurrency or default_concurrency(info)
    summary.total = count_lines(tasks_file)
    start = time.monotonic()
    sink.open()
    results = ResultsLog(sink.results_path)
    try:
        results.open()
        failed = FailedLog(sink.failed_path)
        try:
            _Run(backend, info, sink, results, failed, options, summary, reporter).execute()
        finally:
            failed.close()
        results.compact()
        sink.finish(results.latest())
    finally:
        results.close()
        sink.close()
        summary.wall_s = time.monotonic() - start
    return summary


class _StoppedError(Exception):
    """The batch is stopping; a task waiting to retry gives up without an answer."""


class _Run:
    """One run's state, shared by the reading thread and the workers."""

    def __init__(
        self,
        backend: Backend,
        info: BackendInfo,
        sink: Sink,
        results: ResultsLog,
        failed: FailedLog,
        options: BatchOptions,
        summary: BatchSummary,
        reporter: Reporter | None,
    ) -> None:
        self.backend, self.info, self.sink = backend, info, sink
        self.results, self.failed, self.options = results, failed, options
        self.summary, self.reporter = summary, reporter
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_a_row = 0
        self.max_chars = info.max_input_chars  # lowered when the server answers 413
        self.breaker = options.breaker or max(8, 2 * summary.concurrency)
        self._backoff = wait_exponential_jitter(
            multiplier=0.5, max=options.max_backoff_s, jitter=0.5
        )

    def execute(self) -> None:
        """Read the tasks and keep ``concurrency`` of them in flight until the file ends."""
        summary = self.summary
        if self.reporter:
            self.reporter.start(summary)
        slots = threading.Semaphore(summary.concurrency)
        with ThreadPoolExecutor(summary.concurrency, thread_name_prefix="ttsops-batch") as pool:
            try:
                for item in read_tasks(summary.tasks_file, self.options.defaults):
                    if self.stop.is_set():
                        break
                    if isinstance(item, BadLine):
                        self._bad_line(item)
                        continue
                    voice = item.voice or self.info.voices[0]
                    key = task_key(item, voice)
                    if self._already_done(item, key):
                        continue
                    slots.acquire()
                    if self.stop.is_set():
                        slots.release()
                        break
                    future = pool.submit(self._one, item, voice, key)
                    future.add_done_callback(lambda _f: slots.release())
            except BaseException:
                self.stop.set()  # Ctrl-C: tasks waiting to retry give up; in flight ones finish
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _already_done(self, task: Task, key: str) -> bool:
        previous = self.results.done.get(task.path)
        if previous is None or previous.task_key != key:
            return False
        if not self.sink.has(task.path, previous.sha256):
            return False
        with self.lock:
            self.summary.skipped += 1
        self._update()
        return True

    def _bad_line(self, bad: BadLine) -> None:
        self.failed.add(bad.line, bad.output_name, "parse", bad.reason, "bad_line")
        with self.lock:
            self.summary.bad_lines += 1
        if self.reporter:
            self.reporter.problem(bad.line, bad.output_name, bad.reason)
        self._update()

    def _update(self) -> None:
        if self.reporter:
            self.reporter.update(self.summary)

    def _one(self, task: Task, voice: str, key: str) -> None:
        try:
            self._make(task, voice, key)
        except _StoppedError:
            pass  # not recorded anywhere: the next run makes it
        except TaskError as exc:
            self._task_failed(task, exc, "synthesis")
        except OSError as exc:
            if exc.errno in _FATAL_ERRNO:
                self._halt(f"cannot write {self.sink.location}: {exc.strerror}; fix it and rerun")
            else:
                error = TaskError(f"cannot write {task.path}: {exc.strerror or exc}", "write")
                self._task_failed(task, error, "write")
        except Exception as exc:  # noqa: BLE001 - a bug must not hang the batch; stop it, say why
            self._halt(f"unexpected {type(exc).__name__} on line {task.line}: {exc}")
        self._update()

    def _make(self, task: Task, voice: str, key: str) -> None:
        if task.prompt_audio is not None:
            if not self.info.supports_prompt_audio:
                raise TaskError(
                    f"prompt_audio given, but model {self.info.version} cannot use a reference "
                    "voice (its engine neither clones nor matches voices); remove prompt_audio "
                    "from the line or use a version that can (kokoro matches voices)",
                    "prompt_audio_unsupported",
                )
            clip = clip_path(task.prompt_audio, self.summary.tasks_file)
            task = dataclasses.replace(task, prompt_audio=str(clip))
        audio, attempts, parts = self._speak(task, voice)
        self.sink.write(task.path, audio.data)
        record = ResultRecord(
            output_name=task.output_name,
            path=task.path,
            line=task.line,
            sha256=_sha256(audio.data),
            bytes=len(audio.data),
            duration_s=round(audio.duration_s, 4),
            response_format=task.response_format,
            sample_rate=audio.sample_rate,
            voice=voice,
            speed=task.speed,
            model_version=audio.model_version,
            model_digest=audio.model_digest,
            latency_s=round(audio.latency_s, 4),
            attempts=attempts,
            task_key=key,
            parts=parts,
            extra=task.extra,
        )
        self.results.append(record)
        with self.lock:
            self.summary.done += 1
            self.summary.audio_s += audio.duration_s
            self.summary.model_versions[audio.model_version or "unknown"] += 1
            self.in_a_row = 0

    def _speak(self, task: Task, voice: str) -> tuple[Audio, int, int]:
        """The task's audio, the most attempts one request took, and how many parts it was.

        Text longer than the server accepts is made in parts (``ttsops.batch.parts``). A 413
        means the limit is lower than thought: it is lowered for the rest of the batch and
        the task is cut again. Parts spoken by two versions (a rollout between them) are
        made again once, whole.
        """
        again_if_mixed = True
        while True:
            limit = self.max_chars
            try:
                if limit is None or len(task.input_text) <= limit:
                    audio, attempts = self._request(task, voice)
                    return audio, attempts, 1
                return self._in_parts(task, voice, limit)
            except TaskError as exc:
                if exc.code == "mixed_versions" and again_if_mixed:
                    again_if_mixed = False
                    continue
                if exc.code != "input_too_long":
                    raise
                tried = len(task.input_text) if limit is None else min(limit, len(task.input_text))
                lower = smaller_limit(exc, tried)  # raises when no part size would do
                with self.lock:
                    self.max_chars = lower if self.max_chars is None else min(self.max_chars, lower)

    def _in_parts(self, task: Task, voice: str, limit: int) -> tuple[Audio, int, int]:
        texts = pack(task.input_text, limit)
        audios: list[Audio] = []
        most = 1
        for text in texts:
            if self.stop.is_set():
                raise _StoppedError
            # Raw pcm at the model's own rate (named: the server's pcm default is 24 kHz),
            # joined, then encoded once into the task's format and rate.
            part = dataclasses.replace(
                task, input_text=text, response_format="pcm", sample_rate=self.info.sample_rate
            )
            audio, attempts = self._request(part, voice)
            audios.append(audio)
            most = max(most, attempts)
        return join_parts(task, audios, self.info.sample_rate), most, len(texts)

    def _request(self, task: Task, voice: str) -> tuple[Audio, int]:
        """One synthesis with retries; the audio and the attempts it took."""
        retrying = Retrying(
            stop=stop_after_attempt(self.options.retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, TaskError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            audio: Audio = retrying(self.backend.synthesize, task, voice)
        except TaskError as exc:
            exc.attempts = int(retrying.statistics.get("attempt_number", 1))
            raise
        finally:
            attempts = int(retrying.statistics.get("attempt_number", 1))
            with self.lock:
                self.summary.retried += attempts - 1
        return audio, attempts

    def _task_failed(self, task: Task, exc: TaskError, stage: str) -> None:
        attempts = exc.attempts
        message = f"{exc.message} (after {attempts} attempts)" if attempts > 1 else exc.message
        self.failed.add(task.line, task.output_name, stage, message, exc.code, attempts)
        with self.lock:
            self.summary.failed += 1
            self.in_a_row = self.in_a_row + 1 if exc.retryable else 0
            trip = self.in_a_row >= self.breaker
        if self.reporter:
            self.reporter.problem(task.line, task.output_name, message)
        if trip:
            self._halt(
                f"{self.in_a_row} tasks in a row failed after retries (last: {exc.message}); "
                f"{self.info.where} looks down. Bring it back and rerun the same command to "
                "resume"
            )

    def _halt(self, reason: str) -> None:
        with self.lock:
            if self.summary.stopped is None:
                self.summary.stopped = reason
        self.stop.set()

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter, but never shorter than the server's Retry-After."""
        backoff = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TaskError) and exc.retry_after:
            return max(backoff, min(exc.retry_after, self.options.max_backoff_s))
        return backoff

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise _StoppedError


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
