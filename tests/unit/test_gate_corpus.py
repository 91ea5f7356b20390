"""The evaluation set: the shipped one is versioned; a team's own is read from a file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ttsops.errors import GateError
from ttsops.gate.corpus import DEFAULT_SET_VERSION, load_eval_set

# Changing data/eval_en.jsonl or eval_en_extra.jsonl changes this digest: bump
# DEFAULT_SET_VERSION with it (v2 added the extended pool; its core is v1's file).
SHIPPED = {"2": "3f464fcb6fff6c31a9ba470198dc06d36408c205ba24e93398f1241d2d6a2d55"}
CORE_V1 = "cf57a81efa43e1bf2894792a497c097ec3a17a6fda48e42af5f47af37499b22b"


def test_shipped_set_is_thirty_stressful_sentences() -> None:
    """30 sentences with unique ids, spoken-form references and every stress category."""
    shipped = load_eval_set()
    assert len(shipped.utterances) == 30
    assert len({u.id for u in shipped.utterances}) == 30
    assert {"numbers", "dates", "abbreviations", "questions", "long", "names"} <= {
        u.tag for u in shipped.utterances
    }
    assert all(not any(ch.isdigit() for ch in u.reference) for u in shipped.utterances)


def test_the_extended_pool_is_thirty_more_of_the_same_kinds() -> None:
    """30 reserve sentences, ids unlike the core's, spoken-form references, the same tags."""
    shipped = load_eval_set()
    assert len(shipped.extra) == 30
    assert not {u.id for u in shipped.extra} & {u.id for u in shipped.utterances}
    assert {u.tag for u in shipped.extra} == {u.tag for u in shipped.utterances}
    assert all(not any(ch.isdigit() for ch in u.reference) for u in shipped.extra)
    assert [u.id for u in shipped.pool[:30]] == [u.id for u in shipped.utterances]
    assert shipped.limit(5).extra == ()


def test_the_core_is_unchanged_from_v1() -> None:
    """The core file is v1's byte for byte: a v1 report's 30 sentences are v2's core."""
    from importlib.resources import files

    data = files("ttsops.gate").joinpath("data", "eval_en.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CORE_V1


def test_shipped_set_version_pins_its_content() -> None:
    """The version names exactly one content: an edit without a version bump fails here."""
    shipped = load_eval_set()
    assert shipped.version == DEFAULT_SET_VERSION
    assert SHIPPED[shipped.version] == shipped.digest


def test_text_file_one_sentence_per_line(tmp_path: Path) -> None:
    """A text file gives one utterance per non-empty, non-comment line; text is the reference."""
    path = tmp_path / "mine.txt"
    path.write_text("# our set\nHello there.\n\nHow are you?\n", encoding="utf-8")
    mine = load_eval_set(path)
    assert [u.text for u in mine.utterances] == ["Hello there.", "How are you?"]
    assert mine.utterances[0].reference == "Hello there."
    assert (mine.name, mine.version) == ("mine.txt", "file")


def test_jsonl_with_references_and_limit(tmp_path: Path) -> None:
    """JSONL lines carry text and reference; limit keeps the first N."""
    path = tmp_path / "mine.jsonl"
    path.write_text(
        '{"id": "a", "text": "It costs $5.", "reference": "it costs five dollars"}\n'
        '{"text": "Goodbye."}\n',
        encoding="utf-8",
    )
    mine = load_eval_set(path)
    assert mine.utterances[0].reference == "it costs five dollars"
    assert mine.utterances[1].id == "s02"
    assert [u.id for u in mine.limit(1).utterances] == ["a"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
        ('{"reference": "no text"}\n', 'line 1 has no "text"'),
        ('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', "appears twice"),
        ("\n\n", "has no sentences"),
    ],
)
def test_bad_jsonl_says_where(tmp_path: Path, content: str, message: str) -> None:
    """A malformed set is refused naming the line and the fix."""
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GateError, match=message):
        load_eval_set(path)


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    """A set that does not exist points at [gate] eval_set and --eval-set."""
    with pytest.raises(GateError, match="eval_set"):
        load_eval_set(tmp_path / "nope.txt")
