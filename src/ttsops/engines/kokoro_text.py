"""Kokoro's text front end: text to phonemes (Mandarin, English), cut under the token limit.

Mandarin goes through ``misaki.zh.ZHG2P`` (pinyin via jieba + pypinyin, numbers and dates
read in Chinese via cn2an). Kokoro v1.0 uses ZHG2P's legacy path, which ignores its
``en_callable`` and passes Latin letters through as raw symbols (spoken as garbage), so this
front end cuts Latin runs out itself and gives them to the English phonemiser. English is
misaki's espeak-ng fallback (``espeakng-loader`` + ``phonemizer-fork``).

Pieces: sentences end at 。！？； (and . ! ? ; before a space, and newlines); the first
clause (up to the first ，、,：) is a piece of its own so streamed audio starts after it; a
longer stretch is packed clause by clause up to :data:`TARGET_TOKENS`, a clause over
:data:`MAX_TOKENS` is cut between words, and a word over it between phonemes. Nothing is
ever truncated: every phoneme of the text is in exactly one piece.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from ttsops.engines.text import clean_text
from ttsops.errors import EngineLoadError

__all__ = [
    "MAX_TOKENS",
    "TARGET_TOKENS",
    "EnglishPhonemizer",
    "FrontEnd",
    "MandarinPhonemizer",
    "Phonemizer",
    "Piece",
    "jieba_words",
    "make_phonemizer",
    "normalize_numbers_zh",
    "normalizer_for",
    "split_clauses",
    "split_sentences",
    "words_for",
]

MAX_TOKENS = 510
"""Most phoneme tokens Kokoro takes in one call (512 with the two padding tokens)."""

TARGET_TOKENS = 200
"""Clauses are packed into one piece up to this many tokens (about 40 Chinese characters).

Kokoro's decoder holds tensors the size of the piece's audio: one synthesis peaked at
0.5–2.7 GB of memory for 13 s of audio (300 tokens), less for shorter pieces."""

Phonemizer = Callable[[str], str]
"""Text in one language → Kokoro phoneme string."""

_SENTENCE_END = re.compile(r"[。！？；!?…]+[\"'”’」』）)\]]*\s*|[.;][\"'”’)\]]*(?:\s+|$)|\n\s*")
_CLAUSE_END = re.compile(r"(?<=[，、：—])\s*|(?<=[,:])\s+")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:\s+[A-Za-z][A-Za-z'’\-]*)*")
_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?!\d)")
_LONG_DIGITS = re.compile(r"\d{7,}")
_DIGITS_ZH = str.maketrans("0123456789", "零一二三四五六七八九")
_LOG_QUIET = threading.Lock()
_ESPEAK_LOCK = threading.Lock()  # espeak-ng is a C library with global state


@dataclass(frozen=True)
class Piece:
    """One call's worth of text: what it says and the phonemes the model gets."""

    text: str
    """The text this piece speaks."""

    phonemes: str
    """Its Kokoro phoneme string."""

    tokens: tuple[int, ...]
    """Token ids of the phonemes (at most :data:`MAX_TOKENS`), without the padding."""


def split_sentences(text: str) -> list[str]:
    """Cut text into sentences at 。！？； (or . ! ? ; before a space, or a newline).

    A run of marks (……, ？！) and closing quotes stay with the sentence they end.
    """
    out = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        out.append(text[start : match.end()])
        start = match.end()
    out.append(text[start:])
    return [" ".join(s.split()) for s in out if s.strip()]


def split_clauses(sentence: str) -> list[str]:
    """Cut a sentence into clauses after ，、： and dashes, or , : before a space (1,000 stays)."""
    return [c.strip() for c in _CLAUSE_END.split(sentence) if c.strip()]


