"""The ``Router`` seam: which slot gets which share of the public traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Route", "Router"]


@dataclass(frozen=True)
class Route:
    """One slot behind the router."""

    slot: str
    """Slot name, ``blue`` or ``green``."""

    port: int
    """Loopback port the slot's ``ttsops serve`` listens on."""

    version: str
    """Version the slot serves."""

    weight: int
    """Share of new requests (0–100); 0 with ``backup`` set makes it a fallback only."""

    backup: bool = False
    """Receives a request only when the weighted slots failed it (before any byte was sent)."""


class Router(Protocol):
    """Sets and reads back the routes of the public port."""

    def apply(self, routes: list[Route]) -> None:
        """Make ``routes`` the routing of new requests, then verify it took effect."""
        ...

    def routes(self) -> list[Route]:
        """The routes last applied (as persisted)."""
        ...
