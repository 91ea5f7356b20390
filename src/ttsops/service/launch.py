"""Starting a service version on demand: ``running_service`` for the gate and benches.

A command service runs as a subprocess in its own session (its output in a log file); an
image service runs as a container through the Docker API (``DOCKER_HOST``, else a private
``podman system service``), published on a loopback port and never pulled. Either is ready
once ``ttsops.speech.ready.check_ready`` passes (one real synthesis that is not silence)
within its ``start_timeout_s``; until then, a process that exits or a container that stops
ends the wait at once. Whatever was started is stopped on the way out: SIGTERM to the
process group, then SIGKILL; a container is stopped with a timeout, then removed.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from ttsops.errors import ContainerError, ServiceError
from ttsops.service.bundle import check_command_files, resolve_service, service_of
from ttsops.service.command import command_for
from ttsops.service.manifest import ServiceManifest, load_service_manifest
from ttsops.speech import Speaker, open_speaker

__all__ = ["LOG_TAIL_LINES", "STOP_TIMEOUT_S", "free_port", "load_service", "running_service"]

_SERVICE_IDS = itertools.count(1)
"""Numbers the podman API services this process starts (one socket each)."""

STOP_TIMEOUT_S = 10.0
"""How long a stopped service may take to exit before it is killed."""

LOG_TAIL_LINES = 8
"""Lines of a service's log quoted when it fails to start."""

_SERVICES = itertools.count()


