"""`ttsops logs SLOT`: a process slot's log, its tail, following it, and a slot with none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    return {**env, "TTSOPS_HOME": str(home)}


def _slot_log(home: Path, lines: int) -> Path:
    log = home / "agent" / "slots" / "green" / "serve.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {n}\n" for n in range(lines)))
    return log


def test_logs_prints_the_tail_of_a_process_slot(tmp_path: Path) -> None:
    """The last --tail lines of the slot's serve.log, nothing else."""
    _slot_log(tmp_path, 50)
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "logs", "green", "--tail", "3"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "line 47\nline 48\nline 49\n"


def test_logs_follow_prints_new_lines_until_ctrl_c(tmp_path: Path) -> None:
    """-f prints lines appended after it started; Ctrl-C ends it with 130."""
    log = _slot_log(tmp_path, 1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttsops", "logs", "green", "-f"],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "line 0\n"
        with log.open("a") as handle:
            handle.write("a new line\n")
        assert proc.stdout.readline() == "a new line\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_logs_of_a_slot_never_started_is_a_clear_error(tmp_path: Path) -> None:
    """No log: exit 1 with one line naming the file and where to look."""
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "logs", "blue"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "slot blue has no log at" in done.stderr and "ttsops status" in done.stderr
