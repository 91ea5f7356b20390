"""``service.toml``: a team's own TTS server as a version, validated like ``bundle.toml``.

A service is a black box that speaks HTTP. It runs either from an **image** (the container
runtime starts it and publishes its ``port``) or from a **command** in its own environment
(the process runtime starts ``argv`` in ``cwd`` with ``env``: a ``python app.py`` in its own
venv). ``[speech]`` says how to get audio out of it (``ttsops.speech.spec``), ``[ready]``
what proves it has loaded: one real synthesis returning more than ``min_audio_s`` of audio
that is not silence, within ``start_timeout_s``.

Example::

    name = "glmtts"
    version = "1.2.0"
    languages = ["en-US"]
    sample_rate = 22050
    start_timeout_s = 180

    [command]
    argv = ["/opt/glmtts/venv/bin/python", "app.py"]
    cwd = "/opt/glmtts"
    env = { GLMTTS_DEVICE = "cpu" }
    files = ["app.py", "requirements.lock"]

    [speech]
    protocol = "gradio"
    api_name = "/synthesize"
    text = "text"
    reference_audio = "prompt_audio"
    reference_text = "prompt_text"

A command gets its port in ``$PORT`` and ``$GRADIO_SERVER_PORT`` (and ``{port}`` anywhere
in ``argv`` or ``env`` is replaced by it), so two slots of one service run side by side.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ttsops.bundle.manifest import Source
from ttsops.errors import ServiceManifestError, validation_problems
from ttsops.speech.base import default_ready_text
from ttsops.speech.spec import OpenAISpeech, SpeechSpec

__all__ = [
    "SERVICE_MANIFEST",
    "CommandRuntime",
    "ImageRuntime",
    "ReadyCheck",
    "ServiceManifest",
    "load_service_manifest",
    "parse_service_manifest",
]

SERVICE_MANIFEST = "service.toml"
"""File name of a service's manifest."""

MIN_START_TIMEOUT_S = 1.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageRuntime(_Strict):
    """A service that runs from a container image."""

    reference: str = Field(min_length=1)
    """Image reference, e.g. ``localhost/voxui:1.4.0`` (no registry is contacted here)."""

    image_id: str | None = None
    """The image's id (``sha256:…``), filled in when the version is registered: it pins the
    version to exactly those layers."""

    env: dict[str, str] = Field(default_factory=dict)
    """Environment of the container."""


