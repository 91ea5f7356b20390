"""What a release reports while it runs: one ``Update`` per step, event or gate tick."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Update", "UpdateFn", "ignore"]


@dataclass(frozen=True)
class Update:
    """One thing worth telling the person (or CI log) watching a release."""

    kind: Literal["step", "event", "gate", "warning"]
    """``step``: a stage began or ended; ``event``: a deployment event from the agent;
    ``gate``: gate progress (``done`` of ``total`` syntheses); ``warning``: something
    was skipped and the release goes on."""

    message: str
    """One line for a human."""

    done: int = 0
    """Gate progress: utterances synthesized and scored so far."""

    total: int = 0
    """Gate progress: utterances in all."""


UpdateFn = Callable[[Update], None]
"""Receives each ``Update`` as it happens (the CLI prints it)."""


def ignore(update: Update) -> None:
    """An ``UpdateFn`` that drops everything."""
