"""Paired bootstrap intervals: what they estimate and how sure they are."""

from __future__ import annotations

import numpy as np
import pytest

from ttsops.gate.stats import bootstrap_mean, paired_difference, paired_ratio


def test_mean_interval_brackets_the_mean_and_narrows_with_more_data() -> None:
    """The interval contains the sample mean and shrinks as sentences are added."""
    rng = np.random.default_rng(1)
    few = rng.normal(3.0, 0.3, 8).tolist()
    many = rng.normal(3.0, 0.3, 200).tolist()
    small, large = bootstrap_mean(few), bootstrap_mean(many)
    assert small.contains(small.estimate)
    assert large.contains(3.0)
    assert (large.high - large.low) < (small.high - small.low)


def test_paired_difference_cancels_what_both_models_share() -> None:
    """Hard sentences are hard for both: a constant offset is found with a tight interval."""
    rng = np.random.default_rng(2)
    baseline = rng.uniform(1.0, 4.5, 30)
    candidate = baseline - 0.2 + rng.normal(0, 0.01, 30)
    diff = paired_difference(candidate.tolist(), baseline.tolist())
    assert diff.estimate == pytest.approx(-0.2, abs=0.01)
    assert diff.high < -0.18
    assert diff.n == 30


def test_ratio_of_means_for_speed() -> None:
    """A candidate twice as slow on every sentence has ratio 2 with a tight interval."""
    baseline = [0.1, 0.2, 0.15, 0.12, 0.3]
    candidate = [2 * b for b in baseline]
    ratio = paired_ratio(candidate, baseline)
    assert ratio.estimate == pytest.approx(2.0)
    assert ratio.low == pytest.approx(2.0)
    assert ratio.high == pytest.approx(2.0)


def test_same_seed_same_interval() -> None:
    """The bootstrap is seeded, so a report can be recomputed exactly."""
    values = [3.1, 2.9, 3.4, 3.0, 3.3, 2.7]
    assert bootstrap_mean(values, seed=7) == bootstrap_mean(values, seed=7)


def test_unpaired_or_empty_values_are_refused() -> None:
    """Different lengths or no values at all raise with the reason."""
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no values"):
        bootstrap_mean([])
    with pytest.raises(ValueError, match="sum to zero"):
        paired_ratio([1.0], [0.0])