class CommandRuntime(_Strict):
    """A service that runs as a command on the host, in its own environment."""

    argv: tuple[str, ...] = Field(min_length=1)
    """Program and arguments, e.g. ``["/opt/app/venv/bin/python", "app.py"]``."""

    cwd: str = "."
    """Working directory; relative to the directory of ``service.toml`` until registered,
    then absolute."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment (``{port}`` in a value is replaced by the slot's port)."""

    files: tuple[str, ...] = ()
    """Files under ``cwd`` that make the version (the app, its environment lock): their
    sha256 go into the version's digest, and a slot refuses to start if one changed."""

    digests: dict[str, str] = Field(default_factory=dict)
    """sha256 of each of ``files``, filled in when the version is registered."""

    @field_validator("files")
    @classmethod
    def _check_files(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts:
                raise ValueError(f"file {path!r} must be a relative path under cwd")
        return value


class ReadyCheck(_Strict):
    """What proves a slot has loaded: a real synthesis, not an HTTP 200."""

    text: str = Field(default_factory=default_ready_text, min_length=1)
    """The text spoken."""

    min_audio_s: float = Field(default=0.5, gt=0)
    """The audio must be longer than this, and not silence."""

    interval_s: float = Field(default=2.0, gt=0)
    """Pause between attempts while the service loads."""

    reference: str | None = None
    """A reference clip the check sends, for an app that will not speak without one (a
    cloning model): a path relative to ``service.toml``'s directory. Registering copies it
    into the version, so every slot's check sends the same clip."""

    reference_text: str | None = None
    """What ``reference`` says (``prompt_text``)."""


class ServiceManifest(_Strict):
    """A service version: how to start it, reach its speech, and know it is ready."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    """Service name (lowercase letters, digits, ``.``, ``_``, ``-``)."""

    version: str = "0.0.0"
    """Semantic version; ``ttsops register --version`` (or git) usually sets it."""

    languages: tuple[str, ...] = Field(min_length=1)
    """BCP 47 tags it speaks (``en-US``, ``zh-CN``): they pick the gate's evaluation sets."""

    voices: tuple[str, ...] = ("default",)
    """Voice names it accepts; the first is the default."""

    sample_rate: int = Field(gt=0)
    """Rate of the audio it answers with (the gate resamples as it needs)."""

    port: int | None = Field(default=None, ge=1, le=65535)
    """Port the image listens on inside its container (required for ``image``)."""

    start_timeout_s: float = Field(default=120.0, ge=MIN_START_TIMEOUT_S)
    """How long it may take to load before the slot counts as failed (large models are slow:
    the default is two minutes)."""

    image: ImageRuntime | None = None
    """Run from this image (container runtime)."""

    command: CommandRuntime | None = None
    """Run this command (process runtime)."""

    speech: SpeechSpec = Field(default_factory=OpenAISpeech)
    """How to get audio from it."""

    ready: ReadyCheck = Field(default_factory=ReadyCheck)
    """How readiness is proved."""

    source: Source = Field(default_factory=Source)
    """Provenance: git sha, trigger."""

    @model_validator(mode="after")
    def _one_runtime(self) -> ServiceManifest:
        if (self.image is None) == (self.command is None):
            raise ValueError("give exactly one of [image] (a container) or [command] (a process)")
        if self.image is not None and self.port is None:
            raise ValueError("an [image] service needs `port`: the port it listens on inside")
        return self

    @property
    def kind(self) -> str:
        """``image`` or ``command``."""
        return "image" if self.image is not None else "command"

    @property
    def can_reference(self) -> bool:
        """Whether its speech adapter can send a reference clip."""
        spec = self.speech
        if spec.protocol == "gradio":
            return spec.reference_audio is not None
        if spec.protocol == "http":
            return spec.reference_field is not None or "reference_b64" in (spec.json_body or "")
        return spec.can_reference

    def identity(self) -> dict[str, Any]:
        """What the version computes with: runtime (image id, or command + file digests),
        speech protocol and readiness; its sha256 is part of the version digest."""
        return self.model_dump(mode="json", exclude={"version", "source"})

    @property
    def identity_sha256(self) -> str:
        """sha256 of ``identity()`` in canonical JSON."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_toml(self) -> str:
        """Serialise as ``service.toml`` text."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))


def load_service_manifest(path: Path) -> ServiceManifest:
    """Read and validate a ``service.toml`` (or the one in directory ``path``); a ``[ready]``
    reference clip's path is made absolute (it is relative to the file)."""
    if path.is_dir():
        path = path / SERVICE_MANIFEST
    if not path.is_file():
        raise ServiceManifestError(
            f"{path} does not exist; a service version is described by a {SERVICE_MANIFEST} "
            "(see `ttsops register --help`)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ServiceManifestError(f"{path} is not valid TOML: {exc}") from None
    manifest = parse_service_manifest(data, where=str(path))
    clip = manifest.ready.reference
    if clip is not None and not Path(clip).is_absolute():  # relative to service.toml
        ready = manifest.ready.model_copy(update={"reference": str(path.parent.resolve() / clip)})
        manifest = manifest.model_copy(update={"ready": ready})
    return manifest


def parse_service_manifest(data: dict[str, Any], where: str) -> ServiceManifest:
    """Validate service manifest data, raising ``ServiceManifestError`` naming each problem."""
    try:
        return ServiceManifest.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, "manifest")
        raise ServiceManifestError(f"{where} is invalid: {problems}") from None
