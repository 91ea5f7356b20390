"""`ttsops register`: a bundle, a ``service.toml``, or a service described by flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ttsops.cli import output

if TYPE_CHECKING:
    from ttsops.registry import RegisterResult
    from ttsops.service import ServiceManifest

__all__ = ["register"]

_SERVICE = "Service (no service.toml)"


def register(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A bundle directory (bundle.toml), or a service.toml (or a directory "
            "holding one). Leave out to describe a service with --image or --command.",
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="1.2.0 or v1.2.0; 'git' reads it from HEAD (an exact v-tag, else "
            "0.0.0-dev+<sha>). Default: the manifest's version.",
        ),
    ] = None,
    git_sha: Annotated[
        str | None,
        typer.Option("--git-sha", help="Commit it was built from. Default: manifest, else HEAD."),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option("--trigger", help="What registered it (manual, tag, ci…)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="A local image the service runs from (pinned to its id; never pulled).",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port the image listens on inside its container.",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            help='Command that serves it, e.g. "venv/bin/python app.py" (gets $PORT).',
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    cwd: Annotated[
        str | None,
        typer.Option(
            "--cwd", help="Directory the command runs in (default: here).", rich_help_panel=_SERVICE
        ),
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            help="A file under --cwd that makes the version (app, lock file); repeatable: "
            "their sha256 go into the digest.",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Service name (default: the image's or directory's name).",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    language: Annotated[
        list[str] | None,
        typer.Option(
            "--language",
            help="Language it speaks (en-US, zh-CN; repeatable): picks the gate's sentences.",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    sample_rate: Annotated[
        int | None,
        typer.Option(
            "--sample-rate",
            min=1,
            help="Rate of the audio it answers with.",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="How to get speech: openai, gradio or http.",
            rich_help_panel=_SERVICE,
        ),
    ] = "openai",
    api_name: Annotated[
        str | None,
        typer.Option(
            "--api-name", help="Gradio endpoint, e.g. /synthesize.", rich_help_panel=_SERVICE
        ),
    ] = None,
    start_timeout: Annotated[
        float | None,
        typer.Option(
            "--start-timeout",
            min=1,
            help="Seconds it may take to load (default 120).",
            rich_help_panel=_SERVICE,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Record a version: a bundle's files, or a team's own TTS service, in the registry.

    A bundle is verified and its files uploaded. A service (service.toml, or the flags
    under "Service") is pinned first: an image to its id, a command to its directory and
    the sha256 of its --file files. A version is immutable: the same version with another
    digest is refused, the identical one again is a no-op.

    Example: ttsops register bundles/joe --version v1.2.0

    Example: ttsops register services/voxui/service.toml --version 1.4.0

    Example: ttsops register --command "venv/bin/python app.py" --cwd /opt/glmtts
    --file app.py --language en-US --sample-rate 24000 --protocol gradio
    --api-name /synthesize --version 1.0.0
    """
    from ttsops.cli.registry import _open, _transfer_bars
    from ttsops.registry.services import is_service_path, register_service

    flags = {
        "--image": image,
        "--port": port,
        "--command": command,
        "--cwd": cwd,
        "--file": files,
        "--name": name,
        "--language": language,
        "--sample-rate": sample_rate,
        "--api-name": api_name,
        "--start-timeout": start_timeout,
        "--protocol": None if protocol == "openai" else protocol,
    }
    given = [flag for flag, value in flags.items() if value]
    service: ServiceManifest | Path | None = None
    if path is not None and given:
        raise typer.BadParameter(
            f"{', '.join(given)} {'describes' if len(given) == 1 else 'describe'} a service "
            f"without a file; pass {'it' if len(given) == 1 else 'them'} without PATH, or put "
            f"{'it' if len(given) == 1 else 'them'} in {path}'s service.toml"
        )
    if path is None:
        if not given:
            raise typer.BadParameter(
                "pass a bundle directory or service.toml, or describe a service with "
                "--image REF --port N or --command CMD (see --help)"
            )
        service = _from_flags(
            image,
            port,
            command,
            cwd,
            files,
            name,
            language,
            sample_rate,
            protocol,
            api_name,
            start_timeout,
        )
    elif is_service_path(path):
        service = path
    with _open() as reg, _transfer_bars(not as_json) as on_file:
        if service is None:
            assert path is not None
            result = reg.register(
                path, version=version, git_sha=git_sha, trigger=trigger, on_file=on_file
            )
        else:
            result = register_service(
                reg, service, version=version, git_sha=git_sha, trigger=trigger, on_file=on_file
            )
    _report(result, as_json)


def _from_flags(
    image: str | None,
    port: int | None,
    command: str | None,
    cwd: str | None,
    files: list[str] | None,
    name: str | None,
    language: list[str] | None,
    sample_rate: int | None,
    protocol: str,
    api_name: str | None,
    start_timeout: float | None,
) -> ServiceManifest:
    from ttsops.errors import ServiceManifestError
    from ttsops.registry.services import service_from_flags

    try:
        return service_from_flags(
            image=image,
            port=port,
            command=command,
            cwd=cwd,
            files=files or (),
            name=name,
            languages=language or (),
            sample_rate=sample_rate,
            protocol=protocol,
            api_name=api_name,
            start_timeout_s=start_timeout,
        )
    except ServiceManifestError as exc:
        raise typer.BadParameter(exc.message) from None


def _report(result: RegisterResult, as_json: bool) -> None:
    from ttsops.cli.registry import _count, _size, service_kind

    rec = result.record
    kind = service_kind(rec.manifest)
    if as_json:
        output.print_json(
            {
                "version": rec.version,
                "name": rec.name,
                "digest": rec.digest,
                "stage": rec.stage.value,
                "service": kind,
                "created": result.created,
                "restored": result.restored,
                "uploaded_files": result.uploaded_files,
                "uploaded_bytes": result.uploaded_bytes,
            }
        )
        return
    what = f", a {kind} service" if kind else ""
    moved = f"{_count(result.uploaded_files, 'blob')} uploaded ({_size(result.uploaded_bytes)})"
    if result.created:
        output.success(
            f"registered {rec.name}@{rec.version} ({rec.stage.value}{what}): {moved}, "
            f"digest {rec.digest[:12]}"
        )
    elif result.restored:
        output.success(f"restored {rec.version}, which gc had collected: {moved}")
    else:
        repaired = f"; {moved} that were missing" if result.uploaded_files else ""
        output.info(
            f"version {rec.version} is already registered with this digest "
            f"({rec.digest[:12]}); nothing to do{repaired}"
        )