def free_port() -> int:
    """An unused loopback TCP port (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_service(path: Path) -> ServiceManifest:
    """The service of a fetched version dir (``bundle.toml`` + ``service.toml``), or of a
    ``service.toml`` (or a dir holding one), its ``cwd`` resolved against its directory."""
    found = service_of(path) if path.is_dir() else None
    if found is not None:
        return found
    manifest = load_service_manifest(path)
    base = path if path.is_dir() else path.parent
    return resolve_service(manifest, base) if manifest.command is not None else manifest


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(its log is empty)"


@contextmanager
def running_service(
    service: Path | ServiceManifest,
    *,
    log_path: Path | None = None,
    start_timeout_s: float | None = None,
    docker_host: str | None = None,
) -> Iterator[tuple[str, Speaker]]:
    """Start ``service`` on a free loopback port; yield ``(base_url, speaker)`` once ready.

    ``service`` is a fetched version dir, a ``service.toml`` (or its dir), or a manifest.
    ``log_path`` keeps the service's output (default: a temporary file, gone afterwards);
    ``start_timeout_s`` overrides the manifest's. Raises ``ServiceError`` naming why it did
    not get ready and the end of its log; always stops what it started.
    """
    manifest = service if isinstance(service, ServiceManifest) else load_service(service)
    if manifest.command is not None:
        check_command_files(manifest)
    limit = manifest.start_timeout_s if start_timeout_s is None else start_timeout_s
    with ExitStack() as stack:
        if log_path is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ttsops-service-"))
            log_path = Path(tmp) / "service.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if manifest.command is not None:
            port = free_port()
            exited, read_log = stack.enter_context(_process(manifest, port, log_path))
        else:
            port, exited, read_log = stack.enter_context(
                _container(manifest, log_path, docker_host)
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(manifest, base_url, limit, exited, read_log)
        speaker = open_speaker(manifest.speech, base_url)
        stack.callback(speaker.close)
        yield base_url, speaker


def _wait_ready(
    manifest: ServiceManifest,
    base_url: str,
    limit: float,
    exited: Callable[[], str | None],
    read_log: Callable[[], str],
) -> None:
    """Block until a readiness synthesis passes; ``ServiceError`` when it never does."""
    from ttsops.speech.ready import check_ready

    who = f"service {manifest.name}@{manifest.version} ({manifest.kind})"
    started = time.monotonic()
    deadline = started + limit
    # The probe's own timeout stays within the start limit, so a service that accepts the
    # connection and never answers still fails on time.
    spec = manifest.speech.model_copy(
        update={"timeout_s": max(1.0, min(manifest.speech.timeout_s, limit))}
    )
    probe = open_speaker(spec, base_url)
    reason = "it was not asked yet"
    try:
        while True:
            gone = exited()
            if gone is not None:
                raise ServiceError(
                    f"{who} {gone} before it was ready; the end of its log: {_tail(read_log())}"
                )
            reason = check_ready(probe, manifest.ready) or ""
            if not reason:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServiceError(
                    f"{who} was not ready within {limit:g} s (start_timeout_s): {reason}; "
                    f"the end of its log: {_tail(read_log())}"
                )
            time.sleep(min(manifest.ready.interval_s, left))
    finally:
        probe.close()


@contextmanager
def _process(
    manifest: ServiceManifest, port: int, log_path: Path
) -> Iterator[tuple[Callable[[], str | None], Callable[[], str]]]:
    """Run the command in its own session, output to ``log_path``; stop its group after."""
    line = command_for(manifest, port)
    with log_path.open("ab") as log:
        try:
            proc = subprocess.Popen(
                line.argv,
                cwd=line.cwd,
                env=line.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(
                f"service {manifest.name}@{manifest.version}: cannot run {line.argv[0]!r} "
                f"({exc.strerror}); fix [command] argv (an absolute path to its venv's python)"
            ) from None

    def exited() -> str | None:
        code = proc.poll()
        return None if code is None else f"exited with code {code}"

    def read_log() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")

    try:
        yield exited, read_log
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started (its leader's PID), wait, then SIGKILL what is
    left of the group (children of the service included)."""
    with suppress(ProcessLookupError):  # already exited
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT_S)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def _container(
    manifest: ServiceManifest, log_path: Path, docker_host: str | None
) -> Iterator[tuple[int, Callable[[], str | None], Callable[[], str]]]:
    """Run the image (never pulled) with its port on loopback; stop and remove it after."""
    import docker
    import docker.errors

    assert manifest.image is not None and manifest.port is not None
    with ExitStack() as stack:
        host = docker_host or _docker_host(stack)
        client = docker.DockerClient(base_url=host, version="1.41", timeout=120)
        stack.callback(client.close)
        wanted = manifest.image.image_id or manifest.image.reference
        try:
            client.images.get(wanted)
        except docker.errors.ImageNotFound:
            raise ServiceError(
                f"service {manifest.name}@{manifest.version}: image {manifest.image.reference}"
                + (f" ({manifest.image.image_id[:19]}…)" if manifest.image.image_id else "")
                + " is not in the container engine; build or load it first (ttsops never "
                "pulls a service image)"
            ) from None
        except docker.errors.APIError as exc:
            raise ContainerError(f"the container engine at {host} refused: {exc}") from None
        port = free_port()
        try:
            box: Any = client.containers.run(
                image=wanted,
                detach=True,
                ports={f"{manifest.port}/tcp": ("127.0.0.1", port)},
                environment=dict(manifest.image.env),
                labels={"io.ttsops.service": manifest.name, "io.ttsops.version": manifest.version},
                stop_signal="SIGTERM",
            )
        except docker.errors.APIError as exc:
            raise ServiceError(
                f"service {manifest.name}@{manifest.version}: starting {wanted} failed: {exc}"
            ) from None

        def exited() -> str | None:
            box.reload()
            if box.status in ("created", "running"):
                return None
            code = box.attrs.get("State", {}).get("ExitCode")
            return f"stopped (container {box.status}, exit {code})"

        def read_log() -> str:
            # the whole log, cut here: podman's `tail` counts a partial line (a print's text,
            # then its newline in a second write) as two and drops the text
            return bytes(box.logs()).decode(errors="replace")

        try:
            yield port, exited, read_log
        finally:
            _remove(box, log_path)


def _docker_host(stack: ExitStack) -> str:
    """``DOCKER_HOST`` (settings), else a private podman API service stopped with ``stack``."""
    from ttsops.containers import PodmanService, find_engine
    from ttsops.settings import load_settings

    host = load_settings().docker_host
    if host:
        return host
    engine = find_engine()
    if engine.kind != "podman":
        raise ServiceError(
            "an image service needs the Docker API: set DOCKER_HOST (docker's socket) or "
            "install podman"
        )
    # one socket per running service: a gate starts candidate and baseline side by side,
    # and a second service of the same name would unlink the first one's socket
    service = PodmanService(engine, f"podman-service-{os.getpid()}-{next(_SERVICE_IDS)}")
    url = service.start()
    stack.callback(service.stop)
    return url


def _remove(box: Any, log_path: Path) -> None:
    """Stop (SIGTERM, then the engine's kill after the timeout), keep its log, remove it."""
    import docker.errors

    try:
        box.reload()
        if box.status == "running":
            box.stop(timeout=int(STOP_TIMEOUT_S))
        log_path.write_bytes(box.logs(tail="all"))
    except docker.errors.APIError:
        pass
    with suppress(docker.errors.NotFound):
        box.remove(force=True)
