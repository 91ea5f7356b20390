"""The batch's journals: ``results.jsonl`` (what is done) and ``failed.jsonl`` (what is not).

``results.jsonl`` is the source of truth for resuming. A line is appended, flushed and
fsynced only after the audio file is in its final place, so after a crash (kill -9, power
loss) every line names a file that was complete when the line was written. Reading it back
ignores a torn last line; a task counts as done only if its file still has the recorded
sha256 (the caller checks), so anything lost since is simply made again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ttsops.batch.tasks import Task
from ttsops.errors import BatchError

__all__ = ["Done", "FailedLog", "ResultRecord", "ResultsLog", "now_iso", "task_key"]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def task_key(task: Task, voice: str) -> str:
    """Hash of everything that shapes the audio, so a changed line is made again on resume."""
    canonical = json.dumps(
        [
            task.input_text,
            voice,
            task.speed,
            task.response_format,
            task.sample_rate,
            task.prompt_audio,
            *([task.prompt_text] if task.prompt_text else []),
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ResultRecord:
    """One line of ``results.jsonl``: a finished file and how it was made."""

    output_name: str
    """The task's output name as given."""

    path: str
    """The file, relative to the output directory (or the zip's root)."""

    line: int
    """Line of the tasks file the task came from (in the run that made it)."""

    sha256: str
    """Hex sha256 of the file's bytes."""

    bytes: int
    """File size."""

    duration_s: float
    """Length of the audio in seconds."""

    response_format: str
    """Audio format."""

    sample_rate: int
    """Sample rate of the file."""

    voice: str
    """Voice that spoke it."""

    speed: float
    """Speaking rate."""

    model_version: str | None
    """``name@version`` of the model that made it (``X-TTSOps-Version``)."""

    model_digest: str | None
    """Digest of that model's bundle (``X-TTSOps-Digest``)."""

    latency_s: float
    """Seconds from sending the successful request to having the audio."""

    attempts: int
    """Requests it took (1 when no retry was needed); in parts, the most one part took."""

    task_key: str
    """Hash of text, voice, speed, format, rate and prompt; a change means make it again."""

    parts: int = 1
    """Requests its text was cut into, at sentence boundaries, to fit the server's limit."""

    finished_at: str = field(default_factory=now_iso)
    """When the file was written (UTC)."""

    extra: dict[str, Any] = field(default_factory=dict)
    """The task line's own extra fields."""

    def to_json(self) -> str:
        """The record as one JSON line (no newline)."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Done:
    """What resuming needs to know of a finished file."""

    sha256: str
    """Recorded sha256 of the file."""

    task_key: str
    """Recorded ``task_key`` of the task that made it."""

    offset: int
    """Byte offset of its latest line in ``results.jsonl``."""


class ResultsLog:
    """``results.jsonl``: read on open, then appended one fsynced line per finished task."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, Done] = {}
        self.superseded = 0
        self._fd: int | None = None
        self._size = 0
        self._lock = threading.Lock()

    def open(self) -> dict[str, Done]:
        """Load what earlier runs finished (dropping a torn last line) and open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        good_end = 0
        with open(self.path, "rb") as handle:  # noqa: PTH123 - same API as os.open above
            offset = 0
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # torn by a crash mid-write: the task is simply made again
                self._load_line(raw, offset)
                offset += len(raw)
                good_end = offset
        if os.fstat(self._fd).st_size != good_end:
            os.ftruncate(self._fd, good_end)
        self._size = good_end
        return self.done

    def _load_line(self, raw: bytes, offset: int) -> None:
        try:
            data = json.loads(raw)
            entry = Done(str(data["sha256"]), str(data["task_key"]), offset)
            path = str(data["path"])
        except (ValueError, KeyError, TypeError):
            self.superseded += 1  # unreadable line: compaction drops it
            return
        if path in self.done:
            self.superseded += 1
        self.done[path] = entry

    def append(self, record: ResultRecord) -> None:
        """Append ``record`` durably (write, fsync); safe from several threads."""
        data = (record.to_json() + "\n").encode()
        with self._lock:
            if self._fd is None:
                raise BatchError(f"{self.path} is not open; call open() first")
            if record.path in self.done:
                self.superseded += 1
            os.write(self._fd, data)
            os.fsync(self._fd)
            self.done[record.path] = Done(record.sha256, record.task_key, self._size)
            self._size += len(data)

    def latest(self) -> Iterator[dict[str, Any]]:
        """Stream the latest record of each path, in file order."""
        with self.path.open("rb") as handle:
            offset = 0
            for raw in handle:
                here, offset = offset, offset + len(raw)
                try:
                    data = json.loads(raw)
                    current = self.done.get(str(data["path"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if current is not None and current.offset == here:
                    yield data

    def compact(self) -> None:
        """Rewrite the file with one line per path (the latest), if any line was superseded."""
        if not self.superseded:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        done: dict[str, Done] = {}
        size = 0
        with tmp.open("wb") as out:
            for data in self.latest():
                raw = (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                done[str(data["path"])] = Done(str(data["sha256"]), str(data["task_key"]), size)
                out.write(raw)
                size += len(raw)
            out.flush()
            os.fsync(out.fileno())
        with self._lock:
            self.close()
            tmp.replace(self.path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            self.done, self._size, self.superseded = done, size, 0

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FailedLog:
    """``failed.jsonl``: the lines of this run that made no audio, and why (rewritten per run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", encoding="utf-8")

    def add(
        self,
        line: int,
        output_name: str | None,
        stage: str,
        error: str,
        code: str,
        attempts: int = 0,
    ) -> None:
        """Record one task or line that failed, flushed at once."""
        entry = {
            "line": line,
            "output_name": output_name,
            "stage": stage,
            "code": code,
            "error": error,
            "attempts": attempts,
            "at": now_iso(),
        }
        with self._lock:
            self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._handle.flush()
            self.count += 1

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
