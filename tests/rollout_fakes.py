"""Fakes at the controller's seams: slots, router and clock the test drives by hand.

They stand in for processes and nginx only so each tick's decision can be driven and
checked one by one; the real slots and router are tested in tests/e2e/test_agent_*.
"""

from __future__ import annotations

from dataclasses import replace

from ttsops.rollout import Route, SlotInfo

__all__ = ["Clock", "FakeRouter", "FakeSlots"]


class FakeSlots:
    """Slot seam: slots become ready, fail or exit when the test says so."""

    def __init__(self) -> None:
        self.slots: dict[str, SlotInfo] = {}
        self.log: list[str] = []
        self._port = 41000

    def start(self, slot: str, version: str) -> None:
        """Record the start; the slot is ``starting`` until ``make`` says otherwise."""
        self._port += 1
        self.slots[slot] = SlotInfo(slot, version, "starting", 1000 + self._port, self._port)
        self.log.append(f"start {slot} {version}")

    def status(self, slot: str) -> SlotInfo | None:
        """The slot as the test left it."""
        return self.slots.get(slot)

    def stop(self, slot: str) -> None:
        """Record the stop; the slot exits."""
        if slot in self.slots:
            self.slots[slot] = replace(self.slots[slot], state="exited", pid=None)
        self.log.append(f"stop {slot}")

    def make(self, slot: str, state: str, detail: str = "") -> None:
        """Put a slot in ``state``."""
        self.slots[slot] = replace(self.slots[slot], state=state, detail=detail)


class FakeRouter:
    """Router seam: remembers every routing it was given."""

    def __init__(self) -> None:
        self.history: list[list[Route]] = []

    def apply(self, routes: list[Route]) -> None:
        """Record the routes."""
        self.history.append(list(routes))

    def routes(self) -> list[Route]:
        """The last routes applied."""
        return self.history[-1] if self.history else []

    def live(self) -> str | None:
        """The version with all the weight now."""
        return next((r.version for r in self.routes() if r.weight > 0), None)


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now
