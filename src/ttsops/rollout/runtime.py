"""Slots as processes: each a ``ttsops serve`` child with a pid file, a port file and a log.

A slot lives in ``<state_dir>/slots/<name>/``: ``pid``, ``port`` (written by ``ttsops
serve --port-file`` once it listens), ``version`` and ``serve.log`` (rotated at a size cap,
one older copy kept). Slots run in their own session, so they outlive an agent killed with
kill -9 and a restarted agent adopts them through these files.

A slot of a *service* version (``service.toml`` with a ``[command]``) runs that command
instead, on a port the runtime picks, with the same files plus ``kind``, ``mark`` (what its
command line contains: the identity check after an agent restart), ``bundle`` and
``started``. It is ready once a real synthesis through its speaker passed
(``rollout.readiness``: a background prober writes ``ready.json``; ``status`` only reads it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ttsops.errors import RolloutError, TtsopsError
from ttsops.rollout.procs import alive, read_pid, stop_pid, write_atomic
from ttsops.rollout.readiness import ReadinessProber, port_open, read_marker
from ttsops.service.bundle import check_command_files, service_of
from ttsops.service.command import command_for

__all__ = ["SLOT_NAMES", "SlotInfo", "SlotRuntime", "free_port", "service_dir"]

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

    kind: str = "bundle"
    """``bundle`` (``ttsops serve`` of model files) or ``service`` (a team's own server)."""

    runs: str | None = None
    """For a service: its command line or image reference."""

    start_timeout_s: float | None = None
    """For a service: its own ``start_timeout_s`` (its prober fails it after that)."""


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
        probe: bool = True,
    ) -> None:
        """``fetch(version)`` returns a verified bundle directory of that version; without
        ``probe`` (``ttsops down``) a service slot found starting is not probed here."""
        self.root = state_dir / "slots"
        self.fetch = fetch
        self.serve_args = list(serve_args)
        self.drain_timeout_s = drain_timeout_s
        self.log_max_bytes = log_max_bytes
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self.prober = ReadinessProber()
        self.probe = probe

    def _dir(self, slot: str) -> Path:
        return self.root / slot

    def start(self, slot: str, version: str) -> None:
        """Start ``ttsops serve`` of ``version`` in ``slot`` (whatever ran there is stopped)."""
        self.stop(slot)
        bundle = self.fetch(version)
        where = self._dir(slot)
        where.mkdir(parents=True, exist_ok=True)
        for name in ("port", *_SERVICE_FILES):
            (where / name).unlink(missing_ok=True)
        if service_of(bundle) is not None:
            self._start_service(slot, version, bundle)
            return
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

    def _start_service(self, slot: str, version: str, bundle: Path) -> None:
        """Run a command service's command in ``slot`` on a free port; start its prober."""
        service = service_of(bundle)
        assert service is not None
        if service.command is None:
            image = service.image.reference if service.image else "?"
            raise RolloutError(
                f"{service.name}@{version} runs from an image ({image}); the process runtime "
                'runs only [command] services. Set [agent] runtime = "container" in '
                "ttsops.toml to run image services in containers"
            )
        check_command_files(service)
        where = self._dir(slot)
        port = free_port()
        line = command_for(service, port)
        mark = " ".join(line.argv)
        for name, text in (("kind", "service"), ("mark", mark), ("bundle", str(bundle))):
            write_atomic(where / name, text)
        write_atomic(where / "started", repr(time.time()))
        log_path = where / "serve.log"
        write_atomic(where / "log_start", str(log_path.stat().st_size if log_path.exists() else 0))
        try:
            with (where / "serve.log").open("ab") as log:
                proc = subprocess.Popen(
                    line.argv,
                    cwd=line.cwd,
                    env=line.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        except OSError as exc:
            raise RolloutError(
                f"cannot run {service.name}@{version}'s command {line.argv[0]}: {exc}; check "
                "[command] argv and cwd in its service.toml"
            ) from None
        self._children[proc.pid] = proc
        write_atomic(where / "version", version)
        write_atomic(where / "port", str(port))
        write_atomic(where / "pid", str(proc.pid))
        self._probe(slot, proc.pid, port)

    def _probe(self, slot: str, pid: int, port: int) -> None:
        """Make sure the prober of ``slot``'s service process runs (after a start or restart)."""
        where = self._dir(slot)
        service = None
        if not self.probe:
            return
        with contextlib.suppress(OSError, TtsopsError):
            bundle = Path((where / "bundle").read_text().strip())
            service = service_of(bundle)
        if service is None:
            return  # its version dir is gone: status() reports it
        mark = _read(where / "mark") or _MARK
        self.prober.ensure(
            where,
            f"pid {pid}",
            service=service,
            version_dir=bundle,
            port=port,
            started_at=float(_read(where / "started") or time.time()),
            alive=lambda: alive(pid, mark),
        )

    def status(self, slot: str) -> SlotInfo | None:  # noqa: PLR0911 - one return per state
        """What ``slot`` is doing, or None when nothing was ever started there."""
        where = self._dir(slot)
        pid = read_pid(where / "pid")
        if pid is None:
            return None
        version = (where / "version").read_text().strip()
        port = read_pid(where / "port")
        if _read(where / "kind") == "service":
            return self._service_status(slot, version, pid, port)
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

    def _service_status(self, slot: str, version: str, pid: int, port: int | None) -> SlotInfo:
        """A service slot's state from its process and its prober's marker (no synthesis)."""
        where = self._dir(slot)
        mark = _read(where / "mark") or _MARK
        runs = mark[-200:]
        if not alive(pid, mark):
            self.prober.forget(where)
            detail = self._exit_detail(pid, where)
            return SlotInfo(slot, version, "exited", None, port, detail, kind="service", runs=runs)
        assert port is not None  # written before the pid
        marker = read_marker(where, f"pid {pid}")
        if marker is None or marker.state == "starting":
            self._probe(slot, pid, port)  # adopted after an agent restart: probe it here
            why = marker.reason if marker else ""
            timeout = self.prober.timeout_of(where)
            return SlotInfo(
                slot, version, "starting", pid, port, why, kind="service", runs=runs,
                start_timeout_s=timeout,
            )  # fmt: skip
        if marker.state == "failed":
            return SlotInfo(
                slot, version, "failed", pid, port, marker.reason, kind="service", runs=runs
            )
        if not port_open(port):
            why = f"was ready; port {port} now refuses connections"
            return SlotInfo(slot, version, "starting", pid, port, why, kind="service", runs=runs)
        return SlotInfo(slot, version, "ready", pid, port, kind="service", runs=runs)

    def version_dir(self, slot: str) -> Path | None:
        """The fetched version dir of ``slot``'s service, or None for a bundle slot."""
        return service_dir(self._dir(slot))

    def slots(self) -> list[SlotInfo]:
        """Every slot that was started, running or not."""
        found = (self.status(name) for name in SLOT_NAMES)
        return [info for info in found if info is not None]

    def stop(self, slot: str) -> None:
        """SIGTERM (drain) the slot's process, SIGKILL after the drain limit; forget it."""
        where = self._dir(slot)
        self.prober.forget(where)
        pid = read_pid(where / "pid")
        if pid is not None:
            mark = _read(where / "mark") or _MARK
            stop_pid(pid, mark, grace_s=self.drain_timeout_s + 5)
            if mark != _MARK:  # a service's own children (workers, a shell's program)
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
            child = self._children.pop(pid, None)
            if child is not None:
                child.wait()
        for name in ("pid", "port", "version", *_SERVICE_FILES):
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
            text = (where / "serve.log").read_bytes()
        except FileNotFoundError:
            text = b""
        start = int(_read(where / "log_start") or 0)
        if service_dir(where) is not None and start <= len(text):
            text = text[start:]  # only this process's lines, not the slot's earlier ones
        tail = text.decode(errors="replace").strip().splitlines()[-5:]
        said = " | ".join(line.strip() for line in tail)[-600:]
        return f"exited with code {code}" + (f": {said}" if said else "")


_SERVICE_FILES = ("kind", "mark", "bundle", "started", "log_start", "ready.json")


def service_dir(slot_dir: Path) -> Path | None:
    """The version dir a service slot in ``slot_dir`` was started from (None: not a service)."""
    if _read(slot_dir / "kind") != "service":
        return None
    found = _read(slot_dir / "bundle")
    return Path(found) if found else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def free_port() -> int:
    """A loopback port nothing listens on right now (the slot's process binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
