"""Everything the CLI prints goes through here; the only module that imports rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.cells import cell_len  # noqa: TID251 - this is rich's one door
from rich.console import Console  # noqa: TID251
from rich.markup import escape  # noqa: TID251
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
from rich.text import Text  # noqa: TID251

__all__ = [
    "byte_progress",
    "console",
    "err_console",
    "error",
    "escape",
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


_MIN_CUT_WIDTH = 24
"""Narrowest a cut column may be in the table; narrower, its values go under the table."""


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    cut: str | None = None,
) -> set[int]:
    """Print a table; the ``cut`` column's values are kept to one line, ending in "…".

    Free text (a reason, a message) wrapped into a narrow column makes one row many lines
    tall. The ``cut`` column gets the width the other columns leave; when that is under
    ``_MIN_CUT_WIDTH``, it leaves the table and its values are printed under it, one line
    each after the row's first cell. Returns the indices of the rows whose value was cut.
    """
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if cut is None:
        _print_table(title, columns, cells)
        return set()
    where = columns.index(cut)
    texts = [" ".join(row[where].split()) for row in cells]
    # The default box: a border on the left, then per column 1 + content + 1 + a border.
    others = sum(
        max([cell_len(col)] + [cell_len(row[i]) for row in cells]) + 3
        for i, col in enumerate(columns)
        if i != where
    )
    room = console.width - 1 - others - 3
    if room >= _MIN_CUT_WIDTH:
        for row, text in zip(cells, texts, strict=True):
            row[where] = text
        _print_table(title, columns, cells, cut_at=(where, room))
    else:
        keep = [i for i in range(len(columns)) if i != where]
        _print_table(title, [columns[i] for i in keep], [[r[i] for i in keep] for r in cells])
        keys = [row[0] for row in cells]
        key_width = max((cell_len(k) for k, t in zip(keys, texts, strict=True) if t), default=0)
        room = console.width - 2 - key_width - 2
        if any(texts):
            console.print(f"[bold]{cut}[/bold]", highlight=False)
        for key, text in zip(keys, texts, strict=True):
            if text:
                line = Text(f"  {key:<{key_width}}  {text}")
                line.truncate(console.width, overflow="ellipsis")
                console.print(line, highlight=False, no_wrap=True, crop=True)
    return {n for n, text in enumerate(texts) if cell_len(text) > room}


def _print_table(
    title: str | None,
    columns: Sequence[str],
    cells: Sequence[Sequence[str]],
    cut_at: tuple[int, int] | None = None,
) -> None:
    tbl = Table(title=title, title_justify="left", header_style="bold")
    for i, col in enumerate(columns):
        if cut_at is not None and i == cut_at[0]:
            tbl.add_column(col, no_wrap=True, overflow="ellipsis", max_width=cut_at[1])
        else:
            tbl.add_column(col)
    for row in cells:
        tbl.add_row(*(Text(cell) for cell in row))  # data, never markup
    console.print(tbl)


# Messages are data (they quote reasons, versions and settings such as "[server] seed"),
# so they are escaped: only the prefixes below, and ``info(markup=True)``, are rich markup.


def success(message: str) -> None:
    """A line saying something worked."""
    console.print(f"[green]✓[/green] {escape(message)}", highlight=False)


def info(message: str, *, markup: bool = False) -> None:
    """A plain line of information; ``markup=True`` when it is rich markup on purpose."""
    console.print(message if markup else escape(message), highlight=False)


def warning(message: str) -> None:
    """A warning line on stderr (something was skipped; the command goes on)."""
    err_console.print(
        f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True
    )


def error(message: str) -> None:
    """An error line on stderr."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


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
    tbl.add_column(overflow="fold")  # a long path or command is shown whole, never cut
    for name, value in rows:
        tbl.add_row(name, Text("" if value is None else str(value)))
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
