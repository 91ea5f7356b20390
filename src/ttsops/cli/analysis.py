"""`ttsops analysis serve`: the canary analysis as an HTTP service for Argo Rollouts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli import output

app = typer.Typer(
    help="The canary analysis as a service: Argo Rollouts' web metric calls it.",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8080,
    port_file: Annotated[
        Path | None, typer.Option(help="Write the port bound here once listening.")
    ] = None,
) -> None:
    """Serve POST /v1/analysis: the same probes to a canary and a stable service, judged.

    Each request names two ttsops services ({"canary": URL, "stable": URL}); both get the
    same sentences in pairs, one at a time, and the canary is judged as the agent judges one:
    errors, latency p95 and DNSMOS OVRL against the \\[canary] thresholds of ttsops.toml. The
    answer's "verdict" (pass, fail, inconclusive) is what the AnalysisTemplate of
    `ttsops k8s render --rollouts` reads. DNSMOS needs ttsops\\[gate]. OpenAPI at /docs.

    Example: ttsops analysis serve --host 0.0.0.0 --port 8080
    """
    import logging
    import socket

    import uvicorn

    from ttsops.analysis_service import DnsmosScorer, create_analysis_app, probe_count
    from ttsops.errors import AnalysisError
    from ttsops.settings import load_settings

    settings = load_settings()
    with output.progress(transient=True) as bar:
        bar.add_task("loading DNSMOS", total=None, extra="")
        scorer = DnsmosScorer()  # before listening: a pod is live only once it can score
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AnalysisError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from None
    sock.listen(256)
    bound = sock.getsockname()[1]
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(bound), encoding="utf-8")
        tmp.replace(port_file)
    output.info(
        f"analysis service on http://{host}:{bound} ({probe_count(settings.canary)} probes "
        "per service): POST /v1/analysis, docs at /docs"
    )
    config = uvicorn.Config(
        create_analysis_app(settings.canary, scorer), log_level="warning", timeout_keep_alive=5
    )
    uvicorn.Server(config).run(sockets=[sock])
