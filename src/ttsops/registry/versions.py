"""Version strings: semantic versions from tags, staging candidates from untagged commits."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import semver

from ttsops.errors import InvalidVersionError
from ttsops.registry.records import Stage

__all__ = [
    "GitVersion",
    "dev_version",
    "git_head_sha",
    "normalize_version",
    "stage_of",
    "version_from_git",
]


@dataclass(frozen=True)
class GitVersion:
    """The version the checked-out commit stands for."""

    version: str
    """``1.4.0`` for a commit tagged ``v1.4.0``, else ``0.0.0-dev+<short sha>``."""

    git_sha: str
    """Full sha of HEAD."""

    tag: str | None
    """The tag HEAD sits on exactly, if any."""


def normalize_version(text: str) -> str:
    """``v1.2.0`` or ``1.2.0`` → ``1.2.0``; raise ``InvalidVersionError`` for anything else."""
    plain = text.strip().removeprefix("v")
    if not semver.Version.is_valid(plain):
        raise InvalidVersionError(
            f"version {text!r} is not a semantic version; use MAJOR.MINOR.PATCH such as 1.2.0 "
            "(v1.2.0 works too; staging candidates look like 0.0.0-dev+3f2a1c9)"
        )
    return plain


def stage_of(version: str) -> Stage:
    """A release version (``1.2.0``) is production; a pre-release (``0.0.0-dev+…``) is staging."""
    return Stage.STAGING if semver.Version.parse(version).prerelease else Stage.PRODUCTION


def dev_version(short_sha: str) -> str:
    """The staging candidate version of an untagged commit: ``0.0.0-dev+<short sha>``."""
    return f"0.0.0-dev+{short_sha}"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def git_head_sha(cwd: Path | None = None) -> str | None:
    """Full sha of HEAD in the git work tree around ``cwd``, or None outside one."""
    return _git(["rev-parse", "HEAD"], cwd or Path.cwd())


def version_from_git(cwd: Path | None = None) -> GitVersion:
    """Read the version of HEAD: an exact ``v*`` tag, else a ``0.0.0-dev+<sha>`` candidate."""
    where = cwd or Path.cwd()
    full = git_head_sha(where)
    short = _git(["rev-parse", "--short", "HEAD"], where)
    if full is None or short is None:
        raise InvalidVersionError(
            f"cannot read a version from git in {where}: not a git work tree with a commit; "
            "run inside the repository or pass --version 1.2.0"
        )
    tag = _git(["describe", "--exact-match", "--tags", "--match", "v[0-9]*", "HEAD"], where)
    if tag is None:
        return GitVersion(version=dev_version(short), git_sha=full, tag=None)
    return GitVersion(version=normalize_version(tag), git_sha=full, tag=tag)
