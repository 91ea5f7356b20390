"""Container images of versions and the engine that builds and runs them (podman or Docker).

The only package that runs container engines; the CLI and the agent call it.
"""

from __future__ import annotations

from ttsops.containers.base import BASE_RECIPE, base_image_tag, ensure_base_image
from ttsops.containers.build import BuiltImage, build_image, inspect_image, push_image
from ttsops.containers.dockerfile import ImageSpec, ModelMode, render_dockerfile
from ttsops.containers.engine import (
    ContainerEngine,
    PodmanService,
    containers_state_dir,
    find_engine,
)
from ttsops.containers.slots import ContainerLimits, ContainerSlots, SlotStatus, container_run_args

__all__ = [
    "BASE_RECIPE",
    "BuiltImage",
    "ContainerEngine",
    "ContainerLimits",
    "ContainerSlots",
    "ImageSpec",
    "ModelMode",
    "PodmanService",
    "SlotStatus",
    "base_image_tag",
    "build_image",
    "container_run_args",
    "containers_state_dir",
    "ensure_base_image",
    "find_engine",
    "inspect_image",
    "push_image",
    "render_dockerfile",
]
