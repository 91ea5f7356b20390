"""Engines turn text into audio with one loaded model; found through entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ttsops.engines.base import AudioChunk, Engine, EngineFactory, EngineOptions, Reference
from ttsops.errors import EngineNotFoundError

if TYPE_CHECKING:
    from ttsops.bundle.manifest import Manifest

__all__ = [
    "AudioChunk",
    "Engine",
    "EngineFactory",
    "EngineOptions",
    "Reference",
    "available_engines",
    "load_engine",
]

GROUP = "ttsops.engines"
_BUILTIN = {"piper": "ttsops.engines.piper:PiperEngine"}


def available_engines() -> dict[str, str]:
    """Engine name → ``module:attr``, from entry points plus the built-in ones."""
    found = dict(_BUILTIN)
    for ep in entry_points(group=GROUP):
        found[ep.name] = ep.value
    return found


def load_engine(bundle_dir: Path, manifest: Manifest, options: EngineOptions) -> Engine:
    """Load the bundle with the engine its manifest names."""
    import importlib

    target = available_engines().get(manifest.engine)
    if target is None:
        raise EngineNotFoundError(
            f"no engine {manifest.engine!r} is installed; install the package that provides it"
        )
    module_name, _, attr = target.partition(":")
    factory = cast(EngineFactory, getattr(importlib.import_module(module_name), attr))
    return factory(bundle_dir, manifest, options)
