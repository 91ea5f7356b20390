"""A service version on the record: a bundle of ``engine = "service"`` holding ``service.toml``.

Storing a service as a one-file bundle lets the registry, the store, fetch, gc and the ledger
treat both kinds of version alike. The ``service.toml`` inside is *resolved*: the command's
``cwd`` is absolute and its ``files`` carry their sha256, an image carries its id, so the
bundle's digest changes whenever what runs changes. Version and provenance live in
``bundle.toml`` only, so one ``service.toml`` can be registered under any version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from ttsops.bundle.manifest import MANIFEST_NAME, FileEntry, Manifest, load_manifest, write_manifest
from ttsops.errors import ServiceError
from ttsops.service.manifest import (
    SERVICE_MANIFEST,
    ServiceManifest,
    load_service_manifest,
)

__all__ = [
    "SERVICE_ENGINE",
    "check_command_files",
    "is_service_bundle",
    "resolve_service",
    "service_of",
    "write_service_bundle",
]

SERVICE_ENGINE = "service"
"""The ``engine`` of a bundle that holds a service version."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


READY_CLIP_DIR = "ready"
"""Where a version keeps its readiness check's reference clip."""


def _resolve_ready(manifest: ServiceManifest, base_dir: Path) -> ServiceManifest:
    clip = manifest.ready.reference
    if clip is None:
        return manifest
    path = (base_dir / clip).resolve()
    if not path.is_file():
        raise ServiceError(
            f"service {manifest.name}: [ready] reference {clip} is not a file under {base_dir}; "
            "give a short clip of speech the readiness check can send"
        )
    ready = manifest.ready.model_copy(update={"reference": str(path)})
    return manifest.model_copy(update={"ready": ready})


def resolve_service(
    manifest: ServiceManifest,
    base_dir: Path,
    *,
    image_id_of: Callable[[str], str] | None = None,
) -> ServiceManifest:
    """Pin what runs: an absolute ``cwd`` and each file's sha256, or the image's id.

    ``base_dir`` is where ``service.toml`` was read from (a relative ``cwd`` is under it);
    ``image_id_of(reference)`` asks the container engine for an image's id. A ``[ready]``
    reference clip becomes an absolute path.
    """
    manifest = _resolve_ready(manifest, base_dir)
    if manifest.command is not None:
        cwd = (base_dir / manifest.command.cwd).resolve()
        if not cwd.is_dir():
            raise ServiceError(
                f"service {manifest.name}: cwd {cwd} is not a directory; set [command] cwd to "
                "the directory the command runs in"
            )
        digests = {}
        for rel in manifest.command.files:
            path = cwd / rel
            if not path.is_file():
                raise ServiceError(
                    f"service {manifest.name}: file {rel} listed in [command] files is not in "
                    f"{cwd}; list the app and its environment lock that exist there"
                )
            digests[rel] = _sha256(path)
        command = manifest.command.model_copy(update={"cwd": str(cwd), "digests": digests})
        return manifest.model_copy(update={"command": command})
    assert manifest.image is not None
    if manifest.image.image_id is not None or image_id_of is None:
        return manifest
    image = manifest.image.model_copy(update={"image_id": image_id_of(manifest.image.reference)})
    return manifest.model_copy(update={"image": image})


def check_command_files(manifest: ServiceManifest) -> None:
    """Refuse a command service whose pinned files changed since it was registered."""
    if manifest.command is None:
        return
    cwd = Path(manifest.command.cwd)
    for rel, want in sorted(manifest.command.digests.items()):
        path = cwd / rel
        if not path.is_file():
            raise ServiceError(
                f"service {manifest.name}@{manifest.version}: {path} is gone; it was pinned "
                "when the version was registered. Restore it or register a new version"
            )
        got = _sha256(path)
        if got != want:
            raise ServiceError(
                f"service {manifest.name}@{manifest.version}: {path} has sha256 {got[:12]}…, "
                f"registered as {want[:12]}…; the app changed after it was registered. "
                "Register it as a new version"
            )


def write_service_bundle(manifest: ServiceManifest, out_dir: Path) -> Manifest:
    """Write ``service.toml`` (resolved) and its ``bundle.toml`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, FileEntry] = {}
    ready = manifest.ready
    if ready.reference is not None and Path(ready.reference).is_absolute():
        clip = Path(ready.reference)
        rel = f"{READY_CLIP_DIR}/{clip.name}"
        (out_dir / READY_CLIP_DIR).mkdir(exist_ok=True)
        data = clip.read_bytes()
        (out_dir / rel).write_bytes(data)
        files[rel] = FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        ready = ready.model_copy(update={"reference": rel})
    body = manifest.model_copy(update={"version": "0.0.0", "ready": ready})
    text = body.to_toml().encode("utf-8")
    (out_dir / SERVICE_MANIFEST).write_bytes(text)
    files[SERVICE_MANIFEST] = FileEntry(sha256=hashlib.sha256(text).hexdigest(), size=len(text))
    bundle = Manifest(
        name=manifest.name,
        version=manifest.version,
        engine=SERVICE_ENGINE,
        sample_rate=manifest.sample_rate,
        languages=manifest.languages,
        voices=manifest.voices,
        files=files,
        engine_options={"kind": manifest.kind},
        source=manifest.source,
    )
    write_manifest(out_dir, bundle)
    return bundle


def is_service_bundle(bundle_dir: Path) -> bool:
    """True when ``bundle_dir`` holds a service version rather than model files."""
    return (bundle_dir / MANIFEST_NAME).is_file() and (bundle_dir / SERVICE_MANIFEST).is_file()


def service_of(bundle_dir: Path) -> ServiceManifest | None:
    """The service of a fetched version (its version from ``bundle.toml``), or None for a
    bundle of model files."""
    if not is_service_bundle(bundle_dir):
        return None
    bundle = load_manifest(bundle_dir)
    if bundle.engine != SERVICE_ENGINE:
        return None
    service = load_service_manifest(bundle_dir / SERVICE_MANIFEST)
    update: dict[str, object] = {"version": bundle.version, "source": bundle.source}
    if service.ready.reference is not None:
        clip = (bundle_dir / service.ready.reference).resolve()
        update["ready"] = service.ready.model_copy(update={"reference": str(clip)})
    return service.model_copy(update=update)
