"""Edges of the runtime that need no process: log rotation and finding nginx."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.errors import RouterError
from ttsops.rollout import SlotRuntime, find_nginx, runtime_nginx


def test_slot_log_is_capped_with_one_older_copy(tmp_path: Path) -> None:
    """A slot log over the cap moves to serve.log.1 and starts empty; a small one is kept."""
    runtime = SlotRuntime(tmp_path, lambda version: tmp_path, log_max_bytes=4096)
    big = tmp_path / "slots" / "blue" / "serve.log"
    small = tmp_path / "slots" / "green" / "serve.log"
    big.parent.mkdir(parents=True)
    small.parent.mkdir(parents=True)
    big.write_bytes(b"x" * 5000)
    small.write_bytes(b"y" * 100)
    runtime.rotate_logs()
    assert big.stat().st_size == 0
    assert (big.parent / "serve.log.1").read_bytes() == b"x" * 5000
    assert small.read_bytes() == b"y" * 100


def test_missing_nginx_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without nginx on PATH or in /usr/sbin the error names the package and the script."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(runtime_nginx, "NGINX_PATHS", (str(tmp_path / "nginx"),))
    with pytest.raises(RouterError, match=r"apt-get install nginx-light.*system-deps\.sh"):
        find_nginx()
