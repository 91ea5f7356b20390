"""The ``Router`` seam: which slot gets which share of the public traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Route", "Router", "SessionActivity", "SessionRouter"]


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
    """Share of new requests and sessions (0–100). 0 with ``backup`` set makes it a
    fallback only; 0 without it, a leaving slot that serves only the browser sessions it
    already has."""

    backup: bool = False
    """Receives a request only when the weighted slots failed it (before any byte was sent)."""


@dataclass(frozen=True)
class SessionActivity:
    """What the browser sessions of one slot are doing through the router."""

    open: int
    """Their requests that started and have not ended (a stream, a long synthesis)."""

    last_at: float | None
    """Wall-clock time one of their requests last started or ended; None if none was seen."""


class Router(Protocol):
    """Sets and reads back the routes of the public port."""

    def apply(self, routes: list[Route]) -> None:
        """Make ``routes`` the routing of new requests, then verify it took effect."""
        ...

    def routes(self) -> list[Route]:
        """The routes last applied (as persisted)."""
        ...


@runtime_checkable
class SessionRouter(Router, Protocol):
    """A router that keeps browser sessions on one slot and can say what they do."""

    def sessions(self, slot: str) -> SessionActivity:
        """Activity of the browser sessions that ``slot`` holds."""
        ...
