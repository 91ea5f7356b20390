"""Bundles: a directory with ``bundle.toml`` and the model files it names."""

from __future__ import annotations

from ttsops.bundle.build import build_bundle, make_default_bundle
from ttsops.bundle.derive import DeriveRecipe, derive_bundle, parse_setting
from ttsops.bundle.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    Source,
    load_manifest,
    parse_manifest,
    write_manifest,
)
from ttsops.bundle.verify import file_sha256, verify_bundle

__all__ = [
    "MANIFEST_NAME",
    "DeriveRecipe",
    "FileEntry",
    "Manifest",
    "Source",
    "build_bundle",
    "derive_bundle",
    "file_sha256",
    "load_manifest",
    "make_default_bundle",
    "parse_manifest",
    "parse_setting",
    "verify_bundle",
    "write_manifest",
]
