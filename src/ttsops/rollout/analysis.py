"""Canary analysis: two slots' metrics over one window in, a verdict and a decision out.

Pure functions only — no I/O, no clock — so every rule is tested with plain numbers.

**The window.** The controller scrapes both slots' ``/metrics`` at the start and at the end
of each step's ``step_interval_s`` (:func:`parse_scrape`); :func:`window` turns two scrapes
of one slot into what it did in between: requests, 5xx errors and the latency p95 of the
speech route (from the histogram's bucket deltas, like PromQL ``histogram_quantile``), plus
the DNSMOS OVRL scores of the probe syntheses sent to it meanwhile. Both slots are judged
over the same window, so the stable slot is the control: a busy host or a bad upstream
slows and breaks both, and only a difference counts against the canary.

**The three checks** (:func:`analyze`):

- ``error_rate``: the canary's 5xx share must stay within ``max_error_rate``, or within
  ``max_error_rate_increase`` above the stable slot's rate when that is higher;
- ``latency_p95``: the canary's p95 may exceed the stable slot's by at most
  ``max_latency_ratio`` — differences under ``min_latency_slack_s`` never fail;
- ``audio_quality``: the canary probes' mean OVRL may be at most ``max_ovrl_drop`` below
  the stable slot's.

**Missing data is never a pass.** A slot with fewer than ``min_requests`` requests, or
fewer than ``min_scored`` scored probes, makes its check inconclusive, never a pass: a
canary that crashes on every request and so answers none must not look healthy.
:func:`decide` repeats an inconclusive window and rolls back after
``inconclusive_limit`` of them in a row; it counts failed windows per check against
``failure_limits`` and rolls back past the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import fmean
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ttsops.settings import CanarySettings
from ttsops.verdict import Check, Outcome, Verdict

__all__ = [
    "BROKEN",
    "SPEECH_ROUTE",
    "Action",
    "Decision",
    "Scrape",
    "Tally",
    "Window",
    "analyze",
    "decide",
    "parse_scrape",
    "quantile",
    "window",
]

SPEECH_ROUTE = "/v1/audio/speech"
"""The route whose requests the analysis judges."""

BROKEN = "broken"
"""Key in ``Scrape.statuses`` of speech answers that started with 200 and then broke off
(``ttsops_broken_streams``): already counted under "200", so they add errors, not requests."""

_REQUESTS = "ttsops_requests"
_LATENCY = "ttsops_request_duration_seconds"
_BROKEN = "ttsops_broken_streams"


@dataclass(frozen=True)
class Scrape:
    """Cumulative counters of one slot's ``/metrics`` at one moment."""

    at: float
    """Wall-clock seconds when scraped."""

    statuses: dict[str, float] = field(default_factory=dict)
    """HTTP status (``"200"``, ``"503"``…) -> requests so far, of the judged route only;
    plus ``BROKEN`` -> answers that broke off after their 200."""

    buckets: tuple[tuple[float, float], ...] = ()
    """(upper bound in s, cumulative count) of the route's latency histogram, ascending,
    ``math.inf`` last."""


def parse_scrape(text: str, at: float, route: str = SPEECH_ROUTE) -> Scrape:
    """Read one route's request counts and latency buckets from Prometheus text.

    Metrics that are absent leave the scrape empty; text that is not the exposition
    format raises ``ValueError``.
    """
    statuses: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == _BROKEN and sample.name in (_BROKEN, f"{_BROKEN}_total"):
                if sample.value:
                    statuses[BROKEN] = statuses.get(BROKEN, 0.0) + sample.value
                continue
            if sample.labels.get("route") != route:
                continue
            if family.name == _REQUESTS and sample.name in (_REQUESTS, f"{_REQUESTS}_total"):
                status = sample.labels.get("status", "")
                statuses[status] = statuses.get(status, 0.0) + sample.value
            elif family.name == _LATENCY and sample.name == f"{_LATENCY}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return Scrape(at, statuses, tuple(sorted(buckets.items())))


