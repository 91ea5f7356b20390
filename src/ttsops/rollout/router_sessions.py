"""Browser sessions through the router, from nginx's session log.

nginx writes one line when a request of a browser session (one carrying a ``ttsops_slot``
cookie that names a slot of the config) starts, and one when it ends::

    1764580000.123 start green 6f1c…
    1764580002.456 end green 6f1c…

A request that started and has not ended is open (an event stream, a long synthesis). The
agent reads this before it takes a leaving slot out of the router.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ttsops.rollout.router import SessionActivity

__all__ = ["TAIL_BYTES", "read_sessions", "sessions_by_slot"]

TAIL_BYTES = 1 << 20
"""Only the log's last MiB is read: enough for every request of a drain, bounded per tick."""


def sessions_by_slot(lines: Iterable[str]) -> dict[str, SessionActivity]:
    """Open requests and the latest activity of each slot's sessions, from log lines."""
    started: dict[str, tuple[str, float]] = {}
    ended: set[str] = set()
    last: dict[str, float] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or parts[1] not in ("start", "end"):
            continue  # a line cut by the tail, or not ours
        try:
            at = float(parts[0])
        except ValueError:
            continue
        _, what, slot, request_id = parts
        last[slot] = max(at, last.get(slot, at))
        if what == "start":
            started[request_id] = (slot, at)
        else:
            ended.add(request_id)
    open_count: dict[str, int] = {}
    for request_id, (slot, _) in started.items():
        if request_id not in ended:
            open_count[slot] = open_count.get(slot, 0) + 1
    return {slot: SessionActivity(open_count.get(slot, 0), at) for slot, at in last.items()}


def read_sessions(log: Path, slot: str) -> SessionActivity:
    """Activity of ``slot``'s sessions in the tail of ``log``; none when there is no log."""
    try:
        with log.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode("ascii", errors="replace")
    except FileNotFoundError:
        return SessionActivity(0, None)
    lines = text.splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line may start mid-line
    return sessions_by_slot(lines).get(slot, SessionActivity(0, None))
