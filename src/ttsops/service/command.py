"""How a command service is started on a port: its argv, environment and directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ttsops.errors import ServiceError
from ttsops.service.manifest import ServiceManifest

__all__ = ["CommandLine", "command_for"]


@dataclass(frozen=True)
class CommandLine:
    """A command service's process, ready for ``subprocess.Popen``."""

    argv: list[str]
    """Program and arguments, ``{port}`` replaced."""

    env: dict[str, str]
    """The whole environment: this process's, then ``PORT``/``GRADIO_SERVER_*``, then the
    manifest's ``env`` (``{port}`` replaced)."""

    cwd: Path
    """Working directory."""


def command_for(
    manifest: ServiceManifest, port: int, *, base_env: Mapping[str, str] | None = None
) -> CommandLine:
    """The process that runs ``manifest``'s command listening on 127.0.0.1:``port``.

    The service learns its port three ways, so most apps need no change: ``{port}`` in argv
    or env values, ``$PORT``, and Gradio's own ``$GRADIO_SERVER_PORT`` (with
    ``GRADIO_SERVER_NAME=127.0.0.1``, so it is not exposed beyond loopback).
    """
    command = manifest.command
    if command is None:
        raise ServiceError(
            f"service {manifest.name} runs from an image, not a command; "
            'run it with the container runtime ([agent] runtime = "container")'
        )
    cwd = Path(command.cwd)
    if not cwd.is_dir():
        raise ServiceError(
            f"service {manifest.name}@{manifest.version}: its directory {cwd} does not exist on "
            "this host; the command runs where it was registered"
        )
    text = str(port)
    env = dict(os.environ if base_env is None else base_env)
    # ttsops' own venv must not leak into the service's environment.
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "TTSOPS_HOME"):
        env.pop(name, None)
    env.update({"PORT": text, "GRADIO_SERVER_PORT": text, "GRADIO_SERVER_NAME": "127.0.0.1"})
    env.update({key: value.replace("{port}", text) for key, value in command.env.items()})
    argv = [arg.replace("{port}", text) for arg in command.argv]
    return CommandLine(argv, env, cwd)
