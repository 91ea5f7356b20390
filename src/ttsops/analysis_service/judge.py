"""One canary analysis of two running services: the same probes to both, scored, judged.

This is the agent's canary analysis (``ttsops.rollout.analysis.analyze``: errors, latency
p95, DNSMOS OVRL) for services it does not run, such as the canary and stable Services of
an Argo Rollout. Behind a Kubernetes Service, ``/metrics`` answers from whichever pod the
connection lands on, so the window here is made of the probes alone: each service gets the
same sentences of the gate's evaluation set, in the same order, in pairs (one sentence to
both services back to back, taking turns at going first), one request at a time; a probe
that is not a 200 with decodable audio is an error; latency is the probes' p95; audio
quality is their DNSMOS OVRL, scored after both sides finished (so scoring does not slow
the syntheses it times). Real traffic's error rate is Prometheus' business (ServiceMonitor).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import numpy as np

from ttsops.errors import AnalysisError
from ttsops.rollout.analysis import Window, analyze
from ttsops.rollout.observer import probe_texts
from ttsops.settings import CanarySettings
from ttsops.verdict import Verdict

__all__ = ["DnsmosScorer", "Judgement", "Scorer", "SlotReport", "judge", "probe_count"]

_ROLES = ("canary", "stable")


class Scorer(Protocol):
    """DNSMOS OVRL of one clip (``DnsmosScorer``); None when it cannot be scored."""

    def ovrl(self, samples: np.ndarray, rate: int) -> float | None:
        """Score ``samples`` (mono float32) at ``rate`` Hz."""
        ...


@dataclass
class _Take:
    ok: bool
    seconds: float
    audio: tuple[np.ndarray, int] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class SlotReport:
    """What one service is and what its probes did."""

    url: str
    """The base URL probed."""

    served: dict[str, Any]
    """Its ``GET /version``: name, version, digest…"""

    window: Window
    """Probes sent (requests), failed (errors), latency p95, DNSMOS OVRL of each answer."""

    problems: tuple[str, ...] = field(default=())
    """Why probes failed, first few distinct."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "url": self.url,
            "name": self.served.get("name"),
            "version": self.served.get("version"),
            "digest": self.served.get("digest"),
            **self.window.to_dict(),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Judgement:
    """The verdict on the canary against the stable service, with what it rests on."""

    verdict: Verdict
    canary: SlotReport
    stable: SlotReport
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The analysis service's answer: ``verdict`` is what Argo's jsonPath reads."""
        return {
            "verdict": self.verdict.outcome.value,
            "reasons": self.verdict.reasons,
            "checks": [c.to_dict() for c in self.verdict.checks],
            "canary": self.canary.to_dict(),
            "stable": self.stable.to_dict(),
            "seconds": round(self.seconds, 3),
        }


def probe_count(policy: CanarySettings) -> int:
    """Probes per service: enough for every check of ``policy`` to judge."""
    return max(policy.min_requests, policy.probes_per_window, policy.min_scored)


def judge(
    canary_url: str,
    stable_url: str,
    policy: CanarySettings,
    scorer: Scorer,
    *,
    probes: int | None = None,
    timeout_s: float = 60.0,
    texts: Sequence[str] | None = None,
) -> Judgement:
    """Probe both services alike, score the audio and judge the canary against the stable one.

    A service that does not answer ``GET /version`` as a ttsops server raises
    ``AnalysisError`` (nothing was judged); failed probes of a service that answers are
    errors of that service, counted against it.
    """
    started = time.monotonic()
    urls = {"canary": canary_url.rstrip("/"), "stable": stable_url.rstrip("/")}
    served = {role: _identify(role, url) for role, url in urls.items()}
    count = probes or probe_count(policy)
    sentences = list(texts or probe_texts())
    chosen = [sentences[i % len(sentences)] for i in range(count)]
    takes: dict[str, list[_Take]] = {role: [] for role in _ROLES}
    with httpx.Client(timeout=timeout_s) as client:
        for i, text in enumerate(chosen):
            # Paired and alternating: each sentence goes to both services back to back, the
            # first of the pair taking turns, so both see the same moment of a busy node.
            for role in _ROLES if i % 2 == 0 else _ROLES[::-1]:
                takes[role].append(_probe(client, urls[role], text))
    reports = {
        role: _report(urls[role], served[role], takes[role], policy, scorer) for role in _ROLES
    }
    verdict = analyze(reports["canary"].window, reports["stable"].window, policy)
    return Judgement(verdict, reports["canary"], reports["stable"], time.monotonic() - started)


def _identify(role: str, url: str) -> dict[str, Any]:
    """The service's ``/version``, or ``AnalysisError`` saying why it cannot be judged."""
    try:
        reply = httpx.get(f"{url}/version", timeout=10)
    except httpx.HTTPError as exc:
        raise AnalysisError(
            f"the {role} service {url} does not answer ({type(exc).__name__}: {exc}); "
            "check the Service's name and port, and that its pods are ready"
        ) from None
    try:
        info = reply.json() if reply.status_code == 200 else None
    except ValueError:
        info = None
    if not isinstance(info, dict) or "version" not in info:
        raise AnalysisError(
            f"the {role} service {url} is not a ttsops server: GET /version answered "
            f"{reply.status_code} without a version; point at the port `ttsops serve` listens on"
        )
    return info