@dataclass(frozen=True)
class Window:
    """What one slot did over one analysis window."""

    requests: int
    """Requests of the judged route answered in the window, any status."""

    errors: int
    """Of those, answered with HTTP 5xx or broken off mid-stream."""

    p95_s: float | None
    """Latency p95 in seconds; ``window`` estimates it from the slot's histogram, the
    agent's observer replaces it with the p95 of its probes (the same sentences on both
    slots); None without data."""

    ovrl: tuple[float, ...] = ()
    """DNSMOS OVRL of the slot's probe audio in the window."""

    @property
    def error_rate(self) -> float | None:
        """Share of requests that failed; None without requests."""
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p95_s": self.p95_s,
            "ovrl": list(self.ovrl),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        """Inverse of :meth:`to_dict`."""
        p95 = data.get("p95_s")
        return cls(
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            p95_s=None if p95 is None else float(p95),
            ovrl=tuple(float(v) for v in data.get("ovrl", ())),
        )


def window(before: Scrape, after: Scrape, ovrl: Sequence[float] = ()) -> Window:
    """What a slot did between two scrapes, with its probes' OVRL scores.

    If any counter went down, the slot's process restarted in between and its counters
    began again from zero, so ``after`` alone is the window.
    """
    statuses = dict(after.statuses)
    buckets = after.buckets
    if not _restarted(before, after):
        statuses = {s: n - before.statuses.get(s, 0.0) for s, n in after.statuses.items()}
        counts_before = dict(before.buckets)
        buckets = tuple((le, n - counts_before.get(le, 0.0)) for le, n in after.buckets)
    requests = round(sum(n for s, n in statuses.items() if s != BROKEN))
    errors = round(sum(n for s, n in statuses.items() if s.startswith("5") or s == BROKEN))
    return Window(
        requests=requests,
        errors=errors,
        p95_s=quantile(buckets, 0.95) if requests else None,
        ovrl=tuple(ovrl),
    )


def _restarted(before: Scrape, after: Scrape) -> bool:
    """Whether a counter went down (or the histogram's buckets changed) between scrapes."""
    if any(after.statuses.get(s, 0.0) < n for s, n in before.statuses.items()):
        return True
    if before.buckets and [le for le, _ in before.buckets] != [le for le, _ in after.buckets]:
        return True
    return any(a < b for (_, a), (_, b) in zip(after.buckets, before.buckets, strict=False))


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of a histogram, as PromQL ``histogram_quantile`` estimates it.

    ``buckets`` are (upper bound, cumulative count), ascending. The value is interpolated
    linearly inside the bucket the rank falls in, the first bucket starting at 0; a rank
    in the ``+Inf`` bucket gives the largest finite bound. None when the total is 0.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile q must be within 0..1, got {q}")
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for i, (upper, count) in enumerate(buckets):
        if count >= rank and count > 0:
            if math.isinf(upper):
                return buckets[i - 1][0] if i > 0 else None
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return None  # unreachable: the last cumulative count is the total, so rank fits


def analyze(canary: Window, stable: Window, policy: CanarySettings) -> Verdict:
    """Compare the canary's window with the stable slot's: errors, latency, audio quality."""
    return Verdict.from_checks(
        [
            _error_rate(canary, stable, policy),
            _latency(canary, stable, policy),
            _audio_quality(canary, stable, policy),
        ]
    )


def _above(value: float, limit: float) -> bool:
    """``value > limit``, not fooled by float rounding (0.02 + 0.01 is not 0.03)."""
    return value > limit and not math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)


def _counts(w: Window) -> dict[str, Any]:
    return {"requests": w.requests, "errors": w.errors, "error_rate": w.error_rate}


