"""`ttsops agent`: the long-running deployment agent of this host; `ttsops agent stop`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli.down import down

__all__ = ["agent", "app"]

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
"""`ttsops agent` runs the agent (the callback's docstring is its help); `stop` stops it."""
app.command(
    "stop",
    help="Stop the agent, drain and stop its slots (processes or containers) and its nginx; "
    "the same as `ttsops down`. Example: ttsops agent stop",
)(down)


@app.callback(invoke_without_command=True)
def agent(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Slots, router config and logs (default $TTSOPS_HOME/agent)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address of the management API (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port of the management API (default 6007).")
    ] = None,
    public_port: Annotated[
        int | None, typer.Option(help="Port users reach the service on, via nginx (default 6006).")
    ] = None,
    start_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a new slot may take to become ready (default 120)."),
    ] = None,
    drain_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds an old slot may finish its requests (default 30)."),
    ] = None,
    keep_warm: Annotated[
        bool | None,
        typer.Option(
            "--keep-warm/--no-keep-warm",
            help="Keep the previous version running so rollback is a router switch.",
        ),
    ] = None,
    serve_arg: Annotated[
        list[str] | None,
        typer.Option(help="Extra argument for every slot's `ttsops serve` (repeatable)."),
    ] = None,
) -> None:
    """Run the deployment agent: slots, the nginx router and the management API.

    It owns a state dir and keeps its state in the ledger, so it can be killed at any
    moment and, started again, resumes or rolls back the deployment in flight. Slots and
    nginx keep serving while the agent is down. Token: TTSOPS_TOKEN, [agent] token_file,
    or <state-dir>/token (created on first start).

    Example: ttsops agent --public-port 6006; stop it all with: ttsops agent stop
    """
    if ctx.invoked_subcommand is not None:
        return
    import logging

    import uvicorn

    from ttsops.cli import output
    from ttsops.rollout import Agent, agent_token
    from ttsops.rollout.api import create_agent_app
    from ttsops.settings import load_settings

    settings = load_settings()
    overrides = {
        "state_dir": state_dir,
        "host": host,
        "port": port,
        "public_port": public_port,
        "start_timeout_s": start_timeout,
        "drain_timeout_s": drain_timeout,
        "keep_previous_warm": keep_warm,
        "serve_args": serve_arg,
    }
    settings.agent = settings.agent.model_validate(
        {**settings.agent.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    the_agent = Agent(settings)
    token, token_path = agent_token(settings, the_agent.state_dir)
    the_agent.recover()
    cfg = settings.agent
    output.info(
        f"agent: state {the_agent.state_dir}, API http://{cfg.host}:{cfg.port}, "
        f"public {the_agent.router.url}"
        + (f", token in {token_path}" if token_path else ", token from TTSOPS_TOKEN")
    )
    app = create_agent_app(the_agent, token)
    try:
        uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")
    finally:
        the_agent.close()
