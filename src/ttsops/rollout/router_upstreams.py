"""A slot's real traffic, counted from nginx's upstream log (for slots without ``/metrics``).

A team's own server exposes no ttsops metrics, so the canary counts what the router sent
it. nginx writes one line per request with every upstream it tried and what each
answered (``|``-separated: time, addresses, upstream statuses, final status, duration)::

    1764580000.123|127.0.0.1:40111|200|200|0.412
    1764580001.020|127.0.0.1:40222, 127.0.0.1:40111|502, 200|200|0.380

The second request failed on port 40222 (an error of that slot) and was answered by 40111
(a request of that slot). A ``LogMark`` taken when a window opens says where in the log it
began; ``count_upstream`` is the pure count over the lines since then.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogMark", "UpstreamCount", "count_upstream", "mark_log", "read_since"]


@dataclass(frozen=True)
class UpstreamCount:
    """Requests one upstream was sent, and how many of them it failed (5xx, or no answer)."""

    requests: int
    errors: int


@dataclass(frozen=True)
class LogMark:
    """Where a log stood when a window opened: its file, its size, and the time."""

    offset: int
    at: float
    inode: int = 0


def _tries(field: str) -> list[str]:
    """The items of an ``$upstream_*`` field: ``, `` between tries, `` : `` between groups."""
    return [item.strip() for group in field.split(" : ") for item in group.split(",")]


def count_upstream(lines: Iterable[str], port: int, since: float) -> UpstreamCount:
    """What the upstream ``127.0.0.1:port`` was sent at or after ``since``, from log lines."""
    address = f"127.0.0.1:{port}"
    requests = errors = 0
    for line in lines:
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue  # a line cut by a write in progress, or not ours
        try:
            at = float(parts[0])
        except ValueError:
            continue
        if at < since:
            continue
        for addr, status in zip(_tries(parts[1]), _tries(parts[2]), strict=False):
            if addr != address:
                continue
            if not status.isdigit():
                continue  # "-": the client left before this try answered
            requests += 1
            if status.startswith("5"):
                errors += 1
    return UpstreamCount(requests, errors)


def mark_log(log: Path, at: float) -> LogMark:
    """The mark of ``log`` now (size 0 when there is none yet)."""
    try:
        found = log.stat()
    except FileNotFoundError:
        return LogMark(0, at)
    return LogMark(found.st_size, at, found.st_ino)


def read_since(log: Path, mark: LogMark, port: int) -> UpstreamCount:
    """What ``port`` was sent since ``mark`` (the whole log when it was replaced since)."""
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            same = os.fstat(handle.fileno()).st_ino == mark.inode or not mark.inode
            handle.seek(mark.offset if same and size >= mark.offset else 0)
            text = handle.read().decode("ascii", errors="replace")
    except FileNotFoundError:
        return UpstreamCount(0, 0)
    return count_upstream(text.splitlines(), port, mark.at)