def _error_rate(canary: Window, stable: Window, policy: CanarySettings) -> Check:
    name, need = "error_rate", policy.min_requests
    details = {"canary": _counts(canary), "stable": _counts(stable), "min_requests": need}
    rate = canary.error_rate
    if rate is None or canary.requests < need:
        return Check(
            name,
            Outcome.INCONCLUSIVE,
            f"canary answered {canary.requests} requests, fewer than the {need} needed "
            f"to judge its error rate",
            observed=rate,
            details=details,
        )
    if stable.error_rate is not None and stable.requests >= need:
        stable_rate = stable.error_rate
        stable_text = f"stable {stable_rate:.1%} of {stable.requests}"
    else:
        stable_rate = 0.0
        stable_text = f"stable {stable.errors} of {stable.requests}, too few to count"
    limit = max(policy.max_error_rate, stable_rate + policy.max_error_rate_increase)
    failed = _above(rate, limit)
    return Check(
        name,
        Outcome.FAIL if failed else Outcome.PASS,
        f"canary error rate {rate:.1%} ({canary.errors} of {canary.requests} requests) is "
        f"{'above' if failed else 'within'} the limit {limit:.1%} ({stable_text})",
        observed=rate,
        limit=limit,
        details={**details, "stable_rate_counted": stable_rate},
    )


def _latency(canary: Window, stable: Window, policy: CanarySettings) -> Check:
    name, need = "latency_p95", policy.min_requests
    details: dict[str, Any] = {
        "canary": {"requests": canary.requests, "p95_s": canary.p95_s},
        "stable": {"requests": stable.requests, "p95_s": stable.p95_s},
        "min_requests": need,
    }
    if canary.requests < need or stable.requests < need:
        return Check(
            name,
            Outcome.INCONCLUSIVE,
            f"{canary.requests} canary and {stable.requests} stable requests, fewer than "
            f"the {need} each slot needs to compare latency p95",
            observed=canary.p95_s,
            details=details,
        )
    if canary.p95_s is None or stable.p95_s is None:
        missing, slot = ("canary", canary) if canary.p95_s is None else ("stable", stable)
        return Check(
            name,
            Outcome.INCONCLUSIVE,
            f"the {missing} slot reported no latency histogram for its {slot.requests} requests",
            observed=canary.p95_s,
            details=details,
        )
    ratio, slack = policy.max_latency_ratio, policy.min_latency_slack_s
    limit = max(stable.p95_s * ratio, stable.p95_s + slack)
    failed = _above(canary.p95_s, limit)
    return Check(
        name,
        Outcome.FAIL if failed else Outcome.PASS,
        f"canary latency p95 {canary.p95_s:.2f} s is {'above' if failed else 'within'} the "
        f"limit {limit:.2f} s (stable p95 {stable.p95_s:.2f} s; the limit is the larger of "
        f"{ratio:g}× stable and stable + {slack:g} s)",
        observed=canary.p95_s,
        limit=limit,
        details=details,
    )


def _audio_quality(canary: Window, stable: Window, policy: CanarySettings) -> Check:
    name, need = "audio_quality", policy.min_scored
    details: dict[str, Any] = {
        "canary": {"scored": len(canary.ovrl), "mean_ovrl": _mean(canary.ovrl)},
        "stable": {"scored": len(stable.ovrl), "mean_ovrl": _mean(stable.ovrl)},
        "min_scored": need,
    }
    if len(canary.ovrl) < need or len(stable.ovrl) < need:
        return Check(
            name,
            Outcome.INCONCLUSIVE,
            f"{len(canary.ovrl)} canary and {len(stable.ovrl)} stable probes were scored "
            f"with DNSMOS, fewer than the {need} each slot needs to compare audio quality",
            details=details,
        )
    c, s = fmean(canary.ovrl), fmean(stable.ovrl)
    drop, limit = s - c, policy.max_ovrl_drop
    failed = _above(drop, limit)
    return Check(
        name,
        Outcome.FAIL if failed else Outcome.PASS,
        f"canary mean DNSMOS OVRL {c:.2f} ({len(canary.ovrl)} probes) is {drop:.2f} below "
        f"the stable slot's {s:.2f} ({len(stable.ovrl)} probes), "
        f"{'more than' if failed else 'within'} the allowed drop {limit:.2f}",
        observed=drop,
        limit=limit,
        details=details,
    )


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


