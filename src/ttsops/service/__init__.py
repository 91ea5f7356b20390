"""Service versions: a team's own TTS server (an image, or a command in its own environment)."""

from __future__ import annotations

from ttsops.service.bundle import (
    SERVICE_ENGINE,
    check_command_files,
    is_service_bundle,
    resolve_service,
    service_of,
    write_service_bundle,
)
from ttsops.service.command import CommandLine, command_for
from ttsops.service.manifest import (
    SERVICE_MANIFEST,
    CommandRuntime,
    ImageRuntime,
    ReadyCheck,
    ServiceManifest,
    load_service_manifest,
    parse_service_manifest,
)
from ttsops.service.speakers import speaker_for

__all__ = [
    "SERVICE_ENGINE",
    "SERVICE_MANIFEST",
    "CommandLine",
    "CommandRuntime",
    "ImageRuntime",
    "ReadyCheck",
    "ServiceManifest",
    "check_command_files",
    "command_for",
    "is_service_bundle",
    "load_service_manifest",
    "parse_service_manifest",
    "resolve_service",
    "service_of",
    "speaker_for",
    "write_service_bundle",
]
