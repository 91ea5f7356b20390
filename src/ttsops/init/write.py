"""Writing a plan into a repository: all files or none, never overwriting without force."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ttsops.errors import InitError
from ttsops.init.plan import PlannedFile

__all__ = ["Written", "write_files"]


@dataclass(frozen=True)
class Written:
    """One file `ttsops init` wrote."""

    path: str
    """Relative to the repository root."""

    action: str
    """``created``, ``overwritten`` (with --force) or ``unchanged`` (same text already)."""

    what: str
    """What it is."""

    check: str
    """The command that checks it."""


def write_files(root: Path, files: list[PlannedFile], *, force: bool = False) -> list[Written]:
    """Write ``files`` under ``root``; refuse before writing anything if one would be replaced.

    A file that already holds exactly the planned text is left alone (``unchanged``), so
    running `ttsops init` twice is harmless. Each file is written to a temporary name and
    renamed, so none is ever half-written.
    """
    if root.exists() and not root.is_dir():
        raise InitError(f"{root} is not a directory; pass --dir DIR of your repository")
    actions: list[str] = []
    clashes: list[str] = []
    for planned in files:
        target = root / planned.path
        if target.is_dir():
            raise InitError(f"{target} is a directory, where ttsops init writes a file; move it")
        if not target.exists():
            actions.append("created")
        elif target.read_bytes() == planned.text.encode():
            actions.append("unchanged")
        else:
            actions.append("overwritten")
            clashes.append(planned.path)
    if clashes and not force:
        raise InitError(
            f"{len(clashes)} file(s) exist with other content: {', '.join(clashes)}; "
            "nothing was written. Move them aside or pass --force to overwrite them"
        )
    done = []
    for planned, action in zip(files, actions, strict=True):
        if action != "unchanged":
            _write_atomic(root / planned.path, planned.text)
        done.append(Written(planned.path, action, planned.what, planned.check))
    return done


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # noqa: PTH101 - the temporary file's descriptor name
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
