"""Processes the agent owns: checked and signalled by PID only, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

__all__ = ["alive", "children", "read_pid", "stop_pid", "write_atomic"]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a renamed temporary file (a kill never half-writes)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_pid(path: Path) -> int | None:
    """The PID in a pid file, or None when the file is missing or not a number."""
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def alive(pid: int, must_contain: str) -> bool:
    """True if ``pid`` runs (not a zombie) and its command line contains ``must_contain``.

    The command-line check keeps a recycled PID from being mistaken for our process.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and must_contain in cmdline


def children(pid: int) -> dict[int, str]:
    """The running children of ``pid`` and their command lines (process titles), from /proc.

    Empty where /proc cannot be read.
    """
    found: dict[int, str] = {}
    try:
        entries = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return found
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended while we looked
        state, ppid = stat.rsplit(")", 1)[-1].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def _reap(pid: int) -> None:
    # Reap our own child so it does not linger as a zombie; adopted ones are init's.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(pid: int, must_contain: str, *, grace_s: float, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig``, wait ``grace_s`` for the exit, then SIGKILL; True if it exited by itself."""
    if not alive(pid, must_contain):
        _reap(pid)
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, must_contain):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not alive(pid, must_contain):
            break
        time.sleep(0.05)
    return False
