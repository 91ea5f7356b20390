"""`ttsops batch` as a user runs it: kill -9 and resume, Ctrl-C, exit codes and messages."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ttsops.testing import ServerProcess

_COUNT = 40


def ttsops(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _tasks(path: Path, count: int = _COUNT) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            line = {
                "input_text": f"This is sentence number {i}, spoken in full.",
                "output_name": f"p{i:03d}",
            }
            handle.write(json.dumps(line) + "\n")
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _kill_after(cmd: list[str], results: Path, lines: int, signum: int) -> int:
    """Start the CLI, send ``signum`` once ``results`` has ``lines`` lines, return its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttsops", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _complete_lines(results) >= lines:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    proc.send_signal(signum)
    proc.communicate(timeout=120)
    return proc.returncode


@pytest.mark.parametrize("mode", ["dir", "zip"])
def test_kill_9_mid_run_then_rerun_completes_without_duplicates(
    tmp_path: Path, joe_server: ServerProcess, mode: str
) -> None:
    """After kill -9 mid-batch, the same command finishes it: every file once, checksums match."""
    tasks = _tasks(tmp_path / "tasks.jsonl")
    if mode == "dir":
        target, results = tmp_path / "out", tmp_path / "out/results.jsonl"
        where = ["--out", str(target)]
    else:
        target, results = tmp_path / "book.zip", tmp_path / "book.results.jsonl"
        where = ["--zip", str(target)]
    cmd = ["batch", str(tasks), *where, "--server", joe_server.url, "--concurrency", "2"]
    assert _kill_after(cmd, results, 5, signal.SIGKILL) == -signal.SIGKILL
    killed_at = _complete_lines(results)  # a torn last line, if any, does not count
    assert 5 <= killed_at < _COUNT
    rerun = ttsops(*cmd, "--json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] >= killed_at
    assert summary["done"] + summary["skipped"] == _COUNT
    rows = _rows(results)
    expected = sorted(f"p{i:03d}.wav" for i in range(_COUNT))
    assert sorted(r["path"] for r in rows) == expected
    if mode == "dir":
        files = sorted(
            p.relative_to(target).as_posix() for p in target.rglob("*.wav") if p.is_file()
        )
        assert files == expected
        for row in rows:
            assert hashlib.sha256((target / row["path"]).read_bytes()).hexdigest() == row["sha256"]
        assert list((target / ".ttsops-batch/tmp").iterdir()) == []
    else:
        with zipfile.ZipFile(target) as zf:
            assert sorted(zf.namelist()) == sorted([*expected, "results.jsonl"])
            for row in rows:
                assert hashlib.sha256(zf.read(row["path"])).hexdigest() == row["sha256"]


def test_ctrl_c_stops_with_130_and_the_rerun_finishes(
    tmp_path: Path, joe_server: ServerProcess
) -> None:
    """Ctrl-C lets requests in flight finish and exits 130; the rerun makes only the rest."""
    tasks = _tasks(tmp_path / "tasks.jsonl", 30)
    out = tmp_path / "out"
    cmd = ["batch", str(tasks), "--out", str(out), "--server", joe_server.url, "--concurrency", "2"]
    assert _kill_after(cmd, out / "results.jsonl", 3, signal.SIGINT) == 130
    made = len(_rows(out / "results.jsonl"))
    rerun = ttsops(*cmd, "--json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["skipped"], summary["done"]) == (made, 30 - made)


def test_bad_lines_exit_3_and_are_named_by_line(tmp_path: Path, joe_server: ServerProcess) -> None:
    """A file with bad lines still makes the good ones, names each bad line, and exits 3."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '{"input_text": "Good.", "output_name": "good"}\n'
        "{broken\n"
        '{"input_text": "Escape.", "output_name": "/etc/passwd"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = ttsops("batch", str(tasks), "--out", str(out), "--server", joe_server.url)
    assert result.returncode == 3
    assert "tasks.jsonl:2: not valid JSON" in result.stderr
    assert "tasks.jsonl:3: output_name '/etc/passwd' is absolute" in result.stderr
    assert "failed.jsonl" in result.stderr
    assert (out / "good.wav").is_file()
    assert "made now" in result.stdout


def test_json_summary_and_exit_0_when_all_done(tmp_path: Path, joe_server: ServerProcess) -> None:
    """--json prints a machine-readable summary; all tasks done exits 0."""
    tasks = _tasks(tmp_path / "tasks.jsonl", 2)
    result = ttsops(
        "batch", str(tasks), "--out", str(tmp_path / "o"), "--server", joe_server.url, "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["failed"], summary["exit_code"]) == (2, 0, 0)
    assert summary["model_versions"] == {"joe@1.0.0": 2}
    assert summary["audio_s"] > 1


def test_unreachable_default_server_exits_1_naming_the_url(tmp_path: Path) -> None:
    """With no --server, TTSOPS_SERVER_URL is used; when nothing answers, exit 1 names it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tasks = _tasks(tmp_path / "tasks.jsonl", 1)
    result = ttsops(
        "batch", str(tasks), "--out", str(tmp_path / "o"), env={"TTSOPS_SERVER_URL": url}
    )
    assert result.returncode == 1
    assert f"cannot reach the ttsops service at {url}" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--out", "o", "--zip", "o.zip"], 2, "exactly one of --out"),
        (["--out", "o", "--format", "ogg"], 2, "is not one of"),
        (["--out", "o", "--concurrency", "0"], 1, "--concurrency 0"),
        (["--out", "o", "--bundle", "no-such-bundle"], 1, "no-such-bundle"),
    ],
)
def test_bad_invocations_exit_with_the_documented_code(
    tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    """Usage mistakes exit 2; a bad value or missing bundle exits 1; both say what to fix."""
    tasks = _tasks(tmp_path / "tasks.jsonl", 1)
    result = subprocess.run(
        [sys.executable, "-m", "ttsops", "batch", str(tasks), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "TTSOPS_SERVER_URL": "http://127.0.0.1:9"},
    )
    assert result.returncode == code, result.stderr
    assert words in result.stderr


def test_missing_tasks_file_exits_1(tmp_path: Path) -> None:
    """A tasks file that does not exist exits 1 with a message naming it."""
    result = ttsops("batch", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "nope.jsonl does not exist" in result.stderr
