"""Whether a container died of its memory limit: the engine's word, else the kernel's log.

Docker, and podman on cgroup v2, set ``State.OOMKilled``. Podman 4.3 with conmon 2.1 on a
cgroup v1 host (these machines) never does: conmon sees the OOM event but writes its ``oom``
mark into its own working directory, not the container's, where podman looks. The kernel
logs every OOM kill with the memory cgroup of the task it ended (``task_memcg=…<id>``), so a
container that exited 137 is looked up in ``/dev/kmsg`` as well (readable by root; a host
whose log cannot be read gets the engine's word only).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["kernel_oom_kill", "oom_killed", "oom_reason"]

_SIGKILL_EXIT = 137


def oom_killed(container_id: str, state: Mapping[str, Any]) -> bool:
    """True when the container's ``State`` says, or the kernel logged, an OOM kill of it."""
    if state.get("OOMKilled"):
        return True
    if state.get("ExitCode") != _SIGKILL_EXIT or not container_id:
        return False
    return kernel_oom_kill(container_id, since=_epoch(state.get("StartedAt"))) is not None


def oom_reason(memory_bytes: int | None) -> str:
    """The words a status shows for a container the OOM killer ended."""
    if memory_bytes:
        return f"out of memory: killed by the kernel at its {memory_bytes // 2**20} MiB limit"
    return "out of memory: killed by the kernel"


def kernel_oom_kill(container_id: str, since: float | None = None) -> str | None:
    """The kernel's ``oom-kill:`` line for a task of ``container_id``'s cgroup, newest first.

    Only kills logged at or after ``since`` (epoch seconds) count; None when there is none
    or the kernel log cannot be read.
    """
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    boot = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
    found: str | None = None
    try:
        while True:
            try:
                record = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE: the ring buffer wrapped under us; read on
                continue
            head, _, message = record.partition(";")
            if not message.startswith("oom-kill:") or "task_memcg=" not in message:
                continue
            task_memcg = message.split("task_memcg=", 1)[1].split(",", 1)[0]
            if container_id not in task_memcg:
                continue
            fields = head.split(",")
            at = boot + int(fields[2]) / 1e6 if len(fields) > 2 and fields[2].isdigit() else None
            if since is None or at is None or at >= since - 1:
                found = message.strip()
    finally:
        os.close(fd)
    return found


def _epoch(stamp: object) -> float | None:
    """Seconds since the epoch of an engine's RFC 3339 time (nanoseconds cut to micro)."""
    if not isinstance(stamp, str) or not stamp or stamp.startswith("0001-"):
        return None
    text = stamp.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text).timestamp()
    return None
