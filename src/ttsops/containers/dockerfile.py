"""Rendering an image's Dockerfile: a pure function of what goes in the image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ttsops.render import render_template

__all__ = ["ImageSpec", "ModelMode", "render_dockerfile"]

ModelMode = Literal["baked", "store"]


@dataclass(frozen=True)
class ImageSpec:
    """Everything the Dockerfile says."""

    reference: str
    """The image's name and tag, ``REPO:VERSION``."""

    base: str
    """The base image (built locally, never pulled)."""

    wheel: str
    """File name of the ttsops wheel in the build context's ``wheels/``."""

    wheel_sha256: str
    """sha256 of that wheel: a change re-runs its install."""

    wheels_key: str
    """Hash of the locked requirements and platform: a change re-runs their install."""

    model: ModelMode
    """``baked``: the bundle is in the image; ``store``: fetched at start."""

    title: str
    """The model's name (or the repository's, for a store image)."""

    version: str
    """The version the image is of (``org.opencontainers.image.version``)."""

    revision: str
    """Git sha of the model's commit (``org.opencontainers.image.revision``)."""

    created: str
    """RFC 3339 build time (``org.opencontainers.image.created``)."""

    source: str
    """Where the recipe lives (``org.opencontainers.image.source``)."""

    digest: str
    """The bundle's digest; empty for a store image."""

    ttsops_version: str
    """The ttsops inside."""

    store_version: str = ""
    """A store image's default ``TTSOPS_VERSION`` (the run may name another); else empty."""

    uid: int = 10001
    """The non-root user's uid and gid."""

    start_period_s: int = 60
    """Grace before a failing health check counts (model load and warm-up)."""


def render_dockerfile(spec: ImageSpec) -> str:
    """The Dockerfile text for ``spec``."""
    for name, value in (("reference", spec.reference), ("title", spec.title)):
        if any(c in value for c in '"\n\\$'):
            raise ValueError(f"{name} {value!r} has a character a Dockerfile label cannot hold")
    return render_template("docker/Dockerfile.j2", spec=spec)
