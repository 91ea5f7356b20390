"""`ttsops down`: stop a host — its agent, its slots (drained) and its router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli import output


def down(
    state_dir: Annotated[
        Path | None, typer.Option(help="The agent's state dir (default $TTSOPS_HOME/agent).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was stopped as JSON.")
    ] = False,
) -> None:
    """Stop the agent, drain and stop its slots (processes or containers), stop its nginx.

    The agent is stopped first, so it restarts nothing; each slot gets SIGTERM and the drain
    limit to finish its requests. Example: ttsops down
    """
    from ttsops.rollout.down import stop_host
    from ttsops.settings import load_settings

    settings = load_settings()
    where = (state_dir or settings.agent_state_dir).expanduser().resolve()
    stopped = stop_host(settings, where)
    if as_json:
        output.print_json({"state_dir": str(where), "stopped": [s.__dict__ for s in stopped]})
        return
    if not stopped:
        output.info(f"nothing was running for {where}")
    for s in stopped:
        output.success(f"stopped {s.what} {s.name} ({s.detail})")