def normalize_numbers_zh(text: str) -> str:
    """Write numbers, dates and times in Chinese characters, as a reader would say them.

    Times (12:30 → 十二点三十分) and long digit strings such as phone numbers (digit by
    digit) first, the rest with cn2an (2024年3月5日 → 二零二四年三月五日, 3.5 → 三点五).
    """
    import cn2an

    text = _TIME.sub(lambda m: f"{int(m.group(1))}点{int(m.group(2))}分", text)
    text = _LONG_DIGITS.sub(lambda m: m.group(0).translate(_DIGITS_ZH), text)
    return str(cn2an.transform(text, "an2cn"))


class EnglishPhonemizer:
    """English through misaki's espeak-ng fallback (American, or British for b* voices)."""

    def __init__(self, british: bool = False) -> None:
        try:
            from misaki.espeak import EspeakFallback
        except ImportError as exc:
            raise EngineLoadError(
                f"the kokoro engine's English front end is missing ({exc}); install "
                "ttsops with its dependencies (misaki, espeakng-loader, phonemizer-fork)"
            ) from None
        with _ESPEAK_LOCK:
            self._fallback = EspeakFallback(british=british)

    def __call__(self, text: str) -> str:
        """Phonemes of ``text``."""
        if not text.strip():
            return ""
        with _ESPEAK_LOCK:
            phonemes, _ = self._fallback(SimpleNamespace(text=text))
        return str(phonemes or "")


class MandarinPhonemizer:
    """Mandarin through misaki's ZHG2P; Latin words inside it through ``english``."""

    def __init__(self, english: Phonemizer) -> None:
        try:
            import jieba
            from misaki.zh import ZHG2P
        except ImportError as exc:
            raise EngineLoadError(
                f"the kokoro engine's Mandarin front end is missing ({exc}); install "
                "ttsops with its dependencies (misaki, jieba, pypinyin, cn2an)"
            ) from None
        with _LOG_QUIET:
            import logging

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()  # the dictionary (about 1 s), now rather than on the first call
        self._g2p = ZHG2P()
        self._english = english

    def __call__(self, text: str) -> str:
        """Phonemes of ``text`` (Chinese, possibly with Latin words and digits)."""
        text = normalize_numbers_zh(text)
        parts: list[str] = []
        last = 0
        for match in _LATIN_RUN.finditer(text):
            parts.append(self._zh(text[last : match.start()]))
            parts.append(self._english(match.group(0)))
            last = match.end()
        parts.append(self._zh(text[last:]))
        return " ".join(p for p in parts if p)

    def _zh(self, text: str) -> str:
        if not text.strip():
            return ""
        phonemes, _ = self._g2p(text)
        return " ".join(str(phonemes).split())


def make_phonemizer(language: str) -> Phonemizer:
    """The phonemiser for a language tag (``zh-CN``, ``en-US``, ``en-GB``)."""
    primary = language.split("-")[0].lower()
    if primary == "zh":
        return MandarinPhonemizer(EnglishPhonemizer())
    if primary == "en":
        return EnglishPhonemizer(british=language.lower() == "en-gb")
    raise EngineLoadError(
        f"the kokoro engine has no front end for language {language!r}; it speaks "
        "zh-CN, en-US and en-GB"
    )


