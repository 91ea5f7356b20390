"""Which speech adapter a batch uses: from flags, from a ``[speech]`` file, or from a version.

``ttsops batch --server URL`` alone speaks ttsops' own API (``HttpBackend``). Any of
``--protocol``, ``--speech FILE`` or ``--version V`` makes it speak to the service at URL
through ``ttsops.speech.open_speaker`` instead (``SpeakerBackend``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ttsops.batch.speech_backend import ServiceInfo, SpeakerBackend
from ttsops.errors import BatchError, validation_problems
from ttsops.speech import SpeechSpec, open_speaker
from ttsops.speech.spec import GradioSpeech, HttpSpeech, OpenAISpeech

__all__ = [
    "PROTOCOLS",
    "SpeechFlags",
    "read_speech_file",
    "spec_from_flags",
    "speech_backend",
    "version_backend",
]

PROTOCOLS = ("openai", "gradio", "http")
"""Values of ``--protocol``."""

AnySpec = OpenAISpeech | GradioSpeech | HttpSpeech
_SPEC: TypeAdapter[AnySpec] = TypeAdapter(SpeechSpec)


@dataclass(frozen=True)
class SpeechFlags:
    """The batch command's adapter flags, as given (None: not given)."""

    protocol: str | None = None
    api_name: str | None = None
    text_param: str | None = None
    voice_param: str | None = None
    reference_param: str | None = None
    reference_text_param: str | None = None
    path: str | None = None
    body: str | None = None
    audio: str | None = None
    audio_field: str | None = None

    def given(self) -> dict[str, str]:
        """The flags given, by their option name (for messages)."""
        names = {
            "api_name": "--api-name",
            "text_param": "--text-param",
            "voice_param": "--voice-param",
            "reference_param": "--reference-param",
            "reference_text_param": "--reference-text-param",
            "path": "--path",
            "body": "--body",
            "audio": "--audio",
            "audio_field": "--audio-field",
        }
        return {flag: str(getattr(self, key)) for key, flag in names.items() if getattr(self, key)}


_ALLOWED = {
    "openai": {"--path"},
    "gradio": {
        "--api-name",
        "--text-param",
        "--voice-param",
        "--reference-param",
        "--reference-text-param",
    },
    "http": {"--path", "--body", "--audio", "--audio-field", "--reference-param"},
}


def spec_from_flags(flags: SpeechFlags, timeout_s: float) -> AnySpec:
    """The ``[speech]`` table the flags describe; a flag of another protocol is refused."""
    protocol = flags.protocol or "openai"
    if protocol not in PROTOCOLS:
        raise BatchError(f"--protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    wrong = sorted(set(flags.given()) - _ALLOWED[protocol])
    if wrong:
        raise BatchError(
            f"{', '.join(wrong)} do not apply to --protocol {protocol}; "
            f"{protocol} takes {', '.join(sorted(_ALLOWED[protocol])) or 'no options'}"
        )
    data: dict[str, Any] = {"protocol": protocol, "timeout_s": timeout_s}
    if protocol == "openai":
        data |= {"path": flags.path} if flags.path else {}
    elif protocol == "gradio":
        data |= {
            "api_name": flags.api_name or "/predict",
            "text": flags.text_param or "text",
            "voice": flags.voice_param,
            "reference_audio": flags.reference_param,
            "reference_text": flags.reference_text_param,
        }
    else:
        data |= {
            "path": flags.path or "/tts",
            "json_body": flags.body,
            "audio": flags.audio or ("base64" if flags.audio_field else "body"),
            "field": flags.audio_field,
            "reference_field": flags.reference_param,
        }
    return _validate({k: v for k, v in data.items() if v is not None}, "the --protocol flags")


def _validate(data: dict[str, Any], where: str) -> AnySpec:
    try:
        return _SPEC.validate_python(data)
    except ValidationError as exc:
        problems = validation_problems(exc, "speech")
        raise BatchError(f"{where} do not make a [speech] table: {problems}") from None


def read_speech_file(path: Path, timeout_s: float) -> tuple[AnySpec, ServiceInfo]:
    """``--speech FILE``: a service.toml (or a directory holding one), or a file with a
    ``[speech]`` table (or only that table's keys)."""
    from ttsops.service import SERVICE_MANIFEST, load_service_manifest

    if path.is_dir():
        path = path / SERVICE_MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchError(
            f"--speech {path} does not exist; pass a service.toml or a TOML file with a "
            '[speech] table such as protocol = "gradio"'
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BatchError(f"--speech {path} is not a readable TOML file: {exc}") from None
    if "image" in data or "command" in data:  # a whole service.toml
        service = load_service_manifest(path)
        spec = service.speech.model_copy(update={"timeout_s": timeout_s})
        return spec, ServiceInfo(
            name=service.name, sample_rate=service.sample_rate, voices=service.voices
        )
    table = data.get("speech", data)
    if not isinstance(table, dict) or "protocol" not in table:
        raise BatchError(
            f"--speech {path} has no [speech] table with a protocol; write one such as "
            '[speech] protocol = "gradio", api_name = "/synthesize"'
        )
    return _validate({**table, "timeout_s": timeout_s}, f"the [speech] table of {path}"), (
        ServiceInfo()
    )


def speech_backend(url: str, spec: AnySpec, service: ServiceInfo) -> SpeakerBackend:
    """A backend that speaks ``spec`` to the service at ``url``."""
    return SpeakerBackend(lambda: open_speaker(spec, url), url, service)


def version_backend(url: str, version_dir: Path, timeout_s: float) -> SpeakerBackend | None:
    """``--version V``: the registered version's own adapter at ``url`` (the router), or None
    for a bundle version (``ttsops serve`` speaks ttsops' own API: the default backend)."""
    from ttsops.bundle import load_manifest
    from ttsops.service import service_of, speaker_for

    service = service_of(version_dir)
    if service is None:
        load_manifest(version_dir)  # a bundle: its files are fine, the HTTP backend serves it
        return None
    info = ServiceInfo(
        name=service.name,
        version=service.version,
        sample_rate=service.sample_rate,
        voices=service.voices,
    )
    return SpeakerBackend(lambda: speaker_for(version_dir, url, timeout_s=timeout_s), url, info)
