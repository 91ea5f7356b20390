"""The bundle manifest (``bundle.toml``): what a model version *is*."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import semver
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ttsops.errors import ManifestError, validation_problems

__all__ = [
    "MANIFEST_NAME",
    "VERSION_PATTERN",
    "FileEntry",
    "Manifest",
    "Source",
    "load_manifest",
    "parse_manifest",
    "write_manifest",
]

MANIFEST_NAME = "bundle.toml"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


VERSION_PATTERN = (
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
"""A semantic version (semver.org's expression), a leading ``v`` allowed: for API schemas."""


class FileEntry(BaseModel):
    """One model file of a bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """Hex sha256 of the file's bytes."""

    size: int = Field(ge=0)
    """Size in bytes."""


class Source(BaseModel):
    """Where a bundle came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    git_sha: str | None = None
    """Commit the bundle was built from, if any."""

    trigger: str = "manual"
    """What made it: ``manual``, ``tag``, ``ci``, ``derive``…"""

    parent: str | None = None
    """``name@version`` (and digest) this bundle was derived from, for lineage."""

    recipe: str | None = None
    """How it was derived from the parent, e.g. ``perturb sigma=0.01 seed=0``."""


class Manifest(BaseModel):
    """The validated content of ``bundle.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Short lowercase name of the voice model, e.g. ``joe``."""

    version: str
    """Semantic version without the ``v``, e.g. ``1.4.0`` or ``0.0.0-dev+3f2a1c9``."""

    engine: str
    """Engine that loads the files, looked up among the ``ttsops.engines`` entry points."""

    sample_rate: int = Field(gt=0)
    """Native sample rate of the model's audio, in Hz."""

    languages: tuple[str, ...] = Field(min_length=1)
    """BCP-47 language tags the voice speaks."""

    voices: tuple[str, ...] = Field(min_length=1)
    """Voice names a request may ask for; the first is the default."""

    files: dict[str, FileEntry] = Field(min_length=1)
    """Model files by path relative to the bundle directory."""

    engine_options: dict[str, Any] = Field(default_factory=dict)
    """Engine-specific settings (for piper: ``model``, ``config`` file names, scales)."""

    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    """When the bundle was made."""

    source: Source = Field(default_factory=Source)
    """Provenance: git sha, trigger, parent."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"name {value!r} must be lowercase letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)"
            )
        return value

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        plain = value.removeprefix("v")
        if not semver.Version.is_valid(plain):
            raise ValueError(
                f"version {value!r} is not a semantic version; use MAJOR.MINOR.PATCH "
                "such as 1.4.0 (a tag v1.4.0 is fine too)"
            )
        return plain

    @field_validator("files")
    @classmethod
    def _check_paths(cls, value: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for path in value:
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts or path == MANIFEST_NAME:
                raise ValueError(f"file path {path!r} must be relative and inside the bundle")
        return value

    @field_validator("engine")
    @classmethod
    def _check_engine(cls, value: str) -> str:
        from ttsops.engines import available_engines

        known = available_engines()
        if value not in known:
            raise ValueError(
                f"unknown engine {value!r}; installed engines: {', '.join(sorted(known))}. "
                "Install the package that provides it (entry point group 'ttsops.engines')"
            )
        return value

    @property
    def digest(self) -> str:
        """sha256 of what the model computes with: engine, options, rate, voices, files."""
        canonical = json.dumps(
            {
                "engine": self.engine,
                "engine_options": self.engine_options,
                "sample_rate": self.sample_rate,
                "voices": list(self.voices),
                "files": {p: f.sha256 for p, f in sorted(self.files.items())},
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def ref(self) -> str:
        """``name@version``, how logs and headers name this bundle."""
        return f"{self.name}@{self.version}"

    def to_toml(self) -> str:
        """Serialise as ``bundle.toml`` text."""
        data = self.model_dump(mode="json", exclude_none=True)
        return tomli_w.dumps(data)


def load_manifest(bundle_dir: Path) -> Manifest:
    """Read and validate ``bundle_dir/bundle.toml``."""
    path = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir():
        raise ManifestError(
            f"{bundle_dir} is not a directory; a bundle is a directory holding {MANIFEST_NAME} "
            "and model files (make one with `ttsops bundle default --out DIR`)"
        )
    if not path.is_file():
        raise ManifestError(
            f"{bundle_dir} is not a bundle: {MANIFEST_NAME} is missing "
            "(make one with `ttsops bundle default --out DIR`)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid TOML: {exc}") from None
    return parse_manifest(data, where=str(path))


def parse_manifest(data: dict[str, Any], where: str) -> Manifest:
    """Validate manifest data, raising ``ManifestError`` naming each problem."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, "manifest")
        raise ManifestError(f"{where} is invalid: {problems}") from None


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write ``bundle.toml`` atomically into ``bundle_dir``."""
    path = bundle_dir / MANIFEST_NAME
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(manifest.to_toml(), encoding="utf-8")
    tmp.replace(path)
    return path
