"""Wheels for an offline image build: the lock file's dependencies and ttsops itself.

Builds cannot reach the package index from inside a container here (no CA bundle, maybe no
network), so the wheels are downloaded on the host for the image's platform (manylinux
x86_64, CPython 3.11) into a cache keyed by the requirements' hash, and installed in the
build with ``pip --no-index --find-links`` from a bind mount. A dependency the lock file
has no wheel for (an sdist only, e.g. jieba) is built into a wheel on the host once
(``pip wheel``; the host runs the image's Python 3.11 on the same architecture).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import ttsops
from ttsops.containers._proc import run_streamed
from ttsops.errors import ContainerError

__all__ = [
    "PLATFORM_ARGS",
    "Wheels",
    "build_project_wheel",
    "download_wheels",
    "export_requirements",
    "project_root",
    "sdist_only",
]

PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)
"""pip's options for wheels that run in the image, whatever the host is."""


@dataclass(frozen=True)
class Wheels:
    """A directory of wheels for one requirements set."""

    path: Path
    """The directory (``--find-links``)."""

    key: str
    """Hash of the requirements and platform that made it."""

    downloaded: bool
    """False when it came from the cache."""


def project_root() -> Path:
    """The checkout ttsops runs from (its pyproject.toml and uv.lock)."""
    here = Path(ttsops.__file__).resolve().parent
    for candidate in (here.parent.parent, Path.cwd()):
        if (candidate / "pyproject.toml").is_file() and (candidate / "uv.lock").is_file():
            return candidate
    raise ContainerError(
        f"ttsops at {here} is not a checkout with pyproject.toml and uv.lock, so its lock "
        "file cannot be exported; run `ttsops image build` from the ttsops repository"
    )


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    for python in (sys.executable, shutil.which("python3.11")):
        if python and _runs([python, "-m", "uv", "--version"]):
            return [python, "-m", "uv"]
    raise ContainerError("uv is needed to export the lock file; install it: pip install uv")


def _pip() -> list[str]:
    for python in (sys.executable, shutil.which("python3.11"), shutil.which("python3")):
        if python and _runs([python, "-m", "pip", "--version"]):
            return [python, "-m", "pip"]
    raise ContainerError(
        "pip is needed to download the image's wheels on the host; install python3-pip"
    )


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def export_requirements(root: Path, extras: Collection[str] = ()) -> str:
    """The locked runtime dependencies (no dev group, not the project), one pin a line.

    ``extras`` adds the project's optional dependency groups (``gate`` for an image that
    runs the quality gate or ``ttsops analysis serve``).
    """
    extra_args = [arg for name in sorted(extras) for arg in ("--extra", name)]
    done = subprocess.run(
        [*_uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", *extra_args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ContainerError(
            f"uv export in {root} failed: {done.stderr.strip().splitlines()[-1:]}; "
            "run `uv lock` and commit uv.lock"
        )
    pins = [ln for ln in done.stdout.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(pins) + "\n"


def _image_wheel(filename: str) -> bool:
    """True when a wheel of this name installs in the image (CPython 3.11, x86_64 Linux)."""
    if filename.endswith("-any.whl"):
        return True
    tags = ("cp311", "abi3", "py3-none", "py2.py3")
    return "linux" in filename and "x86_64" in filename and any(t in filename for t in tags)


def sdist_only(root: Path) -> set[str]:
    """Names (normalized) of the locked packages with no wheel the image can install."""
    try:
        lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContainerError(f"cannot read {root / 'uv.lock'}: {exc}; run `uv lock`") from None
    found = set()
    for package in lock.get("package", []):
        wheels = [str(w.get("url", "")).rsplit("/", 1)[-1] for w in package.get("wheels", [])]
        if "sdist" in package and not any(_image_wheel(name) for name in wheels):
            found.add(_normalize(str(package["name"])))
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pin_name(pin: str) -> str:
    return _normalize(re.split(r"[=<>!~;\s\[]", pin.strip(), maxsplit=1)[0])


def download_wheels(
    requirements: str,
    cache_dir: Path,
    on_line: Callable[[str], None] | None = None,
    *,
    build: Collection[str] = (),
) -> Wheels:
    """Download every pinned wheel for the image's platform, or reuse the cached set.

    Pins named in ``build`` (sdist-only packages, see ``sdist_only``) are built on the host.
    """
    pins = [ln for ln in requirements.splitlines() if ln.strip()]
    from_source = [pin for pin in pins if _pin_name(pin) in build]
    binary = [pin for pin in pins if pin not in from_source]
    key = hashlib.sha256((requirements + " ".join(PLATFORM_ARGS)).encode()).hexdigest()[:16]
    dest = cache_dir / key
    if (dest / ".complete").is_file():
        return Wheels(dest, key, downloaded=False)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        (staging / "requirements.txt").write_text(requirements, encoding="utf-8")
        (staging / "binary.txt").write_text("\n".join(binary) + "\n", encoding="utf-8")
        argv = [*_pip(), "download", "--no-deps", "--disable-pip-version-check", *PLATFORM_ARGS]
        argv += ["-d", str(staging), "-r", str(staging / "binary.txt")]
        run_streamed(argv, on_line, what="pip download")
        if from_source:
            argv = [*_pip(), "wheel", "--no-deps", "--disable-pip-version-check"]
            run_streamed([*argv, "-w", str(staging), *from_source], on_line, what="pip wheel")
        (staging / ".complete").touch()
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Wheels(dest, key, downloaded=True)


def build_project_wheel(root: Path, out_dir: Path) -> Path:
    """Build ttsops' own wheel from the checkout into ``out_dir``; its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*_uv(), "build", "--wheel", "--out-dir", str(out_dir), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out_dir.glob("ttsops-*.whl"))
    if done.returncode != 0 or not wheels:
        raise ContainerError(f"building the ttsops wheel failed: {done.stderr.strip()[-300:]}")
    return wheels[-1]
