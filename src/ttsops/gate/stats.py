"""Paired bootstrap confidence intervals: how sure a difference over a few sentences is.

Candidate and baseline speak the same sentences, so each sentence is a pair and the
resampling draws sentences (both values together), never the two models independently.
That keeps a hard sentence hard for both and lets one noisy sentence move the estimate
without deciding it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Interval", "bootstrap_mean", "paired_difference", "paired_ratio"]

_Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval."""

    estimate: float
    """The statistic on the data as measured."""

    low: float
    """Lower bound of the interval."""

    high: float
    """Upper bound of the interval."""

    n: int
    """Sentences (or pairs) it rests on."""

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the interval (bounds included)."""
        return self.low <= value <= self.high


def _bootstrap(
    n: int,
    statistic: Callable[[npt.NDArray[np.intp]], _Array],
    estimate: float,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> Interval:
    if n == 1:
        return Interval(estimate, estimate, estimate, 1)
    rng = np.random.default_rng(seed)
    draws = statistic(rng.integers(0, n, size=(resamples, n)))
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), n)


def _arrays(*values: Sequence[float]) -> list[_Array]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    if any(a.size == 0 for a in arrays):
        raise ValueError("no values to bootstrap; at least one sentence is needed")
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"paired values differ in length: {[a.size for a in arrays]}")
    return arrays


def bootstrap_mean(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean of ``values`` with a percentile bootstrap interval."""
    (x,) = _arrays(values)
    return _bootstrap(
        x.size,
        lambda idx: x[idx].mean(axis=1),
        float(x.mean()),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def paired_difference(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Mean of ``candidate[i] - baseline[i]`` with a paired bootstrap interval."""
    c, b = _arrays(candidate, baseline)
    d = c - b
    return _bootstrap(
        d.size,
        lambda idx: d[idx].mean(axis=1),
        float(d.mean()),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def paired_ratio(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``mean(candidate) / mean(baseline)`` with a paired bootstrap interval.

    Raises ``ValueError`` when the baseline's values sum to zero.
    """
    c, b = _arrays(candidate, baseline)
    if b.sum() <= 0:
        raise ValueError("baseline values sum to zero or less; a ratio is undefined")

    def ratio(idx: npt.NDArray[np.intp]) -> _Array:
        below = b[idx].sum(axis=1)
        return np.asarray(c[idx].sum(axis=1) / np.where(below > 0, below, np.nan))

    return _bootstrap(
        c.size,
        ratio,
        float(c.sum() / b.sum()),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
