"""`ttsops image …`: container images of versions (build, push) and a store image's start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ttsops.cli import output

if TYPE_CHECKING:
    from ttsops.bundle import Manifest
    from ttsops.containers import BuiltImage

app = typer.Typer(
    help="Container images of versions: build (baked or store), push, and the image's start.",
    no_args_is_help=True,
)

_STEPS = ("base image", "wheels", "context", "build")
_EXTRAS = ("gate", "voices", "postgres")


@app.command("build")
def build(
    source: Annotated[str, typer.Argument(help="A bundle directory or a registered version.")],
    tag: Annotated[str, typer.Option("--tag", "-t", help="Image reference, REPO:VERSION.")],
    model: Annotated[
        str,
        typer.Option(
            help="baked: the bundle is in the image; store: fetched from TTSOPS_STORE_URL at start."
        ),
    ] = "baked",
    push: Annotated[bool, typer.Option(help="Push the image to its registry afterwards.")] = False,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--extra",
            help="Also install an optional dependency group: gate (the quality gate's "
            "scorers, for an image that runs `ttsops gate` or `ttsops analysis serve`). "
            "Repeatable.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {image, id, size, labels, seconds}.")
    ] = False,
) -> None:
    """Build a container image of a version with the Docker-compatible engine found.

    The engine is DOCKER_HOST's, a docker whose daemon answers, or podman. The build is
    offline: the base image comes from the Debian mirror (built once, cached), the wheels
    from the lock file (downloaded on the host once, cached). A registered version's image
    is recorded in the ledger (`ttsops show VERSION`).

    Example: ttsops image build bundles/joe --tag localhost/joe:1.0.0

    The image serves; it leaves out the gate's scorers unless --extra gate (an image for
    `ttsops analysis serve`: ttsops image build VERSION --model store --extra gate ...).
    """
    from ttsops.containers import build_image, find_engine, push_image

    if model not in ("baked", "store"):
        raise typer.BadParameter(f"--model is baked or store, not {model!r}")
    extras = tuple(dict.fromkeys(extra or ()))
    unknown = [name for name in extras if name not in _EXTRAS]
    if unknown:
        raise typer.BadParameter(
            f"--extra {unknown[0]!r} is not an optional group; choose from {', '.join(_EXTRAS)}"
        )
    bundle_dir, manifest, version = _resolve(source)
    engine = find_engine()
    with output.progress(transient=True) as bar:
        task = bar.add_task("image", total=len(_STEPS), extra="")

        def on_step(name: str) -> None:
            bar.update(task, description=name, completed=_STEPS.index(name), extra="")

        def on_line(line: str) -> None:
            bar.update(task, extra=" ".join(line.split())[:72])

        result = build_image(
            engine,
            tag,
            model="store" if model == "store" else "baked",
            bundle_dir=bundle_dir,
            manifest=manifest,
            on_step=on_step,
            on_line=on_line,
            extras=extras,
        )
        bar.update(task, completed=len(_STEPS))
        if push:
            bar.update(task, description="push", extra="")
            push_image(engine, result.image, on_line)
    if version is not None:
        _record(version, result, model)
    if as_json:
        output.print_json(result.as_json())
        return
    output.success(
        f"built {result.image} ({result.id[:19]}…, {result.size / 1e6:.0f} MB, {model}) "
        f"in {result.seconds:.1f} s" + (", pushed" if push else "")
    )


def _resolve(source: str) -> tuple[Path | None, Manifest | None, str | None]:
    """(bundle dir, manifest, registered version or None) of SOURCE."""
    from ttsops.bundle import verify_bundle
    from ttsops.registry import Registry

    path = Path(source)
    if path.is_dir():
        manifest = verify_bundle(path)
        with Registry.open() as reg:
            found = reg.ledger.find_version(manifest.version)
        registered = found is not None and found.digest == manifest.digest
        return path, manifest, manifest.version if registered else None
    with Registry.open() as reg:
        fetched = reg.fetch(source)
    return fetched.path, verify_bundle(fetched.path), fetched.record.version


def _record(version: str, result: BuiltImage, model: str) -> None:
    from ttsops.registry import Registry

    with Registry.open() as reg:
        reg.ledger.record_image(version, result.image, result.id, model=model, size=result.size)


@app.command("start")
def start(
    version: Annotated[
        str | None,
        typer.Option(envvar="TTSOPS_VERSION", help="Version to fetch (env TTSOPS_VERSION)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",  # noqa: S104 - in a container
    port: Annotated[int, typer.Option(help="Port.")] = 6006,
) -> None:
    """A store image's entry: fetch TTSOPS_VERSION from TTSOPS_STORE_URL, verify, serve.

    Every file is checked against its digest before the model loads; a missing version or
    a tampered blob ends the process at once with one line (exit 1).
    """
    from ttsops.cli.serve import serve
    from ttsops.errors import ContainerError
    from ttsops.registry import Registry

    if not version:
        raise ContainerError(
            "TTSOPS_VERSION is not set: a store image fetches that version from "
            "TTSOPS_STORE_URL at start; run it with -e TTSOPS_VERSION=1.0.0"
        )
    with Registry.open() as reg:
        fetched = reg.fetch(version)
        store_url = reg.store_url
    # A log line of the container: one line whatever the width (rich would wrap it at 80).
    typer.echo(
        f"fetched {fetched.record.name}@{fetched.record.version} from {store_url}: "
        "every file matches its digest"
    )
    serve(bundle=fetched.path, host=host, port=port)
