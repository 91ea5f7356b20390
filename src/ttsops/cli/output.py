"""Everything the CLI prints goes through here; the only module that imports rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console  # noqa: TID251 - this is rich's one door
from rich.progress import (  # noqa: TID251
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table  # noqa: TID251

__all__ = [
    "byte_progress",
    "console",
    "err_console",
    "error",
    "fields",
    "info",
    "print_json",
    "progress",
    "success",
    "table",
    "warning",
]

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (plain, for scripts)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table."""
    tbl = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        tbl.add_column(col)
    for row in rows:
        tbl.add_row(*("" if v is None else str(v) for v in row))
    console.print(tbl)


def success(message: str) -> None:
    """A line saying something worked."""
    console.print(f"[green]✓[/green] {message}", highlight=False)


def info(message: str) -> None:
    """A plain line of information."""
    console.print(message, highlight=False)


def warning(message: str) -> None:
    """A warning line on stderr (something was skipped; the command goes on)."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """An error line on stderr."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)


@contextmanager
def progress(transient: bool = False) -> Iterator[Progress]:
    """A progress display with bar, count, elapsed time and ETA (on stderr)."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    ) as bar:
        yield bar


def fields(title: str | None, rows: Sequence[tuple[str, Any]]) -> None:
    """Print ``name: value`` pairs as a two-column table without a header."""
    tbl = Table(
        title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0)
    )
    tbl.add_column(style="bold")
    tbl.add_column()
    for name, value in rows:
        tbl.add_row(name, "" if value is None else str(value))
    console.print(tbl)


@contextmanager
def byte_progress(transient: bool = True) -> Iterator[Progress]:
    """A progress display for file transfers: bar, bytes done/total, speed, ETA (on stderr)."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
    ) as bar:
        yield bar
