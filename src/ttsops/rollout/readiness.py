"""Readiness of a service slot: a background prober that writes what it found in the slot dir.

A team's own server has no ``/readyz`` ttsops can trust: it is ready when it speaks. A
``ReadinessProber`` per slot (started when the slot starts, and when a restarted agent
adopts it) runs one real synthesis through the version's speaker
(``ttsops.speech.ready.check_ready``) every ``[ready] interval_s`` until one passes or
``start_timeout_s`` has passed since the slot started, and writes the outcome to the slot's
``ready.json``::

    {"state": "starting", "owner": "pid 4242", "reason": "did not answer: connection refused"}
    {"state": "ready", "owner": "pid 4242"}
    {"state": "failed", "owner": "pid 4242", "reason": "not ready within 30 s: answered …"}

``owner`` ties the marker to the process (or container) it is about, so a marker left by
an earlier one is never read as this one's. ``status()`` only reads the marker (and, once
ready, checks cheaply that the process lives and its port takes connections): it never
synthesizes. The state machine is the pure ``advance``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ttsops.rollout.procs import write_atomic

if TYPE_CHECKING:
    from ttsops.service.manifest import ServiceManifest

__all__ = ["MARKER", "Marker", "ReadinessProber", "advance", "port_open", "read_marker"]

log = logging.getLogger("ttsops.agent")

MARKER = "ready.json"
"""File in a slot dir where its prober writes the slot's readiness."""


@dataclass(frozen=True)
class Marker:
    """What the prober found of one slot's process (or container)."""

    state: str
    """``starting``, ``ready`` or ``failed``."""

    owner: str
    """The process (``pid 4242``) or container (``container 3f2a…``) it is about."""

    reason: str = ""
    """Why it is not ready (the last check's answer), or why it failed."""


def advance(
    owner: str, started_at: float, now: float, timeout_s: float, answer: str | None
) -> Marker:
    """The marker after one readiness check that answered ``answer`` (None: it spoke).

    Ready as soon as one check passes; failed once ``timeout_s`` has passed since the slot
    started without one passing, naming the last answer; else still starting.
    """
    if answer is None:
        return Marker("ready", owner)
    if now - started_at >= timeout_s:
        return Marker("failed", owner, f"not ready within {timeout_s:g} s: {answer}")
    return Marker("starting", owner, answer)


def read_marker(slot_dir: Path, owner: str) -> Marker | None:
    """The slot's marker when it is about ``owner``; None when there is none (or a stale one)."""
    try:
        raw = json.loads((slot_dir / MARKER).read_text())
        found = Marker(str(raw["state"]), str(raw["owner"]), str(raw.get("reason", "")))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return found if found.owner == owner else None


def write_marker(slot_dir: Path, marker: Marker) -> None:
    """Write ``marker`` atomically into the slot dir."""
    write_atomic(slot_dir / MARKER, json.dumps(asdict(marker)))


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class ReadinessProber:
    """One background thread per slot that proves readiness by a real synthesis."""

    def __init__(self) -> None:
        """No slot is probed until ``ensure`` is called for it."""
        self._threads: dict[str, tuple[str, threading.Thread, threading.Event]] = {}
        self._timeouts: dict[str, float] = {}
        self._lock = threading.Lock()

    def timeout_of(self, slot_dir: Path) -> float | None:
        """The start timeout of the service probed in ``slot_dir``, if one is."""
        with self._lock:
            return self._timeouts.get(str(slot_dir))

    def ensure(
        self,
        slot_dir: Path,
        owner: str,
        *,
        service: ServiceManifest,
        version_dir: Path,
        port: int,
        started_at: float,
        alive: Callable[[], bool],
    ) -> None:
        """Probe ``slot_dir``'s ``owner`` unless a marker says it is settled or it is probed."""
        found = read_marker(slot_dir, owner)
        if found is not None and found.state != "starting":
            return
        key = str(slot_dir)
        with self._lock:
            running = self._threads.get(key)
            if running is not None and running[0] == owner and running[1].is_alive():
                return
            if running is not None:
                running[2].set()
            if found is None:
                write_marker(slot_dir, Marker("starting", owner))
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run,
                args=(slot_dir, owner, service, version_dir, port, started_at, alive, stop),
                name=f"ready-{slot_dir.name}",
                daemon=True,
            )
            self._threads[key] = (owner, thread, stop)
            self._timeouts[key] = service.start_timeout_s
            thread.start()

    def forget(self, slot_dir: Path) -> None:
        """Stop probing ``slot_dir`` (its slot is being stopped)."""
        with self._lock:
            running = self._threads.pop(str(slot_dir), None)
            self._timeouts.pop(str(slot_dir), None)
        if running is not None:
            running[2].set()

    def _run(
        self,
        slot_dir: Path,
        owner: str,
        service: ServiceManifest,
        version_dir: Path,
        port: int,
        started_at: float,
        alive: Callable[[], bool],
        stop: threading.Event,
    ) -> None:
        from ttsops.service.speakers import speaker_for
        from ttsops.speech.ready import check_ready

        ready = service.ready
        # One check may not outlast the start timeout by much: a hung service fails in time.
        timeout = max(5.0, min(service.speech.timeout_s, service.start_timeout_s))
        speaker = speaker_for(version_dir, f"http://127.0.0.1:{port}", timeout_s=timeout)
        try:
            while not stop.is_set() and alive():
                try:
                    answer = check_ready(speaker, ready)
                except Exception as exc:  # noqa: BLE001 - a check that crashes is an answer
                    answer = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                if stop.is_set() or not alive():
                    return  # stopped or exited meanwhile: status() says so, not the marker
                marker = advance(owner, started_at, time.time(), service.start_timeout_s, answer)
                write_marker(slot_dir, marker)
                if marker.state != "starting":
                    log.info("slot %s: %s %s", slot_dir.name, marker.state, marker.reason)
                    return
                stop.wait(ready.interval_s)
        finally:
            with contextlib.suppress(Exception):
                speaker.close()
