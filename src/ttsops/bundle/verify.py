"""Checking that a bundle's files are exactly what its manifest says."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ttsops.bundle.manifest import Manifest, load_manifest
from ttsops.errors import DigestMismatchError

__all__ = ["file_sha256", "verify_bundle"]

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_bundle(bundle_dir: Path) -> Manifest:
    """Load the manifest and check every file's size and sha256; raise naming the first bad file."""
    manifest = load_manifest(bundle_dir)
    for rel, entry in sorted(manifest.files.items()):
        path = bundle_dir / rel
        if not path.is_file():
            raise DigestMismatchError(
                f"bundle {bundle_dir}: file {rel} listed in the manifest is missing; "
                "restore it or re-create the bundle"
            )
        actual = file_sha256(path)
        if actual != entry.sha256:
            raise DigestMismatchError(
                f"bundle {bundle_dir}: file {rel} has sha256 {actual[:12]}…, manifest says "
                f"{entry.sha256[:12]}…; the file was changed after the bundle was made. "
                "Re-create the bundle or register the original"
            )
    return manifest
