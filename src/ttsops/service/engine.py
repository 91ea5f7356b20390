"""The ``service`` entry of ``ttsops.engines``: it names a kind of version, it loads nothing.

A bundle of ``engine = "service"`` holds a team's own server (``service.toml``); ttsops
starts it in a slot and talks to it through the speech seam, never in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from ttsops.bundle.manifest import Manifest
from ttsops.engines.base import EngineOptions
from ttsops.errors import EngineLoadError

__all__ = ["ServiceEngine"]


def ServiceEngine(bundle_dir: Path, manifest: Manifest, options: EngineOptions) -> NoReturn:  # noqa: N802 - an engine factory, named like the others
    """Refuse: a service version is started by the agent or the gate, not loaded here."""
    del options
    raise EngineLoadError(
        f"{manifest.ref} ({bundle_dir}) is a service version (service.toml): ttsops does not "
        "load it in this process. Deploy it with `ttsops deploy`, or gate it (the gate starts "
        "it); `ttsops serve --bundle` takes a bundle of model files"
    )
