"""Cutting input text into pieces an engine speaks one at a time.

Sentences are the natural unit (streaming sends each as soon as it exists). A sentence
longer than ``max_chars`` is cut at the last clause mark (, ; :) that fits, else at the
last space, else hard, so text without punctuation is spoken in full and each piece is
short enough to cancel quickly.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_text", "split_text"]

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n\s*\n|\n(?=\s*[-*•\d])")
_CLAUSE = re.compile(r"[,;:—–]\s")
_CONTROL_KEEP = {"\n", "\t"}


def clean_text(text: str) -> str:
    """Strip control characters (except newline and tab) and normalise to NFC."""
    text = unicodedata.normalize("NFC", text)
    return "".join(
        ch for ch in text if ch in _CONTROL_KEEP or not unicodedata.category(ch).startswith("C")
    )


def split_text(text: str, max_chars: int = 240, first_max: int = 100) -> list[str]:
    """Split into sentences, then cut any longer than ``max_chars``; no text is dropped.

    A first sentence longer than ``first_max`` is cut at its last clause mark within
    that length, so streamed audio starts sooner (the voice pauses there anyway).
    """
    pieces: list[str] = []
    for raw in _SENTENCE_END.split(text):
        sentence = " ".join(raw.split())
        if sentence:
            pieces.extend(_cut(sentence, max_chars))
    if pieces and len(pieces[0]) > first_max:
        cut = _last_clause(pieces[0][: first_max + 1])
        if cut >= first_max // 4:
            head, tail = pieces[0][:cut].strip(), pieces[0][cut:].strip()
            pieces[:1] = [head, tail]
    return pieces


def _cut(sentence: str, max_chars: int) -> list[str]:
    out: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[: max_chars + 1]
        cut = _last_clause(window)
        if cut < max_chars // 3:
            space = window.rfind(" ")
            cut = space if space >= max_chars // 3 else max_chars
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        out.append(rest)
    return out


def _last_clause(window: str) -> int:
    best = -1
    for match in _CLAUSE.finditer(window):
        best = match.start() + 1
    return best
