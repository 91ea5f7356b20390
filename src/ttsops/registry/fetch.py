"""Fetching a version: materialise its bundle from the store, refusing any blob that lies."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ttsops.bundle import MANIFEST_NAME, parse_manifest, verify_bundle
from ttsops.errors import BundleError, CorruptBlobError, RegistryError, TtsopsError
from ttsops.registry.ledger import Ledger
from ttsops.registry.records import VersionRecord
from ttsops.registry.register import FileProgress
from ttsops.registry.store import ArtifactStore
from ttsops.registry.versions import normalize_version

__all__ = ["FetchResult", "fetch_version"]


@dataclass(frozen=True)
class FetchResult:
    """Where a fetched version now lives."""

    path: Path
    """The bundle directory, every file verified against its digest."""

    record: VersionRecord
    """The version's ledger record."""

    reused: bool
    """True when a verified copy was already in the cache and nothing was downloaded."""


def _corrupt(
    store: ArtifactStore, record: VersionRecord, rel: str, sha: str, actual: str
) -> CorruptBlobError:
    return CorruptBlobError(
        f"artifact store {store.url}: file {rel} of version {record.version} (blob "
        f"{sha[:12]}…) has sha256 {actual[:12]}…; the stored copy is corrupted or was "
        f"tampered with, so it was refused. Delete {store.locate(sha)} and run "
        "`ttsops register` with the original bundle to upload it again"
    )


def fetch_version(
    ledger: Ledger,
    store: ArtifactStore,
    version: str,
    *,
    cache_dir: Path,
    out: Path | None = None,
    force: bool = False,
    on_file: FileProgress | None = None,
) -> FetchResult:
    """Materialise ``version`` into ``out`` (default ``cache_dir/<version>``) and verify it.

    The bundle is assembled in a temporary sibling directory and renamed into place
    only after every blob matched its digest, so ``out`` is never a half bundle.
    """
    record = ledger.get_version(normalize_version(version))
    if record.collected_at is not None:
        raise RegistryError(
            f"version {record.version} was garbage-collected on "
            f"{record.collected_at:%Y-%m-%d %H:%M} UTC: its files are no longer stored. "
            f"Register its bundle again (ttsops register DIR --version {record.version})"
        )
    dest = (out or cache_dir / record.version).resolve()
    if dest.exists():
        if out is None and _is_intact(dest, record):
            return FetchResult(dest, record, reused=True)
        if out is not None and not force:
            raise BundleError(f"{dest} already exists; choose another --out or pass --force")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _materialise(store, record, staging, on_file)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return FetchResult(dest, record, reused=False)


def _materialise(
    store: ArtifactStore, record: VersionRecord, staging: Path, on_file: FileProgress | None
) -> None:
    """Download the manifest and every file into ``staging``, checking each digest."""
    blob = store.read_bytes(record.manifest_sha256)
    actual = hashlib.sha256(blob).hexdigest()
    if actual != record.manifest_sha256:
        raise _corrupt(store, record, MANIFEST_NAME, record.manifest_sha256, actual)
    (staging / MANIFEST_NAME).write_bytes(blob)
    manifest = parse_manifest(tomllib.loads(blob.decode("utf-8")), where=MANIFEST_NAME)
    if manifest.digest != record.digest:
        raise CorruptBlobError(
            f"artifact store {store.url}: the manifest of {record.version} has digest "
            f"{manifest.digest[:12]}…, the ledger says {record.digest[:12]}…; refusing it"
        )
    for rel, entry in sorted(manifest.files.items()):
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        progress = on_file(rel, entry.size) if on_file is not None else None
        actual = store.get_file(entry.sha256, target, progress)
        if actual != entry.sha256:
            raise _corrupt(store, record, rel, entry.sha256, actual)


def _is_intact(path: Path, record: VersionRecord) -> bool:
    """True when a cached copy still verifies and is this version's content."""
    try:
        return verify_bundle(path).digest == record.digest
    except TtsopsError:
        return False
