"""Batch synthesis against a real `ttsops serve` of the joe voice over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import threading
import time
import wave
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile

from ttsops.batch import BatchOptions, BatchSummary, HttpBackend, open_sink, run_batch
from ttsops.errors import BatchError
from ttsops.testing import ServerProcess


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(
    tasks: Path,
    url: str,
    out: Path | None = None,
    zip_path: Path | None = None,
    options: BatchOptions | None = None,
) -> BatchSummary:
    backend = HttpBackend(url, timeout_s=60)
    try:
        return run_batch(tasks, backend, open_sink(out, zip_path), options)
    finally:
        backend.close()


def _sentences(count: int) -> list[dict[str, Any]]:
    return [
        {"input_text": f"Sentence number {i}.", "output_name": f"s{i:03d}"} for i in range(count)
    ]


def test_mixed_file_makes_the_good_lines_and_reports_the_bad(
    tmp_path: Path, joe_server: ServerProcess
) -> None:
    """Good lines become audio with checksums and versions; bad ones are listed by line number."""
    tasks = _write(
        tmp_path / "tasks.jsonl",
        [
            {"input_text": "Hello there.", "output_name": "ch01/a", "chapter": 1},
            "this is not json",
            {"input_text": "Second good line.", "output_name": "b.mp3", "speed": 1.2},
            {"input_text": "Duplicate.", "output_name": "ch01/a"},
            {"input_text": "Escape.", "output_name": "../evil"},
            {"output_name": "no-text"},
            {"input_text": "Unknown voice.", "output_name": "c", "voice": "nobody"},
            {"input_text": "Clone me.", "output_name": "d", "prompt_audio": "ref.wav"},
            {"input_text": "Resampled.", "output_name": "e", "sample_rate": 16000},
        ],
    )
    out = tmp_path / "out"
    summary = _run(tasks, joe_server.url, out)
    assert (summary.done, summary.failed, summary.bad_lines) == (3, 2, 4)
    assert summary.exit_code == 3
    results = _jsonl(out / "results.jsonl")
    assert sorted(r["path"] for r in results) == ["b.mp3", "ch01/a.wav", "e.wav"]
    for row in results:
        data = (out / row["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert row["model_version"] == "joe@1.0.0"
        assert row["duration_s"] > 0.3
    by_path = {r["path"]: r for r in results}
    assert by_path["ch01/a.wav"]["extra"] == {"chapter": 1}
    assert soundfile.info(out / "e.wav").samplerate == 16000
    assert soundfile.info(out / "ch01/a.wav").samplerate == 22050
    with wave.open(str(out / "ch01/a.wav")) as reader:  # sizes are real, not "streaming"
        seconds = reader.getnframes() / reader.getframerate()
    assert seconds == pytest.approx(by_path["ch01/a.wav"]["duration_s"], abs=1e-3)
    failed = {row["line"]: row for row in _jsonl(out / "failed.jsonl")}
    assert sorted(failed) == [2, 4, 5, 6, 7, 8]
    assert failed[7]["code"] == "invalid_input" and failed[7]["attempts"] == 1
    assert "cannot use a reference voice" in failed[8]["error"]
    assert not (tmp_path / "evil.wav").exists()


def test_zip_mode_holds_each_file_once_and_rerun_changes_nothing(
    tmp_path: Path, joe_server: ServerProcess
) -> None:
    """--zip writes one zip whose members match results.jsonl; a rerun skips every task."""
    tasks = _write(tmp_path / "tasks.jsonl", _sentences(6))
    target = tmp_path / "book.zip"
    first = _run(tasks, joe_server.url, zip_path=target)
    assert (first.done, first.exit_code) == (6, 0)
    results = _jsonl(tmp_path / "book.results.jsonl")
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted([f"s{i:03d}.wav" for i in range(6)] + ["results.jsonl"])
        for row in results:
            assert hashlib.sha256(zf.read(row["path"])).hexdigest() == row["sha256"]
        assert len(zf.read("results.jsonl").splitlines()) == 6
    stamp = target.stat().st_mtime_ns
    second = _run(tasks, joe_server.url, zip_path=target)
    assert (second.done, second.skipped, second.exit_code) == (0, 6, 0)
    assert target.stat().st_mtime_ns == stamp
    assert len(_jsonl(tmp_path / "book.results.jsonl")) == 6


def test_default_concurrency_follows_the_servers_pool(
    tmp_path: Path, joe_server: ServerProcess
) -> None:
    """Without --concurrency the batch keeps each server worker busy plus one waiting request."""
    info = httpx.get(f"{joe_server.url}/version").json()
    tasks = _write(tmp_path / "tasks.jsonl", _sentences(1))
    summary = _run(tasks, joe_server.url, tmp_path / "out")
    assert summary.concurrency == info["workers"] + min(info["workers"], info["queue_size"])


def test_unreachable_server_is_a_batch_error_naming_the_url(tmp_path: Path) -> None:
    """A server that does not answer stops the batch before it starts, naming the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tasks = _write(tmp_path / "tasks.jsonl", _sentences(1))
    with pytest.raises(BatchError, match=f"127.0.0.1:{port}"):
        _run(tasks, f"http://127.0.0.1:{port}", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_server_restart_mid_batch_is_ridden_out_by_retries(
    tmp_path: Path, joe_bundle: Path
) -> None:
    """The server is killed and restarted mid-batch; retries carry every task to done."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tasks = _write(tmp_path / "tasks.jsonl", _sentences(16))
    out = tmp_path / "out"
    with ServerProcess(joe_bundle, extra_args=["--port", str(port)]) as server:
        outcome: dict[str, BatchSummary] = {}
        batch = threading.Thread(
            target=lambda: outcome.setdefault(
                "summary",
                _run(
                    tasks,
                    server.url,
                    out,
                    options=BatchOptions(concurrency=2, retries=40, max_backoff_s=1.0),
                ),
            )
        )
        batch.start()
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 3:
                break
            time.sleep(0.05)
        server.signal(signal.SIGKILL)
        assert server.proc is not None
        server.proc.wait()
        server.start()
        batch.join(timeout=180)
    summary = outcome["summary"]
    assert (summary.done, summary.failed, summary.exit_code) == (16, 0, 0)
    assert summary.retried >= 1
    rows = _jsonl(results)
    assert sorted(r["path"] for r in rows) == [f"s{i:03d}.wav" for i in range(16)]
    assert any(r["attempts"] > 1 for r in rows)
    for row in rows:
        assert hashlib.sha256((out / row["path"]).read_bytes()).hexdigest() == row["sha256"]
