"""Measuring a canary window: both slots' Prometheus metrics, and probe syntheses.

A window opens with a scrape of each slot's ``/metrics`` and closes with another; the
difference is what the slot did in between (real traffic and probes alike): its requests
and errors. While it is open a thread per slot sends probe syntheses straight to the
slot's port (not through the router): enough that each slot answers ``min_requests``
requests in the window even with no real traffic, and ``probes_per_window`` of them
timed and scored with DNSMOS, so the analysis always has errors, latency and audio
quality to judge. Probe texts are short sentences of the gate's evaluation set, the same
ones in the same order for both slots, which is what makes their latencies comparable.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import httpx
import numpy as np
import soundfile

from ttsops.rollout.analysis import Scrape, Window, parse_scrape, window
from ttsops.settings import CanarySettings

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


class SlotObserver:
    """Opens and closes canary windows on slot ports; one window at a time."""

    def __init__(
        self,
        policy: CanarySettings,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 60.0,
    ) -> None:
        """Probe with ``policy``'s counts; DNSMOS is loaded on the first window."""
        self.policy = policy
        self.clock = clock
        self.timeout_s = timeout_s
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
            try:
                opened.before = {role: self._scrape(port) for role, port in ports.items()}
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
            after = {role: self._scrape(port) for role, port in current.ports.items()}
        except _ScrapeError as exc:
            return SlotObservation(error=str(exc))
        seen = {}
        for role in current.ports:
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
        if w.error is not None or role not in w.before:
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
