"""The ttsops command line: thin commands over the parts; errors become exit codes here."""

from __future__ import annotations

import signal
import sys

import typer

from ttsops import __version__
from ttsops.cli import (
    agent,
    analysis,
    batch,
    bundle,
    deploy,
    down,
    gate,
    image,
    init,
    k8s,
    logs,
    probe,
    registry,
    release,
    serve,
)
from ttsops.errors import TtsopsError

__all__ = ["app", "main"]

app = typer.Typer(
    name="ttsops",
    help=(
        "Continuous delivery for text-to-speech models: bundle a voice, register it, "
        "gate it on quality, serve it and roll it out with no failed request."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bundle.app, name="bundle")
registry.register_commands(app)
app.command("batch")(batch.batch)
app.command("gate")(gate.gate)
app.command("serve")(serve.serve)
app.add_typer(agent.app, name="agent")
deploy.register_commands(app)
app.command("release")(release.release)
app.add_typer(image.app, name="image")
app.command("init")(init.init)
app.add_typer(k8s.app, name="k8s")
app.add_typer(analysis.app, name="analysis")
app.command("probe")(probe.probe)
app.command("logs")(logs.logs)
app.command("down")(down.down)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ttsops {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Continuous delivery for text-to-speech models."""


class _Interrupted(BaseException):
    """Ctrl-C, raised past click (which would turn KeyboardInterrupt into exit 1)."""


def _on_sigint(signum: int, frame: object) -> None:
    raise _Interrupted


def main() -> None:
    """Entry point: run the app and map errors to exit codes (error 1, usage 2, Ctrl-C 130)."""
    from ttsops.cli import output

    signal.signal(signal.SIGINT, _on_sigint)
    try:
        app()
    except TtsopsError as exc:
        output.error(exc.message)
        sys.exit(1)
    except _Interrupted:
        output.error("interrupted")
        sys.exit(130)
