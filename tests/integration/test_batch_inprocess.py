"""Batch synthesis in-process (--bundle) with the real joe voice: completeness and resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import soundfile

from ttsops.batch import BatchOptions, BatchSummary, BundleBackend, DirSink, run_batch


@pytest.fixture(scope="module")
def backend(joe_bundle: Path) -> BundleBackend:
    """The joe bundle loaded for in-process batches."""
    return BundleBackend(joe_bundle)


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _run(tasks: Path, backend: BundleBackend, out: Path) -> BatchSummary:
    return run_batch(tasks, backend, DirSink(out), BatchOptions(concurrency=2))


def _lines(count: int) -> list[dict[str, Any]]:
    return [
        {"input_text": f"Line {i}.", "output_name": f"part{i // 10}/n{i}"} for i in range(count)
    ]


def test_a_few_dozen_tasks_all_become_readable_audio(
    tmp_path: Path, backend: BundleBackend
) -> None:
    """Thirty tasks in-process give thirty readable files, each recorded once with its sha256."""
    tasks = _write(tmp_path / "tasks.jsonl", _lines(30))
    out = tmp_path / "out"
    summary = _run(tasks, backend, out)
    assert (summary.total, summary.done, summary.failed, summary.exit_code) == (30, 30, 0, 0)
    assert summary.audio_s > 10
    rows = _rows(out)
    assert len({r["path"] for r in rows}) == len(rows) == 30
    for row in rows:
        path = out / row["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        info = soundfile.info(path)
        assert abs(info.frames / info.samplerate - row["duration_s"]) < 0.01
        assert row["model_version"] == "joe@1.0.0"


def test_resume_skips_done_and_remakes_missing_or_changed(
    tmp_path: Path, backend: BundleBackend
) -> None:
    """A rerun makes only what is missing, corrupted or changed, and lists every file once."""
    lines = _lines(8)
    tasks = _write(tmp_path / "tasks.jsonl", lines)
    out = tmp_path / "out"
    assert _run(tasks, backend, out).done == 8
    again = _run(tasks, backend, out)
    assert (again.done, again.skipped) == (0, 8)
    (out / "part0/n1.wav").unlink()
    (out / "part0/n2.wav").write_bytes(b"corrupted")
    lines[3]["input_text"] = "A changed line."
    _write(tasks, lines)
    third = _run(tasks, backend, out)
    assert (third.done, third.skipped, third.exit_code) == (3, 5, 0)
    rows = _rows(out)
    assert sorted(r["path"] for r in rows) == sorted(f"part0/n{i}.wav" for i in range(8))
    for row in rows:
        assert hashlib.sha256((out / row["path"]).read_bytes()).hexdigest() == row["sha256"]


def test_engine_refusal_fails_one_task_and_the_batch_goes_on(
    tmp_path: Path, backend: BundleBackend
) -> None:
    """An unknown voice fails its own task (with the engine's message); the others are made."""
    tasks = _write(
        tmp_path / "tasks.jsonl",
        [
            {"input_text": "One.", "output_name": "one"},
            {"input_text": "Two.", "output_name": "two", "voice": "nobody"},
            {"input_text": "Three.", "output_name": "three", "response_format": "mp3"},
        ],
    )
    out = tmp_path / "out"
    summary = _run(tasks, backend, out)
    assert (summary.done, summary.failed, summary.exit_code) == (2, 1, 3)
    (failure,) = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert failure["line"] == 2
    assert "unknown voice 'nobody'" in failure["error"]
    assert (out / "three.mp3").stat().st_size > 0
