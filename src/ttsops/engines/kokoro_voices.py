"""Kokoro voices: style tables, the language each speaks, and voice matching.

A Kokoro v1.0 voice is a float32 table of shape [510, 256]: the style vector for an
utterance of n phoneme tokens is row n. Voices mix linearly (a weighted mean of tables
is a voice in between), which is how a reference clip is matched: its speaker embedding
(:mod:`ttsops.speaker`) is compared with the embeddings of the bundle's pool of stock
voices (computed when the bundle was made), and the nearest few of the requested voice's
language are mixed, weighted by how similar each is. That is voice *matching*, not
cloning: the result sounds like the stock voices nearest the clip, never beyond them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ttsops.errors import EngineLoadError, InvalidInputError

__all__ = [
    "LANGUAGE_OF_PREFIX",
    "STYLE_DIM",
    "STYLE_ROWS",
    "Match",
    "VoiceMatcher",
    "language_of",
    "match_weights",
    "mix_styles",
    "parse_style",
    "reference_key",
]

FloatArray = npt.NDArray[np.float32]

STYLE_ROWS = 510
"""Rows of a style table: one per utterance length in tokens."""

STYLE_DIM = 256
"""Length of one style vector."""

LANGUAGE_OF_PREFIX = {"a": "en-US", "b": "en-GB", "z": "zh-CN"}
"""Language tag of a Kokoro voice by the first letter of its name (the ones ttsops speaks)."""

MATCH_TOP = 3
"""How many nearest stock voices a match mixes."""

MATCH_TEMPERATURE = 0.02
"""Softmax temperature over cosine similarities: lower trusts the nearest voice more."""

_CACHE_SIZE = 64


def language_of(voice: str) -> str:
    """The language a Kokoro voice speaks, from its name (``zm_yunxi`` → ``zh-CN``)."""
    speaks = ", ".join(f"{p}* {t}" for p, t in LANGUAGE_OF_PREFIX.items())
    if voice[1:2] not in ("f", "m") or voice[2:3] != "_":
        raise InvalidInputError(
            f"{voice!r} is not a Kokoro voice name: those start with a language letter, f or "
            f"m and '_' (zf_xiaobei, am_michael); ttsops speaks {speaks}"
        )
    lang = LANGUAGE_OF_PREFIX.get(voice[:1])
    if lang is None:
        raise InvalidInputError(
            f"voice {voice!r} speaks a language ({voice[:1]}*) the kokoro engine has no text "
            f"front end for; choose a voice of {speaks}"
        )
    return lang


def parse_style(data: bytes, where: str) -> FloatArray:
    """A style table from a voice file's bytes (float32, 510 × 256)."""
    expected = STYLE_ROWS * STYLE_DIM * 4
    if len(data) != expected:
        raise EngineLoadError(
            f"{where}: a Kokoro voice file holds {expected} bytes (float32 "
            f"[{STYLE_ROWS}, {STYLE_DIM}]), this one {len(data)}; re-create the bundle"
        )
    table = np.frombuffer(data, dtype="<f4").reshape(STYLE_ROWS, STYLE_DIM)
    if not np.all(np.isfinite(table)):
        raise EngineLoadError(f"{where}: the voice file holds NaN or infinite values")
    return table.astype(np.float32)


def mix_styles(tables: Sequence[FloatArray], weights: Sequence[float]) -> FloatArray:
    """The weighted mean of style tables (weights are normalised to sum to 1)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(tables) != len(w) or not len(w) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("mix_styles needs as many non-negative weights as tables, not all 0")
    w = w / w.sum()
    mixed = np.zeros((STYLE_ROWS, STYLE_DIM), dtype=np.float64)
    for table, weight in zip(tables, w, strict=True):
        mixed += weight * table
    return mixed.astype(np.float32)


def match_weights(
    similarities: Mapping[str, float],
    top: int = MATCH_TOP,
    temperature: float = MATCH_TEMPERATURE,
) -> dict[str, float]:
    """Weights of the ``top`` most similar voices: a softmax of their similarities."""
    ranked = sorted(similarities.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    if not ranked:
        return {}
    best = ranked[0][1]
    raw = {name: float(np.exp((sim - best) / temperature)) for name, sim in ranked}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def reference_key(samples: FloatArray, sample_rate: int) -> str:
    """A digest naming a reference clip (its rate and samples), for caching its match."""
    digest = hashlib.sha256(str(int(sample_rate)).encode())
    digest.update(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Match:
    """A reference clip matched to a mix of stock voices."""

    style: FloatArray
    """The mixed style table, [510, 256]."""

    weights: dict[str, float]
    """Stock voice → its weight in the mix (they sum to 1)."""

    similarities: dict[str, float]
    """Stock voice → cosine similarity of its embedding to the clip's."""


class VoiceMatcher:
    """Matches reference clips to the bundle's pool of stock voices; caches each match."""

    def __init__(
        self, styles: Mapping[str, FloatArray], embeddings: Mapping[str, FloatArray]
    ) -> None:
        self._styles = dict(styles)
        self._embeddings = {
            name: np.asarray(vec, dtype=np.float32)
            for name, vec in embeddings.items()
            if name in self._styles
        }
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], Match] = OrderedDict()

    @property
    def pool(self) -> tuple[str, ...]:
        """Voices a clip can be matched to."""
        return tuple(sorted(self._embeddings))

    def match(self, samples: FloatArray, sample_rate: int, language: str) -> Match:
        """The mix of this language's pool voices nearest the clip (cached per clip)."""
        key = (reference_key(samples, sample_rate), language)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        candidates = {n: e for n, e in self._embeddings.items() if language_of(n) == language}
        if not candidates:
            raise InvalidInputError(
                f"this bundle has no {language} voices to match a reference clip to; "
                "re-create it with `ttsops bundle kokoro` (it records the pool's embeddings)"
            )
        from ttsops import speaker

        clip = speaker.embed(samples, sample_rate)
        sims = {name: speaker.similarity(clip, vec) for name, vec in candidates.items()}
        weights = match_weights(sims)
        style = mix_styles([self._styles[n] for n in weights], list(weights.values()))
        result = Match(style=style, weights=weights, similarities=sims)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result