@dataclass(frozen=True)
class Tally:
    """What earlier analyses of one deployment concluded; persisted with the rollout."""

    failures: dict[str, int] = field(default_factory=dict)
    """Check name -> analyses it failed so far, over the whole deployment."""

    inconclusive: int = 0
    """Inconclusive analyses in a row."""

    errors: int = 0
    """Analyses in a row whose data could not be gathered."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "failures": dict(sorted(self.failures.items())),
            "inconclusive": self.inconclusive,
            "errors": self.errors,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        """Inverse of :meth:`to_dict`; missing keys start at zero."""
        return cls(
            failures={str(k): int(v) for k, v in data.get("failures", {}).items()},
            inconclusive=int(data.get("inconclusive", 0)),
            errors=int(data.get("errors", 0)),
        )


class Action(StrEnum):
    """What the controller does after an analysis."""

    ADVANCE = "advance"
    """Move to the next step (or promote after the last)."""

    HOLD = "hold"
    """Stay at this step and analyse another window."""

    ROLLBACK = "rollback"
    """Send all traffic back to the stable slot."""


@dataclass(frozen=True)
class Decision:
    """An action, why, and the tally to persist for the next analysis."""

    action: Action
    """What to do."""

    reason: str
    """Why, with the numbers; rollback events carry it verbatim."""

    tally: Tally
    """The tally including this analysis."""


_UNNAMED_FAILURE = "analysis"
"""Tally key of a failed verdict that names no failed check (limit 0 unless configured)."""


def decide(verdict: Verdict, tally: Tally, policy: CanarySettings) -> Decision:
    """Turn one analysis's verdict and the earlier tally into advance, hold or rollback.

    Failures count per check over the whole deployment against ``failure_limits``;
    inconclusive and error analyses count in a row against their limits. Neither of those
    two resets the other, so a canary alternating between them cannot hold forever.
    """
    outcome = verdict.outcome
    if outcome is Outcome.PASS:
        reason = "; ".join(c.reason for c in verdict.checks) or verdict.message
        return Decision(
            Action.ADVANCE,
            f"analysis passed: {reason}" if reason else "analysis passed",
            Tally(dict(tally.failures)),
        )
    if outcome is Outcome.FAIL:
        return _decide_failure(verdict, tally, policy)
    why = "; ".join(verdict.reasons)
    if outcome is Outcome.INCONCLUSIVE:
        count, limit = tally.inconclusive + 1, policy.inconclusive_limit
        after = Tally(dict(tally.failures), count, tally.errors)
        if count > limit:
            return Decision(
                Action.ROLLBACK,
                f"no verdict after {count} analyses in a row: {why}; missing data is never a pass",
                after,
            )
        return Decision(
            Action.HOLD,
            f"analysis inconclusive ({count} in a row, limit {limit}): {why}; repeating the window",
            after,
        )
    count, limit = tally.errors + 1, policy.error_limit
    after = Tally(dict(tally.failures), tally.inconclusive, count)
    if count > limit:
        return Decision(
            Action.ROLLBACK,
            f"could not gather data for {count} analyses in a row (limit {limit}): {why}",
            after,
        )
    return Decision(
        Action.HOLD,
        f"could not gather data ({count} in a row, limit {limit}): {why}; repeating the window",
        after,
    )


def _decide_failure(verdict: Verdict, tally: Tally, policy: CanarySettings) -> Decision:
    failed = [(c.name, c.reason) for c in verdict.checks if c.outcome is Outcome.FAIL]
    if not failed:
        failed = [(_UNNAMED_FAILURE, verdict.message or "the analysis failed")]
    failures = dict(tally.failures)
    parts, over = [], False
    for name, reason in failed:
        failures[name] = failures.get(name, 0) + 1
        count, limit = failures[name], policy.failure_limits.get(name, 0)
        over = over or count > limit
        noun = "analysis" if count == 1 else "analyses"
        parts.append(f"{name} failed {count} {noun} (limit {limit}): {reason}")
    after = Tally(failures)
    if over:
        return Decision(Action.ROLLBACK, "; ".join(parts), after)
    return Decision(Action.HOLD, "; ".join(parts) + "; repeating the window", after)