class FrontEnd:
    """Text → pieces of at most :data:`MAX_TOKENS` tokens, for one language."""

    def __init__(
        self,
        phonemize: Phonemizer,
        vocab: Mapping[str, int],
        *,
        words: Callable[[str], list[str]] | None = None,
        normalize: Callable[[str], str] | None = None,
        max_tokens: int = MAX_TOKENS,
        target_tokens: int = TARGET_TOKENS,
    ) -> None:
        self._phonemize = phonemize
        self._vocab = dict(vocab)
        self._words = words or _space_words
        self._normalize = normalize or _same
        self.max_tokens = max_tokens
        self.target_tokens = min(target_tokens, max_tokens)

    def tokenize(self, phonemes: str) -> tuple[int, ...]:
        """Token ids of a phoneme string; symbols the model does not know are left out."""
        return tuple(self._vocab[ch] for ch in phonemes if ch in self._vocab)

    def pieces(self, text: str) -> Iterator[Piece]:
        """The pieces of ``text`` in order, made lazily (the first one is ready first)."""
        sentences = split_sentences(self._normalize(clean_text(text)))
        for index, sentence in enumerate(sentences):
            clauses = [self._piece(c) for c in split_clauses(sentence)]
            if index == 0 and len(clauses) > 1:  # first audio after the first clause
                yield from self._fit(clauses[0])
                clauses = clauses[1:]
            yield from self._pack(clauses)

    def _piece(self, text: str) -> Piece:
        phonemes = self._phonemize(text)
        return Piece(text=text, phonemes=phonemes, tokens=self.tokenize(phonemes))

    def _pack(self, clauses: list[Piece]) -> Iterator[Piece]:
        """Join neighbouring clauses while they fit ``target_tokens``."""
        current: Piece | None = None
        for clause in clauses:
            if current is not None:
                joined = _join(current, clause, self._vocab)
                if len(joined.tokens) <= self.target_tokens:
                    current = joined
                    continue
                yield from self._fit(current)
            current = clause
        if current is not None:
            yield from self._fit(current)

    def _fit(self, piece: Piece) -> Iterator[Piece]:
        """The piece itself if it fits ``max_tokens``, else cut between words, then phonemes.

        Words are packed up to ``target_tokens`` (not the limit) so a long unpunctuated
        text still starts speaking after a short piece.
        """
        if len(piece.tokens) <= self.max_tokens:
            yield piece
            return
        words = [self._piece(w) for w in self._words(piece.text)]
        if len(words) <= 1:
            yield from self._hard_cut(piece)
            return
        yield from _pack_words(words, self._vocab, self.target_tokens, self._hard_cut)

    def _hard_cut(self, piece: Piece) -> Iterator[Piece]:
        """Cut a phoneme string with no word break into runs of ``max_tokens`` tokens."""
        run: list[str] = []
        count = 0
        for ch in piece.phonemes:
            known = ch in self._vocab
            if known and count == self.max_tokens:
                yield _piece_of(piece.text, "".join(run), self._vocab)
                run, count = [], 0
            run.append(ch)
            count += known
        if run:
            yield _piece_of(piece.text, "".join(run), self._vocab)


def _pack_words(
    words: list[Piece],
    vocab: Mapping[str, int],
    limit: int,
    hard_cut: Callable[[Piece], Iterator[Piece]],
) -> Iterator[Piece]:
    current: Piece | None = None
    for word in words:
        if len(word.tokens) > limit:
            if current is not None:
                yield current
                current = None
            yield from hard_cut(word)
            continue
        if current is not None:
            joined = _join(current, word, vocab)
            if len(joined.tokens) <= limit:
                current = joined
                continue
            yield current
        current = word
    if current is not None:
        yield current


def _join(a: Piece, b: Piece, vocab: Mapping[str, int]) -> Piece:
    sep = "" if _is_cjk(a.text[-1:]) or _is_cjk(b.text[:1]) else " "
    return _piece_of(f"{a.text}{sep}{b.text}".strip(), f"{a.phonemes} {b.phonemes}", vocab)


def _piece_of(text: str, phonemes: str, vocab: Mapping[str, int]) -> Piece:
    return Piece(
        text=text, phonemes=phonemes, tokens=tuple(vocab[ch] for ch in phonemes if ch in vocab)
    )


def _same(text: str) -> str:
    return text


def _space_words(text: str) -> list[str]:
    return text.split()


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")


def jieba_words(text: str) -> list[str]:
    """Mandarin words of ``text`` (jieba), Latin runs kept whole."""
    import jieba

    return [w for w in (str(x).strip() for x in jieba.lcut(text, cut_all=False)) if w]


def words_for(language: str) -> Callable[[str], list[str]]:
    """How text in a language is cut into words: jieba for Mandarin, spaces otherwise."""
    return jieba_words if language.lower().startswith("zh") else _space_words


def normalizer_for(language: str) -> Callable[[str], str]:
    """What is done to the whole text before it is cut: Mandarin numbers, else nothing."""
    return normalize_numbers_zh if language.lower().startswith("zh") else _same
