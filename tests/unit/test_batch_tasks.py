"""Reading and validating batch task lines from JSONL."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from ttsops.batch import BadLine, Task, TaskDefaults, read_tasks
from ttsops.batch.tasks import count_lines, final_name
from ttsops.errors import BatchError


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _read(path: Path, defaults: TaskDefaults | None = None) -> list[Task | BadLine]:
    return list(read_tasks(path, defaults))


def test_good_line_gets_defaults_extension_and_extras(tmp_path: Path) -> None:
    """A minimal line becomes a task with the default format's extension and its extra fields."""
    path = _write(
        tmp_path / "t.jsonl",
        [{"input_text": "Hello.", "output_name": "ch01/p001", "speaker": "A", "n": 3}],
    )
    (task,) = _read(path)
    assert isinstance(task, Task)
    assert task.line == 1
    assert task.path == "ch01/p001.wav"
    assert task.response_format == "wav"
    assert task.speed == 1.0
    assert task.voice is None
    assert task.sample_rate is None
    assert task.extra == {"speaker": "A", "n": 3}


def test_output_name_extension_is_kept_or_appended(tmp_path: Path) -> None:
    """A name with the format's extension is kept; an audio extension picks the format."""
    path = _write(
        tmp_path / "t.jsonl",
        [
            {"input_text": "a", "output_name": "a.mp3"},
            {"input_text": "b", "output_name": "b.mp3", "response_format": "wav"},
            {"input_text": "c", "output_name": "c.v2", "response_format": "flac"},
            {"input_text": "d", "output_name": "./x//d.OPUS"},
        ],
    )
    tasks = _read(path, TaskDefaults(response_format="wav"))
    assert [(t.path, t.response_format) for t in tasks if isinstance(t, Task)] == [
        ("a.mp3", "mp3"),
        ("b.mp3.wav", "wav"),
        ("c.v2.flac", "flac"),
        ("x/d.OPUS", "opus"),
    ]
    assert final_name("z.wav", "wav") == "z.wav"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"output_name": "x"}, 'missing required field "input_text"'),
        ({"input_text": "  ", "output_name": "x"}, '"input_text" must be a non-empty string'),
        ({"input_text": "hi"}, 'missing required field "output_name"'),
        ({"input_text": "hi", "output_name": 7}, '"output_name" must be a non-empty string'),
        ({"input_text": "hi", "output_name": "../x"}, "escapes the output directory"),
        ({"input_text": "hi", "output_name": "a/../../x"}, "escapes the output directory"),
        ({"input_text": "hi", "output_name": "/etc/x"}, "is absolute"),
        ({"input_text": "hi", "output_name": "a\\b"}, "backslash"),
        ({"input_text": "hi", "output_name": "dir/"}, "names a directory"),
        ({"input_text": "hi", "output_name": ".ttsops-batch/x"}, "which ttsops keeps"),
        ({"input_text": "hi", "output_name": "x" * 300}, "shorten it"),
        ({"input_text": "hi", "output_name": "x", "speed": 9}, "out of range"),
        ({"input_text": "hi", "output_name": "x", "speed": "fast"}, '"speed" must be a number'),
        ({"input_text": "hi", "output_name": "x", "response_format": "ogg"}, "is not one of"),
        ({"input_text": "hi", "output_name": "x", "sample_rate": 16000.5}, "positive integer"),
        ({"input_text": "hi", "output_name": "x", "voice": 3}, '"voice" must be'),
    ],
)
def test_bad_line_is_reported_with_its_number_and_reading_goes_on(
    tmp_path: Path, line: object, words: str
) -> None:
    """A bad line becomes a BadLine naming its line number and the problem; the next line reads."""
    path = _write(
        tmp_path / "t.jsonl",
        [
            {"input_text": "ok", "output_name": "first"},
            line,
            {"input_text": "ok", "output_name": "z"},
        ],
    )
    first, bad, last = _read(path)
    assert isinstance(first, Task)
    assert isinstance(last, Task)
    assert isinstance(bad, BadLine)
    assert bad.line == 2
    assert words in bad.reason


def test_non_utf8_line_is_bad_and_reading_goes_on(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 make one bad line, not a crash."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        b'{"input_text": "caf\xe9", "output_name": "a"}\n{"input_text": "b", "output_name": "b"}\n'
    )
    bad, good = _read(path)
    assert isinstance(bad, BadLine)
    assert "not UTF-8" in bad.reason
    assert isinstance(good, Task)


def test_duplicate_output_name_first_wins(tmp_path: Path) -> None:
    """The first line writing a path wins; later lines writing the same path are bad lines."""
    path = _write(
        tmp_path / "t.jsonl",
        [
            {"input_text": "one", "output_name": "a"},
            {"input_text": "two", "output_name": "a.wav"},
            {"input_text": "three", "output_name": "a", "response_format": "mp3"},
        ],
    )
    first, dup, other = _read(path)
    assert isinstance(first, Task) and first.input_text == "one"
    assert isinstance(dup, BadLine) and dup.line == 2 and "already writes" in dup.reason
    assert isinstance(other, Task) and other.path == "a.mp3"


def test_blank_lines_are_skipped_but_counted_in_line_numbers(tmp_path: Path) -> None:
    """Blank lines are ignored; line numbers still match the file, and a BOM is accepted."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"input_text": "a", "output_name": "a"}\n\n   \n'
        b'{"input_text": "b", "output_name": "b"}'
    )
    tasks = _read(path)
    assert [t.line for t in tasks] == [1, 4]
    assert count_lines(path) == 2


def test_missing_tasks_file_is_a_batch_error(tmp_path: Path) -> None:
    """A tasks file that does not exist is a BatchError naming it."""
    with pytest.raises(BatchError, match=r"nope\.jsonl does not exist"):
        _read(tmp_path / "nope.jsonl")


def _peak_reading(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for item in read_tasks(path) if isinstance(item, Task))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def _jsonl(path: Path, lines: int, text: str) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps({"input_text": f"{i} {text}", "output_name": f"p{i}"}) + "\n")
    return path


def test_reading_100k_lines_streams_in_flat_memory(tmp_path: Path) -> None:
    """Reading 100,000 lines keeps only the output names: 40 MB more text costs no memory."""
    long_text = "This sentence is here to make every line of the file long enough to matter. " * 5
    big = _jsonl(tmp_path / "big.jsonl", 100_000, long_text)
    small = _jsonl(tmp_path / "small.jsonl", 100_000, "Hi.")
    count_big, peak_big = _peak_reading(big)
    count_small, peak_small = _peak_reading(small)
    extra_text = big.stat().st_size - small.stat().st_size
    assert count_big == count_small == 100_000
    assert extra_text > 35_000_000
    assert peak_big - peak_small < 1_000_000, (
        f"peak {peak_big / 1e6:.1f} MB with long texts vs {peak_small / 1e6:.1f} MB with short"
    )
    assert peak_big < big.stat().st_size / 3
