"""`ttsops release SOURCE`: what CI runs on a git tag — register, gate, deploy, wait."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ttsops.cli import output
from ttsops.errors import TtsopsError

if TYPE_CHECKING:
    from ttsops.release import ReleaseResult, Update

__all__ = ["release"]

_STYLE = {
    "live": "green",
    "already_live": "green",
    "blocked": "red",
    "rolled_back": "red",
    "failed": "red",
    "aborted": "yellow",
    "timed_out": "red",
    "error": "red",
}


class _Printer:
    """Prints each update: steps and events as lines, gate progress as a bar on a terminal.

    With --json everything goes to stderr, so stdout holds the one JSON object.
    """

    def __init__(self, to_stderr: bool) -> None:
        self._console = output.err_console if to_stderr else output.console
        self._bars = ExitStack()
        self._bar: Any = None
        self._task: Any = None
        self._shown = -1
        self._total = 0

    def __call__(self, update: Update) -> None:
        if update.kind == "gate":
            self._gate(update)
            return
        self.close()
        if update.kind == "warning":
            output.warning(update.message)
        elif update.kind == "event":
            self._console.print(f"    {update.message}", highlight=False, markup=False)
        else:
            self._console.print(f"[bold]→[/bold] {output.escape(update.message)}", highlight=False)

    def _gate(self, update: Update) -> None:
        if output.err_console.is_terminal:
            if self._bar is None:
                self._bar = self._bars.enter_context(output.progress(transient=True))
                self._task = self._bar.add_task("gate", total=update.total or None, extra="")
            self._bar.update(self._task, completed=update.done, total=update.total, extra="")
            return
        quarter = 4 * update.done // update.total if update.total else 0
        if update.total != self._total:  # the gate planned another round: count anew
            self._total, self._shown = update.total, min(quarter, self._shown)
        if quarter > self._shown:  # a CI log gets a line per quarter, not per sentence
            self._shown = quarter
            self._console.print(f"    gate: {update.done}/{update.total}", highlight=False)

    def close(self) -> None:
        self._bars.close()
        self._bar = None


def release(
    source: Annotated[
        str,
        typer.Argument(
            help="A bundle directory, a service.toml (or its directory: a team's own TTS "
            "service), each with its version from --version or its git tag, or a registered "
            "version such as 1.4.0.",
            show_default=False,
        ),
    ],
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Version of a bundle directory (1.4.0 or v1.4.0). Default: the exact v* git "
            "tag of its commit, else 0.0.0-dev+<short sha>.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Target from \\[targets.<name>] in ttsops.toml. Default: production for a "
            "release version, staging for a 0.0.0-dev+ version.",
        ),
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="How the agent rolls it out: canary, blue-green…")
    ] = "canary",
    agent: Annotated[
        str | None, typer.Option("--agent", help="Agent URL, overriding the target's.")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="File with the agent's token, overriding the target's."),
    ] = None,
    skip_gate: Annotated[
        bool,
        typer.Option("--skip-gate", help="Deploy without the gate (recorded as skipped)."),
    ] = False,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir", help="Gate report directory. Default: .ttsops/releases/<version>."
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Append the Markdown summary here (also to $GITHUB_STEP_SUMMARY when set).",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Seconds to wait for the deployment; then abort."),
    ] = 1800.0,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; recorded with the deployment.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout (progress on stderr).")
    ] = False,
) -> None:
    """Release a voice: register it, gate it against the live version, deploy, wait.

    \b
    1. register SOURCE (a no-op when that version is already registered; a service is
       pinned to its image id, or its command's files)
    2. ask the target's agent what is live; the same version live: done, exit 0
    3. gate the candidate against the live version (skipped on the first release)
    4. deploy with --strategy and follow the deployment until it is live or rolled back
    The release is recorded in the ledger as one "release" event (see `ttsops history`).

    \b
    Exit codes:
      0  promoted: the version is live (or was live already)
      3  blocked by the gate (fail, inconclusive, or the gate could not run)
      4  the deployment was rolled back, failed, was aborted or timed out
      1  any other error (registry, agent, configuration)

    \b
    Examples:
      ttsops release bundles/joe        # on tag v1.4.0: 1.4.0 to production
      ttsops release bundles/joe --version 1.4.0 --json --summary summary.md
      ttsops release services/voxui/service.toml --version 1.1.0   # a service image
      ttsops release 1.4.0 --target staging --strategy blue-green
    """
    from ttsops.release import (
        ReleaseOptions,
        choose_target,
        render_summary,
        resolve_source,
        resolve_target,
        run_release,
        write_summary,
    )
    from ttsops.settings import load_settings

    try:
        settings = load_settings()
        found = resolve_source(source, version)
        name = choose_target(found.version, target)
        where = resolve_target(name, settings, os.environ, agent_url=agent, token_file=token_file)
    except TtsopsError as exc:
        if as_json:
            output.print_json({"outcome": "error", "reason": exc.message, "exit_code": 1})
        raise
    printer = _Printer(to_stderr=as_json)
    printer(_step(f"releasing {found.version} ({found.version_from}) to {name}"))
    from ttsops.registry import Registry
    from ttsops.rollout.client import AgentClient

    options = ReleaseOptions(
        strategy=strategy,
        skip_gate=skip_gate,
        report_dir=report_dir,
        timeout_s=timeout,
        reason=reason,
    )
    with Registry.open(settings) as registry:
        client = AgentClient(where.agent_url, where.token)
        try:
            result = run_release(
                found,
                where,
                registry=registry,
                client=client,
                gate_settings=settings.gate,
                options=options,
                on_update=printer,
            )
        finally:
            printer.close()
            client.close()
    paths = [summary] if summary is not None else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        paths.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    write_summary(render_summary(result), paths)
    _finish(result, as_json)
    raise typer.Exit(result.exit_code)


def _step(message: str) -> Update:
    from ttsops.release import Update

    return Update("step", message)


def _finish(result: ReleaseResult, as_json: bool) -> None:
    if as_json:
        output.print_json(result.to_dict())
    recorded = (
        f"recorded as release event #{result.event_id}"
        if result.event_id is not None
        else "not recorded in the ledger"
    )
    line = (
        f"[bold {_STYLE[result.outcome.value]}]release {result.outcome.value.upper()}[/] "
        f"(exit {result.exit_code}): {output.escape(result.reason)}; {recorded}"
    )
    if as_json:
        output.err_console.print(line, highlight=False)
    elif result.exit_code == 0:
        output.console.print(line, highlight=False)
    else:
        output.err_console.print(line, highlight=False)
