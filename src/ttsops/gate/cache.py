"""The gate's score cache: a bundle's per-sentence scores, kept so a baseline is scored once.

Synthesis is seeded, so the same bundle speaking the same sentence with the same seed gives
the same audio, and the same scorers give it the same scores. A gate stores what it scored
(candidate and baseline alike) keyed by the bundle digest, the evaluation set's digest and
a *scorer fingerprint* (``SCORER_VERSION``, the synthesis seed, the versions of every
library that shapes audio or scores, and the sha256 of each reference clip); the next gate
against that bundle reads the scores back instead of synthesizing and scoring it again.
Any change to a part of the key misses (a new sentence in a shipped set changes its digest;
a new Whisper, zhconv or cn2an changes the fingerprint).

The store is the ledger (``Ledger.cached_scores`` / ``store_scores``); this module only
needs its two methods (``ScoreStore``), so the gate never touches SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from ttsops.gate.results import UtteranceResult

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ttsops.gate.corpus import EvalSet
    from ttsops.gate.worker import ReferenceClip
    from ttsops.registry import ScoreRecord
    from ttsops.settings import GateSettings

__all__ = [
    "SCORER_VERSION",
    "CacheKey",
    "Cached",
    "ScoreStore",
    "cache_key",
    "load_cached",
    "scorer_fingerprint",
    "store_results",
]

SCORER_VERSION = "ttsops-gate-scores/3"
"""Bump whenever the gate's scoring changes (DNSMOS windowing, ASR search bounds, signal
checks, WER or CER normalisation, Whisper decoding, the seed derivation, the speaker
similarity): every cached score then misses. v3: CER (Whisper) on Mandarin sentences,
language-aware voices, speaker similarity."""

_LIBRARIES = (
    "onnxruntime",
    "piper-tts",
    "speechmos",
    "pocketsphinx",
    "jiwer",
    "pyloudnorm",
    "faster-whisper",
    "ctranslate2",
    "zhconv",
    "cn2an",
    "misaki",
    "open-voicefilter-lite",
)
"""Packages whose version shapes the audio or the scores; each is part of the fingerprint."""

SPEED = 1.0
"""Speaking rate every gate synthesizes at."""


class ScoreStore(Protocol):
    """Where scores are kept: the ledger's two cache methods."""

    def cached_scores(
        self, digest: str, eval_set_digest: str, scorer: str
    ) -> list[ScoreRecord]: ...  # pragma: no cover - a protocol

    def store_scores(
        self,
        digest: str,
        eval_set_digest: str,
        scorer: str,
        results: Mapping[str, dict[str, Any]],
    ) -> int: ...  # pragma: no cover - a protocol


@dataclass(frozen=True)
class CacheKey:
    """What must match for a stored score to be reused (with the bundle digest)."""

    eval_set_digest: str
    """Digest of the evaluation set."""

    scorer: str
    """``scorer_fingerprint`` of the settings in force."""


@dataclass(frozen=True)
class Cached:
    """A stored score read back."""

    result: UtteranceResult
    """The sentence's result, with the role of the side it now plays."""

    scored_at: datetime
    """When it was scored."""


@cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in _LIBRARIES:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            found.append((name, "absent"))
    return tuple(found)


def scorer_fingerprint(settings: GateSettings, references: Sequence[ReferenceClip] = ()) -> str:
    """sha256 (hex, 64) of everything besides the bundle and sentences that shapes a score."""
    data: dict[str, Any] = {
        "scorer": SCORER_VERSION,
        "synthesis_seed": settings.synthesis_seed,
        "speed": SPEED,
        "libraries": dict(_library_versions()),
    }
    if references:  # without references the key is what it was before they existed
        data["references"] = [_clip_digest(clip) for clip in references]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _clip_digest(clip: ReferenceClip) -> str:
    digest = hashlib.sha256(str(clip.sample_rate).encode() + b":")
    digest.update(clip.samples.astype("<f4").tobytes())
    return digest.hexdigest()


def cache_key(
    eval_set: EvalSet, settings: GateSettings, references: Sequence[ReferenceClip] = ()
) -> CacheKey:
    """The key of ``eval_set``'s scores under ``settings`` (and reference clips)."""
    return CacheKey(eval_set.digest, scorer_fingerprint(settings, references))


def load_cached(
    store: ScoreStore, digest: str, key: CacheKey, role: str, ids: Iterable[str]
) -> dict[str, Cached]:
    """Stored scores of bundle ``digest`` for the sentences ``ids``, as ``role``'s results.

    Results with a synthesis error are not reused (they are scored again).
    """
    wanted = set(ids)
    found: dict[str, Cached] = {}
    for record in store.cached_scores(digest, key.eval_set_digest, key.scorer):
        if record.utterance_id not in wanted:
            continue
        try:
            result = UtteranceResult.from_dict({**record.result, "role": role})
        except TypeError:
            continue  # written by another shape of UtteranceResult: score it again
        if result.error is None and result.id == record.utterance_id:
            found[record.utterance_id] = Cached(result, record.scored_at)
    return found


def store_results(
    store: ScoreStore, digest: str, key: CacheKey, results: Iterable[UtteranceResult]
) -> int:
    """Keep fresh, fully scored results of bundle ``digest``; how many were stored.

    Raises the store's ``TtsopsError`` (e.g. the ledger is unreachable).
    """
    scored = ("wer", "cer")
    rows = {
        r.id: r.to_dict()
        for r in results
        if r.error is None and any(k in r.metrics for k in scored)
    }
    return store.store_scores(digest, key.eval_set_digest, key.scorer, rows)
