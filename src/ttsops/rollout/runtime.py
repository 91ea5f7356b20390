"""Slots as processes: each a ``ttsops serve`` child with a pid file, a port file and a log.

A slot lives in ``<state_dir>/slots/<name>/``: ``pid``, ``port`` (written by ``ttsops
serve --port-file`` once it listens), ``version`` and ``serve.log`` (rotated at a size cap,
one older copy kept). Slots run in their own session, so they outlive an agent killed with
kill -9 and a restarted agent adopts them through these files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ttsops.rollout.procs import alive, read_pid, stop_pid, write_atomic

__all__ = ["SLOT_NAMES", "SlotInfo", "SlotRuntime"]

SLOT_NAMES = ("blue", "green")
"""The two slots of a host."""

_MARK = "ttsops serve"


@dataclass(frozen=True)
class SlotInfo:
    """What a slot is doing now."""

    slot: str
    """``blue`` or ``green``."""

    version: str
    """Version it was started with."""

    state: str
    """``starting`` (process up, not ready), ``ready`` (``/readyz`` 200), ``failed`` (the
    model cannot serve; the process stays up) or ``exited``."""

    pid: int | None
    """Process id (None once exited)."""

    port: int | None
    """Loopback port it listens on, once known."""

    detail: str = ""
    """For ``exited``: the exit code and the end of its log."""

    container: str | None = None
    """Short container id, for a slot that is a container (then ``pid`` is None)."""


class SlotRuntime:
    """Starts, inspects and stops the slots of one state dir."""

    def __init__(
        self,
        state_dir: Path,
        fetch: Callable[[str], Path],
        *,
        serve_args: Sequence[str] = (),
        drain_timeout_s: float = 30.0,
        log_max_bytes: int = 10_000_000,
    ) -> None:
        """``fetch(version)`` returns a verified bundle directory of that version."""
        self.root = state_dir / "slots"
        self.fetch = fetch
        self.serve_args = list(serve_args)
        self.drain_timeout_s = drain_timeout_s
        self.log_max_bytes = log_max_bytes
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _dir(self, slot: str) -> Path:
        return self.root / slot

    def start(self, slot: str, version: str) -> None:
        """Start ``ttsops serve`` of ``version`` in ``slot`` (whatever ran there is stopped)."""
        self.stop(slot)
        bundle = self.fetch(version)
        where = self._dir(slot)
        where.mkdir(parents=True, exist_ok=True)
        (where / "port").unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "ttsops",
            "serve",
            "--bundle",
            str(bundle),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(where / "port"),
            "--drain-timeout",
            str(self.drain_timeout_s),
            *self.serve_args,
        ]
        # O_APPEND: rotation truncates the file under the running process safely.
        with (where / "serve.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._children[proc.pid] = proc
        write_atomic(where / "version", version)
        write_atomic(where / "pid", str(proc.pid))

    def status(self, slot: str) -> SlotInfo | None:  # noqa: PLR0911 - one return per state
        """What ``slot`` is doing, or None when nothing was ever started there."""
        where = self._dir(slot)
        pid = read_pid(where / "pid")
        if pid is None:
            return None
        version = (where / "version").read_text().strip()
        port = read_pid(where / "port")
        if not alive(pid, _MARK):
            return SlotInfo(slot, version, "exited", None, port, self._exit_detail(pid, where))
        if port is None:
            return SlotInfo(slot, version, "starting", pid, None)
        try:
            readyz = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3)
            said = readyz.json()
            served = httpx.get(f"http://127.0.0.1:{port}/version", timeout=3).json()["version"]
        except (httpx.HTTPError, ValueError, KeyError):
            return SlotInfo(slot, version, "starting", pid, port)
        if served != version:
            return SlotInfo(slot, version, "failed", pid, port, f"serves {served}, not {version}")
        if said.get("status") == "failed":
            return SlotInfo(slot, version, "failed", pid, port, str(said.get("reason")))
        state = "ready" if readyz.status_code == 200 else str(said.get("status", "starting"))
        return SlotInfo(slot, version, state, pid, port)

    def slots(self) -> list[SlotInfo]:
        """Every slot that was started, running or not."""
        found = (self.status(name) for name in SLOT_NAMES)
        return [info for info in found if info is not None]

    def stop(self, slot: str) -> None:
        """SIGTERM (drain) the slot's process, SIGKILL after the drain limit; forget it."""
        where = self._dir(slot)
        pid = read_pid(where / "pid")
        if pid is not None:
            stop_pid(pid, _MARK, grace_s=self.drain_timeout_s + 5)
            child = self._children.pop(pid, None)
            if child is not None:
                child.wait()
        for name in ("pid", "port", "version"):
            (where / name).unlink(missing_ok=True)

    def rotate_logs(self) -> None:
        """Cap every slot log at ``log_max_bytes``: copy it to ``serve.log.1``, truncate it."""
        for slot in SLOT_NAMES:
            log = self._dir(slot) / "serve.log"
            with contextlib.suppress(FileNotFoundError):
                if log.stat().st_size > self.log_max_bytes:
                    shutil.copyfile(log, log.with_suffix(".log.1"))
                    os.truncate(log, 0)

    def _exit_detail(self, pid: int, where: Path) -> str:
        child = self._children.get(pid)
        code = child.poll() if child is not None else None
        try:
            tail = (where / "serve.log").read_text(errors="replace").strip().splitlines()[-5:]
        except FileNotFoundError:
            tail = []
        said = " | ".join(line.strip() for line in tail)[-600:]
        return f"exited with code {code}" + (f": {said}" if said else "")