def _probe(client: httpx.Client, url: str, text: str) -> _Take:
    import soundfile

    body = {"input": text, "response_format": "wav"}
    started = time.monotonic()
    try:
        reply = client.post(f"{url}/v1/audio/speech", json=body)
    except httpx.HTTPError as exc:
        return _Take(False, time.monotonic() - started, problem=f"{type(exc).__name__}: {exc}")
    took = time.monotonic() - started
    if reply.status_code != 200:
        return _Take(False, took, problem=f"HTTP {reply.status_code}: {reply.text[:200]}")
    try:
        samples, rate = soundfile.read(io.BytesIO(reply.content), dtype="float32")
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        return _Take(False, took, problem=f"the answer is not a wav file: {exc}")
    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim > 1:
        mono = mono.mean(axis=1)
    return _Take(True, took, audio=(mono, int(rate)))


def _report(
    url: str, served: dict[str, Any], takes: list[_Take], policy: CanarySettings, scorer: Scorer
) -> SlotReport:
    good = [t for t in takes if t.ok]
    scores = []
    for take in good:
        assert take.audio is not None
        score = scorer.ovrl(*take.audio)
        if score is not None:
            scores.append(score)
    latencies = [t.seconds for t in good]
    p95 = float(np.percentile(latencies, 95)) if len(latencies) >= policy.min_scored else None
    problems = list(dict.fromkeys(t.problem for t in takes if t.problem))[:3]
    window = Window(
        requests=len(takes), errors=len(takes) - len(good), p95_s=p95, ovrl=tuple(scores)
    )
    return SlotReport(url, served, window, tuple(problems))


class DnsmosScorer:
    """DNSMOS (``ttsops.gate.mos``), loaded once, scoring from one thread at a time."""

    def __init__(self) -> None:
        """Load the models now: a missing ``ttsops[gate]`` fails at start, not per request."""
        try:
            from ttsops.gate.mos import Dnsmos
        except ImportError as exc:
            raise AnalysisError(
                f"the analysis service scores audio with DNSMOS, which is not installed "
                f"({exc}); install ttsops[gate]"
            ) from None
        try:
            self._model = Dnsmos()
        except ImportError as exc:
            raise AnalysisError(
                f"DNSMOS cannot load ({exc}); install ttsops[gate] in the analysis image"
            ) from None
        self._lock = threading.Lock()

    def ovrl(self, samples: np.ndarray, rate: int) -> float | None:
        """OVRL of one clip at ``rate`` Hz."""
        from ttsops.gate.mos import MOS_RATE
        from ttsops.gate.scorers import resample

        with self._lock:
            score = self._model.score(resample(samples, rate, MOS_RATE))
        return None if score is None else float(score.ovrl)
