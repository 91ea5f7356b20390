"""`ttsops logs SLOT [-f]`: a slot's log, whether the slot is a process or a container."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer


def logs(
    slot: Annotated[str, typer.Argument(help="blue or green.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    tail: Annotated[int, typer.Option(min=0, help="Lines from the end to start with.")] = 100,
    state_dir: Annotated[
        Path | None, typer.Option(help="The agent's state dir (default $TTSOPS_HOME/agent).")
    ] = None,
) -> None:
    """Print a slot's log: the `ttsops serve` log of a process slot, the engine's of a container.

    The runtime is `[agent] runtime` of the settings. Example: ttsops logs green -f
    """
    from ttsops.errors import RolloutError
    from ttsops.settings import load_settings

    if slot not in ("blue", "green"):
        raise typer.BadParameter(f"the slots are blue and green, not {slot!r}")
    settings = load_settings()
    where = (state_dir or settings.agent_state_dir).expanduser().resolve()
    if settings.agent.runtime == "container":
        from ttsops.containers import find_engine
        from ttsops.containers.slots import find_slot_container

        engine = find_engine()
        found = find_slot_container(engine, where, slot)
        if found is not None:
            args = ["logs", "--tail", str(tail), *(["--follow"] if follow else []), found]
            raise typer.Exit(engine.passthrough(*args))
        # No container now: the log of the slot's last one was kept at its removal.
    log = where / "slots" / slot / "serve.log"
    if not log.is_file():
        raise RolloutError(f"slot {slot} has no log at {log}; `ttsops status` lists the slots")
    _print_file(log, tail, follow)


def _print_file(log: Path, tail: int, follow: bool) -> None:
    with log.open("rb") as handle:
        lines = handle.readlines()
        sys.stdout.buffer.write(b"".join(lines[-tail:] if tail else []))
        sys.stdout.flush()
        while follow:
            chunk = handle.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            elif handle.tell() > log.stat().st_size:  # rotated (truncated): start over
                handle.seek(0)
            else:
                time.sleep(0.3)
