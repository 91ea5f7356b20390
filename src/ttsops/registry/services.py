"""Registering a service version: ``service.toml`` (or flags) pinned and stored as a bundle.

A service is registered like a bundle: it is resolved (a command's ``cwd`` made absolute and
its ``files`` hashed; an image's id asked of the container engine), written as a one-file
bundle (``ttsops.service.bundle``) and handed to ``register_bundle``, so the version, git
sha, trigger, immutability and the ledger row work the same. The digest covers what runs:
the image id, or the command with its files' sha256.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsops.errors import ServiceError, ServiceManifestError
from ttsops.service import (
    SERVICE_MANIFEST,
    ServiceManifest,
    load_service_manifest,
    parse_service_manifest,
    resolve_service,
    write_service_bundle,
)

if TYPE_CHECKING:
    from ttsops.registry.api import Registry
    from ttsops.registry.register import FileProgress, RegisterResult

__all__ = [
    "PROTOCOLS",
    "image_id_of",
    "is_service_path",
    "register_service",
    "service_from_flags",
]

PROTOCOLS = ("openai", "gradio", "http")
"""The ``[speech] protocol`` values ``--protocol`` takes."""


def is_service_path(path: Path) -> bool:
    """True for a ``service.toml`` file, or a directory holding one and no ``bundle.toml``."""
    from ttsops.bundle import MANIFEST_NAME

    if path.is_file():
        return path.suffix == ".toml" and path.name != MANIFEST_NAME
    return (path / SERVICE_MANIFEST).is_file() and not (path / MANIFEST_NAME).is_file()


def image_id_of(reference: str) -> str:
    """The id (``sha256:…``) of a local image, asked of ttsops' container engine."""
    from ttsops.containers import find_engine

    engine = find_engine()
    done = engine.run("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    found = done.stdout.strip().splitlines()
    if done.returncode != 0 or not found:
        raise ServiceError(
            f"image {reference} is not in the {engine.kind} engine's images; build or load it "
            f"first (`ttsops image build`, `{engine.kind} build -t {reference} .` or "
            f"`{engine.kind} load -i image.tar` with ttsops' engine settings): a service "
            "version is pinned to a local image's id and is never pulled"
        )
    image_id = found[0].strip()
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def _default_name(image: str | None, cwd: str | None) -> str:
    if image is not None:
        base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    else:
        base = Path(cwd or ".").resolve().name
    name = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")
    return name[:64] or "service"


def _flag_problems(
    image: str | None,
    port: int | None,
    command: str | None,
    cwd: str | None,
    files: Sequence[str],
    languages: Sequence[str],
    sample_rate: int | None,
) -> list[str]:
    problems: list[str] = []
    if (image is None) == (command is None):
        problems.append("give exactly one of --image REF (a container) or --command CMD")
    if image is not None and port is None:
        problems.append("--image needs --port N (the port it listens on inside the container)")
    if image is not None and (cwd is not None or files):
        problems.append("--cwd and --file go with --command, not --image")
    if command is not None and port is not None:
        problems.append("--port goes with --image; a command gets its port in $PORT or {port}")
    if not languages:
        problems.append("--language is required (e.g. --language en-US; repeatable)")
    if sample_rate is None:
        problems.append("--sample-rate is required (the rate of the audio it answers with)")
    return problems


def service_from_flags(
    *,
    image: str | None = None,
    port: int | None = None,
    command: str | None = None,
    cwd: str | None = None,
    files: Sequence[str] = (),
    name: str | None = None,
    languages: Sequence[str] = (),
    sample_rate: int | None = None,
    protocol: str = "openai",
    api_name: str | None = None,
    start_timeout_s: float | None = None,
    voices: Sequence[str] = (),
) -> ServiceManifest:
    """The ``ServiceManifest`` that ``ttsops register --image/--command …`` describes.

    Raises ``ServiceManifestError`` naming every flag that is missing or contradicts another.
    """
    problems = _flag_problems(image, port, command, cwd, files, languages, sample_rate)
    if protocol not in PROTOCOLS:
        problems.append(f"--protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if api_name is not None and protocol != "gradio":
        problems.append("--api-name goes with --protocol gradio")
    argv: list[str] = []
    if command is not None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            problems.append(f"--command {command!r} cannot be split into words: {exc}")
        if not argv and not problems:
            problems.append("--command is empty; give the program and its arguments")
    if problems:
        raise ServiceManifestError("cannot describe the service: " + "; ".join(problems))
    data: dict[str, Any] = {
        "name": name or _default_name(image, cwd),
        "languages": list(languages),
        "sample_rate": sample_rate,
        "speech": {"protocol": protocol, **({"api_name": api_name} if api_name else {})},
    }
    if voices:
        data["voices"] = list(voices)
    if start_timeout_s is not None:
        data["start_timeout_s"] = start_timeout_s
    if image is not None:
        data |= {"port": port, "image": {"reference": image}}
    else:
        data["command"] = {"argv": argv, "cwd": cwd or ".", "files": list(files)}
    return parse_service_manifest(data, where="the register flags")


def register_service(
    registry: Registry,
    service: ServiceManifest | Path,
    *,
    base_dir: Path | None = None,
    version: str | None = None,
    git_sha: str | None = None,
    trigger: str | None = None,
    on_file: FileProgress | None = None,
) -> RegisterResult:
    """Resolve a service (a manifest, or a ``service.toml`` path), write it as a one-file
    bundle and register that; ``base_dir`` is where a relative ``cwd`` is (default: the
    manifest's directory, or the current one for a manifest built from flags)."""
    if isinstance(service, Path):
        manifest = load_service_manifest(service)
        base = base_dir or (service if service.is_dir() else service.parent)
    else:
        manifest, base = service, base_dir or Path.cwd()
    resolved = resolve_service(manifest, base, image_id_of=image_id_of)
    with tempfile.TemporaryDirectory(prefix="ttsops-service-") as tmp:
        bundle = Path(tmp) / "bundle"
        write_service_bundle(resolved, bundle)
        return registry.register(
            bundle, version=version, git_sha=git_sha, trigger=trigger, on_file=on_file
        )
