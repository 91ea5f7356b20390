"""What SOURCE names: a bundle directory, a service (a ``service.toml`` or a directory
holding one), each with its version from --version or git, or a registered version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ttsops.bundle import MANIFEST_NAME, load_manifest
from ttsops.errors import InvalidVersionError
from ttsops.registry import normalize_version, version_from_git
from ttsops.registry.versions import git_head_sha

__all__ = ["ReleaseSource", "is_service_source", "resolve_source"]

_SERVICE_MANIFEST = "service.toml"


@dataclass(frozen=True)
class ReleaseSource:
    """The version a release carries and where its files come from."""

    spec: str
    """SOURCE as given on the command line."""

    version: str
    """The version to release, normalized (``1.2.0``, ``0.0.0-dev+3f2a1c9``)."""

    version_from: str
    """Where the version came from: ``--version``, ``git tag v1.2.0``, ``git commit`` or
    ``registered``."""

    bundle_dir: Path | None = None
    """The bundle directory to register; None when SOURCE is an already registered version."""

    manifest_version: str | None = None
    """The version ``bundle.toml`` states; registering as ``version`` replaces it, as
    ``ttsops register --version`` does."""

    git_sha: str | None = None
    """Full sha of the commit the bundle directory sits in, if it is in a git work tree."""

    tag: str | None = None
    """The git tag the version was read from, if any."""

    service_path: Path | None = None
    """The ``service.toml`` (or its directory) to register, when SOURCE is a team's own
    service rather than a bundle; then ``bundle_dir`` is None."""

    @property
    def is_file_source(self) -> bool:
        """True when SOURCE is files to register (a bundle or a service), not a version."""
        return self.bundle_dir is not None or self.service_path is not None

    @property
    def trigger(self) -> str:
        """What the ledger records as the registration's trigger."""
        if self.tag is not None:
            return "tag"
        return "commit" if self.version_from == "git commit" else "release"

    @property
    def renamed(self) -> bool:
        """True when the bundle is registered under another version than its manifest's."""
        return self.manifest_version is not None and self.manifest_version != self.version


def resolve_source(spec: str, version: str | None = None) -> ReleaseSource:
    """Resolve SOURCE: a bundle directory or a service (version from ``version``, else the
    git tag of its directory) or a version already registered."""
    path = Path(spec)
    if is_service_source(path):
        return _from_service(spec, path, version)
    if path.is_dir():
        return _from_directory(spec, path, version)
    try:
        named = normalize_version(spec)
    except InvalidVersionError:
        raise InvalidVersionError(
            f"SOURCE {spec!r} is neither a bundle directory, a service.toml nor a version; pass "
            "a directory holding bundle.toml, a service.toml (or its directory), or a "
            "registered version such as 1.2.0"
        ) from None
    if version is not None and normalize_version(version) != named:
        raise InvalidVersionError(
            f"--version {version} differs from SOURCE {spec}; --version names the version of a "
            "bundle directory, a registered version is released as it is"
        )
    return ReleaseSource(spec=spec, version=named, version_from="registered")


def is_service_source(path: Path) -> bool:
    """True for a ``.toml`` file that is not ``bundle.toml``, or a directory holding a
    ``service.toml`` and no ``bundle.toml``."""
    if path.is_file():
        return path.suffix == ".toml" and path.name != MANIFEST_NAME
    return (path / _SERVICE_MANIFEST).is_file() and not (path / MANIFEST_NAME).is_file()


def _from_service(spec: str, path: Path, version: str | None) -> ReleaseSource:
    from ttsops.service import load_service_manifest

    service = load_service_manifest(path)  # invalid: fails now, before the agent is asked
    where = path if path.is_dir() else path.parent
    stated = None if service.version == "0.0.0" else service.version
    if version is not None:
        return ReleaseSource(
            spec=spec,
            version=normalize_version(version),
            version_from="--version",
            manifest_version=stated,
            git_sha=git_head_sha(where),
            service_path=path,
        )
    try:
        found = version_from_git(where)
    except InvalidVersionError:
        raise InvalidVersionError(
            f"cannot tell which version service {path} is: it is not inside a git work tree "
            "with a commit, so there is no tag to read; pass --version 1.2.0"
        ) from None
    return ReleaseSource(
        spec=spec,
        version=found.version,
        version_from=f"git tag {found.tag}" if found.tag else "git commit",
        manifest_version=stated,
        git_sha=found.git_sha,
        tag=found.tag,
        service_path=path,
    )


def _from_directory(spec: str, path: Path, version: str | None) -> ReleaseSource:
    manifest = load_manifest(path)
    if version is not None:
        return ReleaseSource(
            spec=spec,
            version=normalize_version(version),
            version_from="--version",
            bundle_dir=path,
            manifest_version=manifest.version,
            git_sha=git_head_sha(path),
        )
    try:
        found = version_from_git(path)
    except InvalidVersionError:
        raise InvalidVersionError(
            f"cannot tell which version bundle {path} is: it is not inside a git work tree "
            "with a commit, so there is no tag to read; pass --version 1.2.0"
        ) from None
    return ReleaseSource(
        spec=spec,
        version=found.version,
        version_from=f"git tag {found.tag}" if found.tag else "git commit",
        bundle_dir=path,
        manifest_version=manifest.version,
        git_sha=found.git_sha,
        tag=found.tag,
    )
