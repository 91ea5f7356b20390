"""Measuring a canary window: both slots' Prometheus metrics, and probe syntheses.

A window opens with a scrape of each slot's ``/metrics`` and closes with another; the
difference is what the slot did in between (real traffic and probes alike): its requests
and errors. While it is open a thread per slot sends probe syntheses straight to the
slot's port (not through the router): enough that each slot answers ``min_requests``
requests in the window even with no real traffic, and ``probes_per_window`` of them
timed and scored with DNSMOS, so the analysis always has errors, latency and audio
quality to judge. Probe texts are short sentences of the gate's evaluation set, the same
ones in the same order for both slots, which is what makes their latencies comparable.

A slot of a *service* version (a team's own server) has no ttsops ``/metrics``: its real
traffic is counted from nginx's upstream log (``router_upstreams``: the requests the router
sent to its port since the window opened, and the 5xx among them), and its probes go
through the version's own speaker (``speaker_for``); a probe that fails or answers silence
counts as an error of that slot, on top of what nginx saw.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import soundfile

from ttsops.rollout.analysis import Scrape, Window, parse_scrape, window
from ttsops.rollout.router_upstreams import LogMark, mark_log, read_since
from ttsops.settings import CanarySettings

if TYPE_CHECKING:
    from ttsops.speech import Speaker

__all__ = ["SlotObservation", "SlotObserver", "probe_texts"]

log = logging.getLogger("ttsops.agent")

_MAX_PROBE_CHARS = 90


def probe_texts() -> list[str]:
    """Short sentences of the shipped evaluation set, in a fixed order."""
    from ttsops.gate.corpus import load_eval_set

    texts = [u.text for u in load_eval_set().utterances if len(u.text) <= _MAX_PROBE_CHARS]
    return texts or ["This is a probe of the new voice."]


@dataclass
class SlotObservation:
    """What both slots did in one window (``canary.Observation``)."""

    canary: Window | None = None
    stable: Window | None = None
    error: str | None = None


@dataclass
class _Open:
    key: str
    ports: dict[str, int]
    opened_at: float
    before: dict[str, Scrape]
    stop: threading.Event = field(default_factory=threading.Event)
    ovrl: dict[str, list[float]] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    probes: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    services: dict[str, Path] = field(default_factory=dict)
    """Role -> version dir, for the roles whose slot is a service."""
    marks: dict[str, LogMark] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)


class SlotObserver:
    """Opens and closes canary windows on slot ports; one window at a time."""

    def __init__(
        self,
        policy: CanarySettings,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 60.0,
        upstream_log: Path | None = None,
        service_dir: Callable[[int], Path | None] | None = None,
    ) -> None:
        """Probe with ``policy``'s counts; DNSMOS is loaded on the first window.

        ``service_dir(port)`` is the version dir of the service slot on ``port`` (None for a
        bundle slot); such slots are counted from nginx's ``upstream_log``.
        """
        self.policy = policy
        self.clock = clock
        self.timeout_s = timeout_s
        self.upstream_log = upstream_log
        self.service_dir = service_dir
        self._texts = probe_texts()
        self._window: _Open | None = None
        self._lock = threading.Lock()
        self._dnsmos: object | None = None
        self._score_lock = threading.Lock()

    def open(self, key: str, ports: Mapping[str, int]) -> float:
        """Make sure window ``key`` is open on ``ports``; returns when it opened."""
        with self._lock:
            current = self._window
            if current is not None and current.key == key and current.ports == dict(ports):
                return current.opened_at
            if current is not None:
                self._end(current)
            opened = _Open(key, dict(ports), self.clock(), {})
            for role, port in ports.items():
                found = self.service_dir(port) if self.service_dir is not None else None
                if found is not None:
                    opened.services[role] = found
            try:
                for role, port in ports.items():
                    if role in opened.services:
                        opened.marks[role] = mark_log(self._log(), opened.opened_at)
                        opened.speakers[role] = self._speaker(opened.services[role], port)
                    else:
                        opened.before[role] = self._scrape(port)
            except _ScrapeError as exc:
                opened.error = str(exc)
            for role in ports:  # one prober per slot: a slow canary does not starve the other
                thread = threading.Thread(
                    target=self._probe_loop, args=(opened, role), name=f"probe-{role}", daemon=True
                )
                thread.start()
                opened.threads.append(thread)
            self._window = opened
            return opened.opened_at

    def filled(self, key: str) -> bool:
        """True when window ``key`` already has enough requests and scored probes to judge."""
        with self._lock:
            current = self._window
        if current is None or current.key != key:
            return False
        return not any(self._needs(current, role) for role in current.ports)

    def close(self, key: str) -> SlotObservation:
        """End window ``key`` and measure it; an ``error`` when it cannot be measured."""
        with self._lock:
            current = self._window
            self._window = None
        if current is None or current.key != key:
            return SlotObservation(error=f"window {key} was not open (the agent restarted?)")
        self._end(current)
        if current.error is not None:
            return SlotObservation(error=current.error)
        try:
            after = {
                role: self._scrape(port)
                for role, port in current.ports.items()
                if role not in current.services
            }
        except _ScrapeError as exc:
            return SlotObservation(error=str(exc))
        seen = {}
        for role in current.ports:
            if role in current.services:
                counted = self._service_window(current, role)
            else:
                counted = window(current.before[role], after[role], current.ovrl.get(role, []))
            # Latency is judged on the probes: the same sentences, in the same order, sent to
            # both slots in the same window. The slots' own traffic differs in mix (a 10%
            # canary is mostly probes, the stable slot mostly users' text), so their
            # histograms would compare different sentences.
            took = current.latency.get(role, [])
            p95 = float(np.percentile(took, 95)) if len(took) >= self.policy.min_scored else None
            seen[role] = replace(counted, p95_s=p95)
        return SlotObservation(canary=seen.get("canary"), stable=seen.get("stable"))

    def shutdown(self) -> None:
        """Stop probing (the agent is stopping)."""
        with self._lock:
            current, self._window = self._window, None
        if current is not None:
            self._end(current)

    # -- inside -----------------------------------------------------------------------------

    def _end(self, w: _Open) -> None:
        w.stop.set()
        for thread in w.threads:
            if thread is not threading.current_thread():
                thread.join(timeout=self.timeout_s + 5)
        for speaker in w.speakers.values():
            try:
                speaker.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a probe speaker failed", exc_info=True)

    def _log(self) -> Path:
        if self.upstream_log is None:
            raise _ScrapeError("a service slot is observed but the router's log is unknown")
        return self.upstream_log

    def _speaker(self, version_dir: Path, port: int) -> Speaker:
        from ttsops.errors import TtsopsError
        from ttsops.service.speakers import speaker_for

        try:
            return speaker_for(version_dir, f"http://127.0.0.1:{port}", timeout_s=self.timeout_s)
        except TtsopsError as exc:
            raise _ScrapeError(f"cannot probe the service slot on port {port}: {exc}") from None

    def _service_window(self, w: _Open, role: str) -> Window:
        """A service slot's window: what nginx sent it, plus the probes sent to it directly."""
        seen = read_since(self._log(), w.marks[role], w.ports[role])
        probes = w.probes.get(role, 0)
        return Window(
            requests=seen.requests + probes,
            errors=seen.errors + w.failed.get(role, 0),
            p95_s=None,
            ovrl=tuple(w.ovrl.get(role, [])),
        )

    def _scrape(self, port: int) -> Scrape:
        try:
            reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise _ScrapeError(
                f"cannot read the metrics of the slot on port {port}: {exc}"
            ) from None
        return parse_scrape(reply.text, self.clock())

    def _needs(self, w: _Open, role: str) -> bool:
        """True while ``role`` lacks requests or scored probes in this window."""
        scored = len(w.ovrl.get(role, []))
        if scored < max(self.policy.probes_per_window, self.policy.min_scored):
            return True
        if w.error is not None:
            return False
        if role in w.services:
            return self._service_window(w, role).requests < self.policy.min_requests
        if role not in w.before:
            return False
        try:
            now = self._scrape(w.ports[role])
        except _ScrapeError:
            return False
        return window(w.before[role], now).requests < self.policy.min_requests

    def _probe_loop(self, w: _Open, role: str) -> None:
        # Front-loaded: the needed probes go out early in the window, then only top-ups.
        wanted = max(self.policy.probes_per_window, self.policy.min_scored)
        rounds = max(wanted, self.policy.min_requests) + 2
        pause = self.policy.step_interval_s / rounds
        while not w.stop.is_set():
            if self._needs(w, role):
                sent = w.probes.get(role, 0)
                text = self._texts[sent % len(self._texts)]  # each slot gets the same sequence
                started = time.monotonic()
                if role in w.speakers:
                    score, ok = self._probe_service(w.speakers[role], text)
                    if not ok:
                        w.failed[role] = w.failed.get(role, 0) + 1
                else:
                    score = self._probe(w.ports[role], text)
                took = time.monotonic() - started
                w.probes[role] = sent + 1
                if score is not None:
                    w.ovrl.setdefault(role, []).append(score)
                    w.latency.setdefault(role, []).append(took)
            w.stop.wait(pause)

    def _probe(self, port: int, text: str) -> float | None:
        """Synthesize ``text`` on the slot at ``port``; DNSMOS OVRL of the audio, if any."""
        body = {"input": text, "response_format": "wav"}
        try:
            reply = httpx.post(
                f"http://127.0.0.1:{port}/v1/audio/speech", json=body, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            log.info("canary probe to port %d failed: %s", port, exc)
            return None
        if reply.status_code != 200:
            return None  # the slot's metrics count the failure
        try:
            samples, rate = soundfile.read(io.BytesIO(reply.content), dtype="float32")
        except (RuntimeError, soundfile.LibsndfileError):
            return None
        return self._ovrl(np.asarray(samples, dtype=np.float32), int(rate))

    def _probe_service(self, speaker: Speaker, text: str) -> tuple[float | None, bool]:
        """Synthesize ``text`` through a service's speaker: (DNSMOS OVRL, whether it spoke)."""
        from ttsops.speech import SpeechRequest, is_silent

        try:
            speech = speaker.speak(SpeechRequest(text))
        except Exception as exc:  # noqa: BLE001 - any failure of the service is a failed probe
            log.info("canary probe through %s failed: %s", type(speaker).__name__, exc)
            return None, False
        if speech.samples.size == 0 or is_silent(speech.samples):
            log.info("canary probe answered %.1f s of silence", speech.duration_s)
            return None, False
        return self._ovrl(speech.samples, speech.sample_rate), True

    def _ovrl(self, samples: np.ndarray, rate: int) -> float | None:
        from ttsops.gate.mos import MOS_RATE, Dnsmos
        from ttsops.gate.scorers import resample

        with self._score_lock:  # one DNSMOS, scored from one thread at a time
            if self._dnsmos is None:
                self._dnsmos = Dnsmos()
            assert isinstance(self._dnsmos, Dnsmos)
            score = self._dnsmos.score(resample(samples, rate, MOS_RATE))
        return None if score is None else float(score.ovrl)


class _ScrapeError(Exception):
    """A slot's metrics could not be read."""
