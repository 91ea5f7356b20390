"""The base image, made without a registry: a Debian root file system from the mirror.

mmdebstrap builds a minimal bookworm (Python 3.11, venv, CA certificates) from the host's
apt sources, and the engine imports the tarball. The image's tag carries the hash of the
recipe, so it is built once and reused until the recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ttsops.containers._proc import run_streamed
from ttsops.containers.engine import ContainerEngine
from ttsops.errors import ContainerError

__all__ = ["BASE_RECIPE", "base_image_tag", "ensure_base_image"]

BASE_RECIPE: dict[str, object] = {
    "suite": "bookworm",
    "variant": "minbase",
    # python3 is 3.11 on bookworm: the wheels are cp311. libsndfile, ffmpeg and espeak-ng
    # are not needed: the soundfile, av and piper-tts wheels bundle their own.
    "include": ["python3", "python3-venv", "ca-certificates"],
    "aptopt": ['Acquire::Check-Valid-Until "false"'],
    "dpkgopt": [
        "path-exclude=/usr/share/man/*",
        "path-exclude=/usr/share/doc/*",
        "path-include=/usr/share/doc/*/copyright",
        "path-exclude=/usr/share/locale/*",
        "path-exclude=/usr/share/info/*",
    ],
    "hooks": ["merged-usr"],
    "recipe": 1,
}
"""What the base image is made of; its hash names the image."""

_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
_MIRROR = "http://deb.debian.org/debian"
_HOOKS = Path("/usr/share/mmdebstrap/hooks")


def base_image_tag(recipe: dict[str, object] | None = None) -> str:
    """``localhost/ttsops-base:<hash12>`` of the recipe."""
    text = json.dumps(recipe or BASE_RECIPE, sort_keys=True)
    return f"localhost/ttsops-base:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def ensure_base_image(
    engine: ContainerEngine, on_line: Callable[[str], None] | None = None
) -> tuple[str, bool]:
    """The base image's tag, building it first when the engine lacks it; (tag, built)."""
    tag = base_image_tag()
    if engine.image_exists(tag):
        return tag, False
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ContainerError(
            f"the base image {tag} is missing and mmdebstrap is not installed to build it; "
            "run scripts/system-deps.sh as root (apt-get install mmdebstrap)"
        )
    work = engine.state_dir / "base"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tar = Path(tmp) / "rootfs.tar"
        argv = [mmdebstrap, *_mmdebstrap_args(), str(tar)]
        argv.append(str(_SOURCES) if _SOURCES.is_file() else _MIRROR)
        run_streamed(argv, on_line, what="mmdebstrap")
        engine.run("import", tar.as_posix(), tag, timeout=600)
    return tag, True


def _mmdebstrap_args() -> list[str]:
    r = BASE_RECIPE
    args = [f"--variant={r['variant']}", "--include=" + ",".join(_strs(r["include"]))]
    args += [f"--aptopt={o}" for o in _strs(r["aptopt"])]
    args += [f"--dpkgopt={o}" for o in _strs(r["dpkgopt"])]
    args += [f"--hook-dir={_HOOKS / h}" for h in _strs(r["hooks"])]
    # The apt lists are of no use in an image nobody runs apt in.
    args += ["--customize-hook=rm -rf $1/var/lib/apt/lists/*", "--quiet"]
    return [*args, str(r["suite"])]


def _strs(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]
