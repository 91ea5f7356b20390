"""`ttsops deploy | rollback | status`: talk to the agent of a host."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ttsops.rollout.client import AgentClient

__all__ = ["SLOT_COLUMNS", "deploy", "register_commands", "rollback", "slot_rows", "status"]

_AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", help="Agent URL (default TTSOPS_AGENT_URL or http://127.0.0.1:6007)."),
]
_TokenFileOpt = Annotated[
    Path | None,
    typer.Option(help="File with the agent's token (default TTSOPS_TOKEN, or the local agent's)."),
]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def register_commands(app: typer.Typer) -> None:
    """Add the agent-facing commands to the root app."""
    app.command("deploy")(deploy)
    app.command("rollback")(rollback)
    app.command("status")(status)


def _client(agent_url: str | None, token_file: Path | None) -> AgentClient:
    from ttsops.errors import ConfigError
    from ttsops.settings import load_settings

    settings = load_settings()
    url = agent_url or settings.agent_url
    token = settings.token
    # The same places `ttsops agent` reads it from, so one TTSOPS_HOME is enough on a host.
    path = token_file or settings.agent.token_file or settings.agent_state_dir / "token"
    if token is None and path.is_file():
        token = path.read_text().strip()
    elif token is None and token_file is not None:
        raise ConfigError(f"token file {token_file} does not exist; pass the agent's token file")
    if not token:
        raise ConfigError(
            f"no token for the agent at {url}: TTSOPS_TOKEN is not set and {path} "
            f"{'is empty' if path.is_file() else 'does not exist'}; set TTSOPS_HOME to the "
            "agent's home (it keeps the token in <home>/agent/token), export TTSOPS_TOKEN, "
            "or pass --token-file"
        )
    return AgentClient(url, token)


def _actor() -> str:
    from ttsops.registry import default_actor

    return default_actor()


def _follow(client: AgentClient, deployment: dict[str, Any], *, abort_ok: bool = False) -> int:
    """Print each new event of a deployment until it is terminal; the exit code."""
    from ttsops.cli import output

    seen = 0
    current = deployment
    while True:
        current = client.deployment(current["id"])
        for event in client.events(current["id"], after=seen):
            seen = max(seen, event["id"])
            if event["kind"] != "deployment.state":  # the phase events say it in more detail
                output.info(f"{event['at'][11:19]}  {event['message']}")
        if current["terminal"]:
            break
        time.sleep(0.3)
    if current["state"] == "live":
        extra = f" (downtime {current['downtime_s']:.1f} s)" if current["downtime_s"] else ""
        output.success(f"{current['version']} is live{extra}")
        return 0
    if abort_ok and current["state"] == "aborted":
        # `ttsops rollback` during a deployment stops it: the old version still serves.
        kept = current["old_version"] or "the live version"
        output.success(f"deployment #{current['id']} aborted; {kept} serves")
        return 0
    output.error(
        f"deployment #{current['id']} of {current['version']} {current['state']}: "
        f"{current['reason']}"
    )
    return 1


def deploy(
    version: Annotated[str, typer.Argument(help="Registered version, e.g. 1.4.0.")],
    strategy: Annotated[
        str,
        typer.Option(
            help="blue-green (all traffic at once, zero downtime), canary (10% → 50% → 100%, "
            "each step analysed against the live version; rolls back by itself) or recreate "
            "(one model at a time)."
        ),
    ] = "blue-green",
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
    start_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds the new slot may take to become ready (default: the agent's)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Follow it live until it is live or rolled back.")
    ] = False,
    agent: _AgentOpt = None,
    token_file: _TokenFileOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """Deploy a registered version through the host's agent.

    With --wait, prints every step as it happens; exit 0 when live, 1 when it was rolled
    back or failed (with the reason).

    Example: ttsops deploy 1.4.0 --wait
    """
    from ttsops.cli import output
    from ttsops.registry import normalize_version

    client = _client(agent, token_file)
    created = client.deploy(normalize_version(version), strategy, _actor(), reason, start_timeout)
    if as_json and not wait:
        output.print_json(created)
        return
    output.info(f"deployment #{created['id']} of {created['version']} ({strategy}) accepted")
    if wait:
        raise typer.Exit(_follow(client, created))


def rollback(
    to: Annotated[
        str | None, typer.Option("--to", help="Version to return to (default the previous one).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the old version serves again.")] = True,
    agent: _AgentOpt = None,
    token_file: _TokenFileOpt = None,
) -> None:
    """Return to the previous stable version: a router switch when it is kept warm.

    Records who asked, when and why.

    Example: ttsops rollback --reason "clicks in long sentences"
    """
    from ttsops.cli import output
    from ttsops.registry import normalize_version

    client = _client(agent, token_file)
    target = normalize_version(to) if to else None
    created = client.rollback(target, _actor(), reason)
    if created["phase"] == "rolling_back":
        output.info(f"deployment #{created['id']} of {created['version']} in flight: aborting it")
    else:
        output.info(f"rollback #{created['id']} to {created['version']} accepted")
    if wait:
        raise typer.Exit(_follow(client, created, abort_ok=True))


def status(
    agent: _AgentOpt = None,
    token_file: _TokenFileOpt = None,
    as_json: _JsonOpt = False,
) -> None:
    """What is live on the host, since when, from which commit; slots, weights, health.

    Example: ttsops status
    """
    from ttsops.cli import output

    client = _client(agent, token_file)
    data = client.status()
    if as_json:
        output.print_json(data)
        return
    output.fields(
        None,
        [
            ("live", data["live_version"] or "nothing"),
            ("since", data["live_since"]),
            ("git sha", data["git_sha"]),
            ("digest", (data["digest"] or "")[:12] or None),
            (
                "public",
                f"{data['public_url']} ({'ready' if data['public_ready'] else 'NOT ready'})",
            ),
            ("router pid", data["router_pid"]),
            ("deploying", f"#{data['active_deployment']}" if data["active_deployment"] else None),
            ("patrol", _patrol_line(data.get("patrol"))),
        ],
    )
    output.table("slots", SLOT_COLUMNS, slot_rows(data["slots"]))


SLOT_COLUMNS = ["slot", "version", "state", "weight", "port", "runs as"]
"""The columns of ``ttsops status``'s slots table."""


