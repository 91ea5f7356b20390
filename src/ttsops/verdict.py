"""The four-outcome verdict: pass, fail, inconclusive, error — missing data is never a pass.

It knows nothing of sentences or audio: a ``Verdict`` is a set of named ``Check`` results,
so the offline gate and the live canary analysis reach and report decisions the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Check", "Outcome", "Verdict"]


class Outcome(StrEnum):
    """What a check, or a whole verdict, concluded."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    """The evidence is enough and within every limit."""

    FAIL = "fail"
    """The evidence shows a limit was crossed."""

    INCONCLUSIVE = "inconclusive"
    """Too little or too noisy evidence to say either; never treated as a pass."""

    ERROR = "error"
    """The evidence could not be gathered (the measuring broke, not the subject)."""


_SEVERITY = {Outcome.PASS: 0, Outcome.INCONCLUSIVE: 1, Outcome.ERROR: 2, Outcome.FAIL: 3}


@dataclass(frozen=True)
class Check:
    """One rule applied to the evidence."""

    name: str
    """Stable identifier, e.g. ``ovrl_drop``."""

    outcome: Outcome
    """What this rule concluded."""

    reason: str
    """One sentence: what was measured against which limit."""

    observed: float | None = None
    """The measured value the rule judged (estimate), if numeric."""

    limit: float | None = None
    """The threshold it was judged against, if numeric."""

    details: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (interval bounds, counts, examples)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "observed": self.observed,
            "limit": self.limit,
            "details": self.details,
        }


@dataclass(frozen=True)
class Verdict:
    """The decision and the checks it rests on."""

    outcome: Outcome
    """Fail if any check failed; else error if any errored; else inconclusive if any was
    (or there were no checks); else pass."""

    checks: tuple[Check, ...] = ()
    """Every check, in the order they were applied."""

    message: str = ""
    """Why, when the verdict did not come from checks (e.g. the subject never loaded)."""

    @classmethod
    def from_checks(cls, checks: Iterable[Check]) -> Verdict:
        """Combine checks: the most severe outcome wins; no checks is inconclusive."""
        found = tuple(checks)
        if not found:
            return cls(Outcome.INCONCLUSIVE, (), "no check could be applied")
        worst = max((c.outcome for c in found), key=_SEVERITY.__getitem__)
        return cls(worst, found)

    @classmethod
    def of(cls, outcome: Outcome, message: str, checks: Iterable[Check] = ()) -> Verdict:
        """A verdict decided outright, with the reason."""
        return cls(outcome, tuple(checks), message)

    @property
    def reasons(self) -> list[str]:
        """Why: the message and the reason of every check that did not pass."""
        failing = [c.reason for c in self.checks if c.outcome is not Outcome.PASS]
        found = ([self.message] if self.message else []) + failing
        return found or [f"all {len(self.checks)} checks passed"]

    @property
    def passed(self) -> bool:
        """True only for a pass."""
        return self.outcome is Outcome.PASS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "outcome": self.outcome.value,
            "message": self.message,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
        }
