"""`ttsops serve`: one replica serving one bundle over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def serve(
    bundle: Annotated[
        Path, typer.Option("--bundle", "-b", help="Bundle directory to serve (verified first).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 for all.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 6006,
    workers: Annotated[
        int | None,
        typer.Option(help="Syntheses at once (inference pool size); default: CPU cores."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="onnxruntime threads per synthesis (default 1).")
    ] = None,
    solo_threads: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="onnxruntime threads for a synthesis running alone (default: CPU cores; "
            "0 turns it off and saves a second copy of the model in memory).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=2**31 - 1,
            help="Noise seed for requests that name none: same text, same audio "
            "(default: fresh noise each request).",
        ),
    ] = None,
    queue_size: Annotated[
        int | None, typer.Option(help="Requests that may wait before 503 (default 16).")
    ] = None,
    max_input_chars: Annotated[
        int | None, typer.Option(help="Longest input in characters (default 5000).")
    ] = None,
    request_timeout: Annotated[
        float | None, typer.Option(help="Seconds one synthesis may take (default 120).")
    ] = None,
    drain_timeout: Annotated[
        float | None, typer.Option(help="Seconds to finish requests after SIGTERM (default 30).")
    ] = None,
    port_file: Annotated[
        Path | None, typer.Option(help="Write the bound port here once listening.")
    ] = None,
    ui: Annotated[bool, typer.Option(help="Serve the web UI at /ui.")] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve a bundle: OpenAI-compatible speech API, web UI, health, readiness and metrics.

    Routes: POST /v1/audio/speech, GET /v1/models, /healthz, /readyz (200 after a real
    warm-up synthesis), /version, /metrics, /ui, /docs. SIGTERM drains: readiness turns
    503, requests in flight finish, exit 0. Limits come from [server] in ttsops.toml;
    options here override them.

    Example: ttsops serve --bundle bundles/joe --port 6006
    """
    from ttsops.bundle import verify_bundle
    from ttsops.server import serve_forever
    from ttsops.settings import load_settings

    settings = load_settings().server
    overrides = {
        "workers": workers,
        "threads": threads,
        "solo_threads": solo_threads,
        "seed": seed,
        "queue_size": queue_size,
        "max_input_chars": max_input_chars,
        "request_timeout_s": request_timeout,
        "drain_timeout_s": drain_timeout,
    }
    settings = settings.model_validate(
        {**settings.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    manifest = verify_bundle(bundle)
    code = serve_forever(
        bundle.resolve(),
        manifest,
        settings,
        host=host,
        port=port,
        port_file=port_file,
        ui=ui,
        log_level=log_level,
    )
    sys.exit(code)
