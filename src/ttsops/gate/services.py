"""Service versions in the gate: started for the run, heard through their speech adapter.

A candidate or baseline that is a service (a fetched version of ``engine = "service"``, or
a ``service.toml`` made into one by ``service_version_dir``) is started by the parent with
``running_service`` before the workers load; the workers send its sentences to its
``Speaker`` (``WorkerConfig.services``), one at a time per service (``speak_locks``), and
score the audio as they score an engine's. A candidate that does not get ready is a FAIL
with the reason and the end of its log; a baseline that does not is a gate that cannot run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsops.errors import TtsopsError
from ttsops.service import ServiceManifest, service_of

__all__ = ["StartedServices", "seed_note", "service_version_dir", "started_services"]


@dataclass
class StartedServices:
    """The services a gate started, by role."""

    urls: dict[str, str] = field(default_factory=dict)
    """Base URL of each service that got ready."""

    errors: dict[str, str] = field(default_factory=dict)
    """Why a service did not get ready (its role is then not started)."""

    locks: dict[str, Any] = field(default_factory=dict)
    """One multiprocessing lock per started service (one request in flight)."""

    start_s: dict[str, float] = field(default_factory=dict)
    """Seconds each took to start and pass its readiness check."""


def service_version_dir(path: Path, out_dir: Path) -> Path:
    """``path`` as the gate takes it: a ``service.toml`` (or a directory holding one and no
    ``bundle.toml``) is resolved and written as a service version in ``out_dir``; any other
    path is returned as it is."""
    from ttsops.registry.services import image_id_of, is_service_path
    from ttsops.service import load_service_manifest, resolve_service, write_service_bundle

    if not is_service_path(path):
        return path
    manifest = load_service_manifest(path)
    base = path if path.is_dir() else path.parent
    write_service_bundle(resolve_service(manifest, base, image_id_of=image_id_of), out_dir)
    return out_dir


def seed_note(role: str, service: ServiceManifest) -> str:
    """The report's note on what seeding means for a service (it may not honour one)."""
    sent = (
        "the synthesis seed is sent (`seed` in the request), but a service may not honour it"
        if service.speech.protocol == "openai"
        else f"its {service.speech.protocol} adapter sends no synthesis seed (only what "
        "[speech] fixed sends)"
    )
    return (
        f"the {role} {service.name}@{service.version} is a {service.kind} service: {sent}, so a "
        "repeat gate may hear other audio and its cached scores are only as repeatable as the "
        "service; its first-audio latency is its whole answer's time (it does not stream)"
    )


@contextmanager
def started_services(bundles: dict[str, Path], notes: list[str]) -> Iterator[StartedServices]:
    """Start each role of ``bundles`` that is a service (the candidate first); stop them after.

    A service that does not get ready is recorded in ``errors``; after a candidate that
    does not, nothing more is started (the gate is a FAIL already).
    """
    import multiprocessing
    import time

    from ttsops.service.launch import running_service

    started = StartedServices()
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        for role in ("candidate", "baseline"):
            service = service_of(bundles[role])
            if service is None:
                continue
            notes.append(seed_note(role, service))
            began = time.perf_counter()
            try:
                url, _ = stack.enter_context(running_service(service))
            except TtsopsError as exc:
                started.errors[role] = exc.message
                if role == "candidate":
                    break
                continue
            finally:
                started.start_s[f"{role}_service"] = time.perf_counter() - began
            started.urls[role] = url
            started.locks[role] = context.Lock()
        yield started
