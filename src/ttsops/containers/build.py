"""Building an image of one version: base, offline wheels, the rendered Dockerfile, the build."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ttsops
from ttsops.bundle import MANIFEST_NAME, Manifest
from ttsops.containers.base import ensure_base_image
from ttsops.containers.dockerfile import ImageSpec, ModelMode, render_dockerfile
from ttsops.containers.engine import ContainerEngine
from ttsops.containers.wheels import (
    build_project_wheel,
    download_wheels,
    export_requirements,
    project_root,
    sdist_only,
)
from ttsops.errors import ContainerError

__all__ = ["SOURCE_URL", "BuiltImage", "build_image", "inspect_image", "push_image"]

SOURCE_URL = "https://github.com/ttsops/ttsops"
"""``org.opencontainers.image.source`` of every image."""

Step = Callable[[str], None]
"""Called with the name of each step as it starts."""

Line = Callable[[str], None]
"""Called with each line of build output."""


@dataclass(frozen=True)
class BuiltImage:
    """An image the engine now holds."""

    image: str
    """Its reference, ``REPO:VERSION``."""

    id: str
    """Its content id (``sha256:…``)."""

    size: int
    """Bytes, as the engine reports."""

    labels: dict[str, str]
    """Its labels (OCI and ttsops')."""

    seconds: float
    """How long the whole build took."""

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        return {
            "image": self.image,
            "id": self.id,
            "size": self.size,
            "labels": self.labels,
            "seconds": round(self.seconds, 2),
        }


def _check_reference(reference: str) -> str:
    name, sep, tag = reference.rpartition(":")
    if not sep or not name or not tag or "/" in tag or reference != reference.strip().lower():
        raise ContainerError(
            f"image tag {reference!r} is not REPO:VERSION in lower case "
            "(e.g. localhost/joe:1.0.0); pass --tag REPO:VERSION"
        )
    return reference


def build_image(
    engine: ContainerEngine,
    reference: str,
    *,
    model: ModelMode,
    bundle_dir: Path | None,
    manifest: Manifest | None,
    on_step: Step | None = None,
    on_line: Line | None = None,
    project: Path | None = None,
    extras: Collection[str] = (),
) -> BuiltImage:
    """Build ``reference``: baked with the bundle at ``bundle_dir``, or a store image.

    ttsops itself is built from the checkout ``project`` (default: the one running);
    ``extras`` adds optional dependency groups (``gate``) to what the image installs.
    """
    started = time.monotonic()
    reference = _check_reference(reference)
    if model == "baked" and (bundle_dir is None or manifest is None):
        raise ContainerError("a baked image needs a bundle; pass a bundle directory or version")
    step = on_step or (lambda _: None)
    step("base image")
    base, _ = ensure_base_image(engine, on_line)
    step("wheels")
    root = project or project_root()
    wheels = download_wheels(
        export_requirements(root, extras),
        engine.state_dir / "wheels",
        on_line,
        build=sdist_only(root),
    )
    (engine.state_dir / "contexts").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=engine.state_dir / "contexts") as tmp:
        context = Path(tmp)
        step("context")
        wheel_dir = context / "wheels"
        _link_tree(wheels.path, wheel_dir, [p.name for p in wheels.path.iterdir()])
        wheel = build_project_wheel(root, wheel_dir)
        if model == "baked":
            assert bundle_dir is not None and manifest is not None
            _link_tree(bundle_dir, context / "model", [MANIFEST_NAME, *manifest.files])
        spec = _spec(reference, base, model, manifest, wheel, wheels.key, _git_sha(root))
        (context / "Dockerfile").write_text(render_dockerfile(spec), encoding="utf-8")
        step("build")
        previous = _image_id(engine, reference)
        args = ["build", "--tag", reference, "--file", str(context / "Dockerfile")]
        args += [*engine.pull_never(), "--network=none", "--iidfile", str(context / "iid")]
        if engine.kind == "podman":
            args += ["--format", "docker"]
        engine.stream([*args, str(context)], on_line)
        image_id = (context / "iid").read_text().strip()
    if previous and previous != image_id.removeprefix("sha256:"):
        # The tag moved: the image it named is dangling now (a running container keeps it).
        engine.run("rmi", previous, check=False)
    info = inspect_image(engine, image_id)
    return BuiltImage(
        image=reference,
        id=image_id if image_id.startswith("sha256:") else f"sha256:{image_id}",
        size=int(info.get("Size") or 0),
        labels=dict((info.get("Config") or {}).get("Labels") or {}),
        seconds=time.monotonic() - started,
    )


def _spec(
    reference: str,
    base: str,
    model: ModelMode,
    manifest: Manifest | None,
    wheel: Path,
    wheels_key: str,
    checkout_sha: str,
) -> ImageSpec:
    repo, _, tag = reference.rpartition(":")
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return ImageSpec(
        reference=reference,
        base=base,
        wheel=wheel.name,
        wheel_sha256=wheel_sha,
        wheels_key=wheels_key,
        model=model,
        title=manifest.name if manifest is not None else repo.rsplit("/", 1)[-1],
        version=manifest.version if manifest is not None else tag,
        revision=(manifest.source.git_sha if manifest else None) or checkout_sha,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=SOURCE_URL,
        digest=manifest.digest if manifest is not None and model == "baked" else "",
        store_version=manifest.version if manifest is not None and model == "store" else "",
        ttsops_version=ttsops.__version__,
    )


def _git_sha(root: Path) -> str:
    """The checkout's commit, for images of bundles that do not record theirs."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _link_tree(src: Path, dest: Path, names: list[str]) -> None:
    """Hard-link (or copy, across file systems) ``names`` from ``src`` into ``dest``."""
    for name in names:
        source, target = src / name, dest / name
        if not source.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _image_id(engine: ContainerEngine, ref: str) -> str | None:
    done = engine.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.strip().removeprefix("sha256:") or None if done.returncode == 0 else None


def inspect_image(engine: ContainerEngine, ref: str) -> dict[str, Any]:
    """The engine's inspect record of one image."""
    done = engine.run("image", "inspect", ref)
    data = json.loads(done.stdout)
    if not data:
        raise ContainerError(f"the engine has no image {ref}")
    record: dict[str, Any] = data[0]
    return record


def push_image(engine: ContainerEngine, reference: str, on_line: Line | None = None) -> None:
    """Push ``reference`` to its registry; a failure says which registry and why."""
    registry = reference.split("/", 1)[0] if "/" in reference else "docker.io"
    try:
        engine.stream(["push", reference], on_line)
    except ContainerError as exc:
        raise ContainerError(
            f"pushing {reference} to registry {registry} failed: {exc.message}; check that the "
            "registry is reachable and that you are logged in (`podman login` / `docker login`)"
        ) from None
