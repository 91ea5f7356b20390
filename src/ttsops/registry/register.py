"""Registering a bundle: verify it, upload its blobs, then write the ledger row last."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttsops.bundle import MANIFEST_NAME, Manifest, parse_manifest, verify_bundle
from ttsops.errors import StoreError, VersionConflictError
from ttsops.registry.ledger import Ledger
from ttsops.registry.records import VersionRecord
from ttsops.registry.store import ArtifactStore, ProgressFn
from ttsops.registry.versions import git_head_sha, normalize_version, version_from_git

__all__ = ["FROM_GIT", "FileProgress", "RegisterResult", "manifest_bytes", "register_bundle"]

FROM_GIT = "git"
"""Pass as ``version`` to read it from git: an exact ``v*`` tag, else ``0.0.0-dev+<sha>``."""

FileProgress = Callable[[str, int], ProgressFn | None]
"""Called with (bundle path, size) before a file is uploaded; returns a byte callback."""


@dataclass(frozen=True)
class RegisterResult:
    """What ``register_bundle`` did."""

    record: VersionRecord
    """The version as the ledger holds it."""

    created: bool
    """False when the identical bundle was already registered (a no-op)."""

    restored: bool
    """True when a garbage-collected version's blobs were uploaded again."""

    uploaded_files: int
    """Blobs written to the store (files already there are not uploaded twice)."""

    uploaded_bytes: int
    """Bytes written to the store."""


def manifest_bytes(manifest: Manifest) -> tuple[bytes, str]:
    """The ``bundle.toml`` blob of a manifest and its sha256."""
    data = manifest.to_toml().encode("utf-8")
    return data, hashlib.sha256(data).hexdigest()


def _resolve(
    manifest: Manifest, version: str | None, git_sha: str | None, trigger: str | None
) -> Manifest:
    """The manifest as it will be registered: version, git sha and trigger filled in."""
    resolved = manifest.version
    if version == FROM_GIT:
        found = version_from_git()
        resolved = found.version
        git_sha = git_sha or found.git_sha
        trigger = trigger or ("tag" if found.tag else "commit")
    elif version is not None:
        resolved = normalize_version(version)
    source = manifest.source.model_copy(
        update={
            "git_sha": git_sha or manifest.source.git_sha or git_head_sha(),
            "trigger": trigger or manifest.source.trigger,
        }
    )
    return manifest.model_copy(update={"version": resolved, "source": source})


def register_bundle(
    bundle_dir: Path,
    store: ArtifactStore,
    ledger: Ledger,
    *,
    version: str | None = None,
    git_sha: str | None = None,
    trigger: str | None = None,
    actor: str | None = None,
    on_file: FileProgress | None = None,
) -> RegisterResult:
    """Register ``bundle_dir`` as ``version`` (default: the manifest's).

    Order matters: the bundle is verified, every file and the manifest are uploaded by
    digest, and only then is the ledger row written (with its event, in one transaction).
    A failure anywhere before that leaves no version behind, only blobs ``gc`` can reclaim.
    """
    manifest = _resolve(verify_bundle(bundle_dir), version, git_sha, trigger)
    existing = ledger.find_version(manifest.version)
    if existing is not None and existing.digest != manifest.digest:
        raise VersionConflictError(
            f"version {manifest.version} is already registered with digest "
            f"{existing.digest[:12]}…; this bundle has {manifest.digest[:12]}…. Bump the "
            "version: registered versions are immutable"
        )
    uploaded_files = uploaded_bytes = 0
    for rel, entry in sorted(manifest.files.items()):
        progress = on_file(rel, entry.size) if on_file is not None else None
        if store.put_file(bundle_dir / rel, entry.sha256, progress):
            uploaded_files += 1
            uploaded_bytes += entry.size
    if existing is not None:
        # Re-registering: keep the manifest blob the ledger already points at.
        blob, blob_sha = manifest_bytes(parse_manifest(existing.manifest, where=MANIFEST_NAME))
        if blob_sha != existing.manifest_sha256:
            raise StoreError(
                f"the ledger's manifest of {existing.version} does not reproduce its blob "
                f"{existing.manifest_sha256[:12]}…; fetch it from a store backup"
            )
    else:
        blob, blob_sha = manifest_bytes(manifest)
    if store.put_bytes(blob, blob_sha):
        uploaded_files += 1
        uploaded_bytes += len(blob)
    record, created = ledger.add_version(manifest, manifest_sha256=blob_sha, actor=actor)
    restored = False
    if not created and record.collected_at is not None:
        record = ledger.mark_restored(record.version, actor=actor)
        restored = True
    return RegisterResult(record, created, restored, uploaded_files, uploaded_bytes)
