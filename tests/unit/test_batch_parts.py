"""Cutting a long task into parts a server accepts, and joining the parts' audio."""

from __future__ import annotations

import io
import wave

import pytest

from ttsops.batch.client import Audio, TaskError
from ttsops.batch.parts import MIN_PART_CHARS, join_parts, pack, smaller_limit
from ttsops.batch.tasks import Task

SENTENCES = [f"This is sentence number {i}, and it says a little more." for i in range(30)]


def _task(fmt: str = "wav", rate: int | None = None) -> Task:
    return Task(1, "text", "ch01", f"ch01.{fmt}", fmt, None, 1.0, rate)  # type: ignore[arg-type]


def _pcm(samples: int, version: str = "joe@1.0.0") -> Audio:
    return Audio(b"\x01\x00" * samples, samples / 22050, 22050, version, "d1g", 0.5)


def test_parts_fit_keep_order_and_drop_no_word() -> None:
    """Sentences are packed in order, each part within the limit, every word kept."""
    text = " ".join(SENTENCES)
    parts = pack(text, 200)
    assert all(len(p) <= 200 for p in parts) and len(parts) < len(SENTENCES)
    assert " ".join(parts).split() == text.split()
    assert all(p.endswith(".") for p in parts)  # cut between sentences, not inside one


def test_a_sentence_longer_than_the_limit_is_cut_at_a_clause() -> None:
    """One 300-character sentence with commas becomes parts under 120, cut after a comma."""
    sentence = ", ".join(f"clause {i} goes on for a while" for i in range(10)) + "."
    parts = pack(sentence, 120)
    assert all(len(p) <= 120 for p in parts) and len(parts) > 1
    assert all(p.endswith(",") for p in parts[:-1])
    assert " ".join(parts).split() == sentence.split()


def test_a_413_lowers_the_limit_to_what_the_server_says() -> None:
    """The server's "the limit is N" is taken; without it, half; too small fails the task."""
    said = TaskError("server answered 413: input is 900 characters; the limit is 200.", "x")
    assert smaller_limit(said, 1000) == 200
    assert smaller_limit(TaskError("server answered 413: too long", "x"), 1000) == 500
    tiny = TaskError("input is 100 characters; the limit is 10. Use `ttsops batch`", "x")
    with pytest.raises(TaskError, match=r"its limit is 10.*max_input_chars") as caught:
        smaller_limit(tiny, 100)
    assert "ttsops batch" not in caught.value.message  # no advice to use what is running
    assert smaller_limit(TaskError("?", "x"), 2 * MIN_PART_CHARS) == MIN_PART_CHARS


def test_joined_wav_is_every_sample_once_with_exact_sizes() -> None:
    """Three pcm parts become one wav at the model's rate, its length their sum."""
    audio = join_parts(_task(), [_pcm(1000), _pcm(2000), _pcm(500)], 22050)
    with wave.open(io.BytesIO(audio.data)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (22050, 3500)
    assert audio.duration_s == pytest.approx(3500 / 22050)
    assert audio.latency_s == pytest.approx(1.5) and audio.model_version == "joe@1.0.0"


def test_parts_from_two_versions_are_not_joined() -> None:
    """A rollout between two parts: the task fails, naming both versions, instead of mixing."""
    with pytest.raises(TaskError, match=r"joe@1\.0\.0 and joe@1\.1\.0") as caught:
        join_parts(_task(), [_pcm(1000), _pcm(1000, "joe@1.1.0")], 22050)
    assert caught.value.code == "mixed_versions"
