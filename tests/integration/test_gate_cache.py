"""The gate's score cache in a real SQLite ledger: what is stored is read back, by exact key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ttsops.gate import load_eval_set
from ttsops.gate.cache import cache_key, load_cached, scorer_fingerprint, store_results
from ttsops.gate.results import UtteranceResult
from ttsops.registry import Ledger
from ttsops.settings import GateSettings

DIGEST = "ab" * 32


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A fresh ledger on a SQLite file."""
    return Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")


def _result(uid: str, ovrl: float, error: str | None = None) -> UtteranceResult:
    metrics = {} if error else {"ovrl": ovrl, "wer": 0.1, "rtf": 0.2}
    return UtteranceResult("candidate", uid, "Hi.", "hi", metrics, "hi", 22050, error=error)


def test_stored_scores_come_back_as_the_baseline(ledger: Ledger) -> None:
    """A candidate's scores, stored, are read back as the baseline's, with when they were made."""
    key = cache_key(load_eval_set(), GateSettings())
    stored = store_results(
        ledger, DIGEST, key, [_result("a", 3.1), _result("b", 3.2), _result("c", 0, "boom")]
    )
    assert stored == 2  # a sentence that failed to synthesize is not kept
    found = load_cached(ledger, DIGEST, key, "baseline", ["a", "b", "c"])
    assert sorted(found) == ["a", "b"]
    assert found["a"].result.role == "baseline"
    assert found["a"].result.metrics["ovrl"] == 3.1
    assert found["a"].scored_at.tzinfo is not None


def test_a_later_score_replaces_the_earlier_one(ledger: Ledger) -> None:
    """Scoring the same sentence again (e.g. --no-cache) replaces the stored row."""
    key = cache_key(load_eval_set(), GateSettings())
    store_results(ledger, DIGEST, key, [_result("a", 3.1)])
    store_results(ledger, DIGEST, key, [_result("a", 3.3)])
    found = load_cached(ledger, DIGEST, key, "baseline", ["a"])
    assert found["a"].result.metrics["ovrl"] == 3.3
    assert len(ledger.cached_scores(DIGEST, key.eval_set_digest, key.scorer)) == 1


def test_another_seed_set_or_bundle_misses(ledger: Ledger) -> None:
    """The key is exact: another synthesis seed, evaluation set or bundle digest finds nothing."""
    shipped = load_eval_set()
    key = cache_key(shipped, GateSettings())
    store_results(ledger, DIGEST, key, [_result("a", 3.1)])
    other_seed = cache_key(shipped, GateSettings(synthesis_seed=1))
    other_set = cache_key(replace(shipped, digest="0" * 64), GateSettings())
    assert scorer_fingerprint(GateSettings()) != scorer_fingerprint(GateSettings(synthesis_seed=1))
    assert load_cached(ledger, DIGEST, other_seed, "baseline", ["a"]) == {}
    assert load_cached(ledger, DIGEST, other_set, "baseline", ["a"]) == {}
    assert load_cached(ledger, "cd" * 32, key, "baseline", ["a"]) == {}
    # thresholds do not shape scores, so they are not part of the key
    assert cache_key(shipped, GateSettings(max_p808_drop=0.3)) == key
