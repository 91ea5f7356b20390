"""Cutting text into speakable pieces."""

from __future__ import annotations

from ttsops.engines.text import clean_text, split_text


def test_sentences_become_pieces() -> None:
    """Each sentence is its own piece, in order."""
    assert split_text("Hello there. How are you? Fine!") == [
        "Hello there.",
        "How are you?",
        "Fine!",
    ]


def test_long_unpunctuated_text_is_cut_without_losing_words() -> None:
    """Text with no punctuation is cut at spaces into short pieces and nothing is dropped."""
    words = [f"word{i}" for i in range(400)]
    pieces = split_text(" ".join(words), max_chars=120)
    assert all(len(p) <= 120 for p in pieces)
    assert " ".join(pieces).split() == words


def test_long_sentence_prefers_clause_boundaries() -> None:
    """A long sentence is cut after a comma rather than mid-clause."""
    text = ("alpha beta gamma delta " * 6).strip() + ", " + ("epsilon zeta eta " * 6).strip()
    pieces = split_text(text, max_chars=160)
    assert pieces[0].endswith(",")
    assert " ".join(pieces).split() == text.split()


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    """One enormous token is still fully kept, in pieces of at most the limit."""
    pieces = split_text("x" * 1000, max_chars=100)
    assert "".join(pieces) == "x" * 1000
    assert max(len(p) for p in pieces) <= 100


def test_a_long_first_sentence_is_cut_at_a_comma_for_early_audio() -> None:
    """The first piece stops at a clause mark when the first sentence is long; words all kept."""
    text = (
        "The city council met on Tuesday evening to discuss the future of the old railway "
        "station, which has stood empty for almost twenty years. The second sentence stays."
    )
    pieces = split_text(text)
    assert pieces[0].endswith("station,")
    assert pieces[-1] == "The second sentence stays."
    assert " ".join(pieces).split() == text.split()


def test_control_characters_are_stripped() -> None:
    """NUL, bell and escape go; newlines and the words stay."""
    assert clean_text("Hel\x00lo\x07 wor\x1bld\nagain") == "Hello world\nagain"