def slot_rows(slots: list[dict[str, Any]]) -> list[list[Any]]:
    """The rows of ``ttsops status``'s slots table; "runs as" is ``pid N`` or ``container ID``.

    A container slot has no pid on the host: it shows its short container id, as ``podman
    ps`` does.
    """
    return [
        [
            s["slot"],
            s["version"],
            s["state"],
            "backup" if s["backup"] else f"{s['weight']}%",
            s["port"],
            _runs_as(s),
        ]
        for s in slots
    ]


def _runs_as(slot: dict[str, Any]) -> str | None:
    """``pid N``, ``container ID``, or None once a process slot has exited; ``(service)``
    after it for a slot of a service version."""
    tag = " (service)" if slot.get("kind") == "service" else ""
    if slot.get("container"):
        return f"container {slot['container']}{tag}"
    if slot.get("pid") is not None:
        return f"pid {slot['pid']}{tag}"
    return None


def _patrol_line(patrol: dict[str, Any] | None) -> str:
    """The patrol's counters in a few words."""
    if patrol is None:
        return "off ([patrol] enabled = false)"
    if not patrol["checks"]:
        return "no probe yet"
    if patrol["consecutive_failures"]:
        return (
            f"{patrol['consecutive_failures']} failed in a row: {patrol['last_reason']} "
            f"({patrol['alarms']} alerts so far)"
        )
    return f"ok ({patrol['checks']} probes, {patrol['alarms']} alerts)"
