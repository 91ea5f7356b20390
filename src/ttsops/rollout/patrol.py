"""Patrol: a real short synthesis through the router on a schedule, alarming on a streak.

Health checks say a process is up; only a synthesis says it speaks. The patrol counts
consecutive failed probes and raises one alarm when the streak reaches its threshold;
what to do about it (restart the slot, or roll back a version that just went live) is
``heal_action``'s pure decision, carried out by the agent.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from ttsops.rollout.runtime import SlotInfo
    from ttsops.speech import Speaker

__all__ = [
    "Patrol",
    "PatrolState",
    "heal_action",
    "probe_speaker",
    "probe_speech",
    "with_slot_death",
]

log = logging.getLogger("ttsops.agent")


def probe_speech(
    base_url: str, text: str, *, timeout_s: float, voice: str | None = None
) -> str | None:
    """Synthesize ``text`` as WAV at ``base_url``; None when real audio came back, else why not.

    The reason is one line: ``HTTP 503: …``, ``timed out after 30 s``, ``connection
    refused``, ``empty audio``, ``unreadable audio: …``. Never raises.
    """
    body: dict[str, Any] = {"input": text, "response_format": "wav"}
    if voice is not None:
        body["voice"] = voice
    url = f"{base_url.rstrip('/')}/v1/audio/speech"
    try:
        response = httpx.post(url, json=body, timeout=timeout_s)
    except httpx.TimeoutException:
        return f"timed out after {timeout_s:g} s"
    except httpx.ConnectError as exc:
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
    except httpx.HTTPError as exc:
        return _one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if response.status_code != 200:
        return _one_line(f"HTTP {response.status_code}: {_error_message(response)}")
    return _check_wav(response.content)


def probe_speaker(speaker: Speaker, text: str, *, voice: str | None = None) -> str | None:
    """Synthesize ``text`` through a service's ``speaker``; None when it spoke, else why not.

    The probe of a live *service* version (its own protocol, through the router): an error
    the service answered, no answer, or audio that is silence all fail it. Never raises.
    """
    from ttsops.speech import SpeechRequest, is_silent

    try:
        speech = speaker.speak(SpeechRequest(text, voice=voice))
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the probe's reason
        return _one_line(str(exc) or type(exc).__name__)
    if speech.samples.size == 0:
        return "empty audio"
    if is_silent(speech.samples):
        return f"answered {speech.duration_s:.1f} s of silence"
    return None


def with_slot_death(reason: str, slot: SlotInfo | None) -> str:
    """A failed probe's reason, led by why the live slot died when it did (``exited``).

    A container the kernel killed at its memory limit says "out of memory" there, so the
    alert and the healing deployment's reason name the cause, not only the symptom.
    """
    if slot is None or slot.state != "exited":
        return reason
    return _one_line(f"slot {slot.slot} ({slot.version}) is down, {slot.detail}; probe: {reason}")


def _check_wav(data: bytes) -> str | None:
    if not data:
        return "empty audio"
    import soundfile as sf

    try:
        samples, _rate = sf.read(io.BytesIO(data), dtype="float32")
    except Exception as exc:  # noqa: BLE001 - libsndfile raises its own errors on bad input
        return _one_line(f"unreadable audio ({len(data)} bytes): {exc}")
    if len(samples) == 0:
        return "empty audio"
    return None


def _error_message(response: httpx.Response) -> str:
    """The ``error.message`` of a JSON error body, else the body's start."""
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text or response.reason_phrase


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class PatrolState:
    """Where the patrol stands after its latest check."""

    consecutive_failures: int
    """Failed probes in a row, up to now; 0 after a success."""

    last_reason: str | None
    """Why the latest probe failed; None when it passed or none ran yet."""

    last_check_at: float | None
    """When the latest probe finished (the patrol's clock); None before the first."""

    last_ok_at: float | None
    """When a probe last passed; None if none has."""

    checks: int
    """Probes run in all."""

    alarms: int
    """Alarms raised in all (one per streak that reached the threshold)."""


class Patrol:
    """Runs ``probe`` every ``interval_s`` and calls ``on_alarm`` once per failing streak.

    ``probe`` returns None when the service is fine, else a one-line reason; an exception
    it raises counts as a failure. When ``failures`` probes in a row fail, ``on_alarm``
    gets their reasons, once; it is not called again until a passing probe ends the streak.
    """

    def __init__(
        self,
        probe: Callable[[], str | None],
        *,
        interval_s: float,
        failures: int,
        on_alarm: Callable[[list[str]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures={failures}: the alarm threshold must be 1 or more")
        if not interval_s > 0:
            raise ValueError(f"interval_s={interval_s}: the probe interval must be above 0")
        self.probe = probe
        self.interval_s = interval_s
        self.failures = failures
        self.on_alarm = on_alarm
        self.clock = clock
        self._lock = threading.Lock()
        self._streak: list[str] = []
        self._alarmed = False
        self._state = PatrolState(0, None, None, None, 0, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> PatrolState:
        """The counters after the latest check."""
        with self._lock:
            return self._state

    def check(self) -> PatrolState:
        """Run one probe, count it, and raise the alarm if this failure completes a streak."""
        try:
            reason = self.probe()
        except Exception as exc:  # noqa: BLE001 - a probe that crashes is a failed probe
            reason = _one_line(f"probe raised {type(exc).__name__}: {exc}")
        now = self.clock()
        alarm: list[str] | None = None
        with self._lock:
            old = self._state
            if reason is None:
                self._streak.clear()
                self._alarmed = False
                self._state = PatrolState(0, None, now, now, old.checks + 1, old.alarms)
            else:
                # Only the reasons of the streak up to the alarm are kept: that is what is sent.
                if len(self._streak) < self.failures:
                    self._streak.append(reason)
                failed = old.consecutive_failures + 1
                alarms = old.alarms
                if failed >= self.failures and not self._alarmed:
                    self._alarmed = True
                    alarms += 1
                    alarm = list(self._streak)
                self._state = PatrolState(
                    failed, reason, now, old.last_ok_at, old.checks + 1, alarms
                )
            state = self._state
        if alarm is not None:
            log.warning("patrol: %d probes in a row failed; last: %s", len(alarm), alarm[-1])
            try:
                self.on_alarm(alarm)
            except Exception:
                log.exception("patrol: the alarm handler failed")
        return state

    def start(self) -> None:
        """Check every ``interval_s`` in a daemon thread (the first check after one interval)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ttsops-patrol", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread: at once between checks; a probe in flight may finish on its own."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # check catches the probe's and handler's; this is a last guard
                log.exception("patrol: a check failed")


def heal_action(
    live_for_s: float | None, recent_s: float, has_previous: bool
) -> Literal["rollback", "restart"]:
    """``rollback`` when the live version went live under ``recent_s`` ago and a previous
    stable version exists; else ``restart`` (the version has served well: blame the process).
    """
    if live_for_s is not None and live_for_s < recent_s and has_previous:
        return "rollback"
    return "restart"
