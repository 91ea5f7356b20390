"""What a release did: its outcome, the gate and deployment steps, and its exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["EXIT_CODES", "DeployStep", "GateStep", "Outcome", "ReleaseResult"]


class Outcome(StrEnum):
    """How a release ended."""

    LIVE = "live"
    """The version was deployed and promoted: it takes 100% of traffic."""

    ALREADY_LIVE = "already_live"
    """The version was live before; nothing was deployed."""

    BLOCKED = "blocked"
    """The gate did not pass (fail, inconclusive or could not run); nothing was deployed."""

    ROLLED_BACK = "rolled_back"
    """The deployment was rolled back (e.g. the canary analysis failed)."""

    FAILED = "failed"
    """The deployment could not be carried out (e.g. the slot never became ready)."""

    ABORTED = "aborted"
    """Someone aborted the deployment."""

    TIMED_OUT = "timed_out"
    """The deployment was not terminal within --timeout; it was asked to abort."""

    ERROR = "error"
    """The release could not run (a registry, agent or configuration error)."""


EXIT_CODES: dict[Outcome, int] = {
    Outcome.LIVE: 0,
    Outcome.ALREADY_LIVE: 0,
    Outcome.BLOCKED: 3,
    Outcome.ROLLED_BACK: 4,
    Outcome.FAILED: 4,
    Outcome.ABORTED: 4,
    Outcome.TIMED_OUT: 4,
    Outcome.ERROR: 1,
}
"""Exit code of ``ttsops release`` per outcome."""


@dataclass(frozen=True)
class GateStep:
    """The gate as the release ran it, or why it did not run."""

    verdict: str
    """``pass``, ``fail``, ``inconclusive``, ``error`` or ``skipped``."""

    reasons: tuple[str, ...] = ()
    """Why: the verdict's message and every check that did not pass."""

    failed_checks: tuple[str, ...] = ()
    """Names of the checks that did not pass (e.g. ``ovrl_drop``)."""

    baseline: str | None = None
    """The live version the candidate was compared with."""

    report_dir: str | None = None
    """Where report.json, report.md, metrics.png and the audio were written."""

    report_id: int | None = None
    """The gate report's id in the ledger."""

    metrics: tuple[dict[str, Any], ...] = ()
    """Main numbers: name, label, digits, candidate, baseline, delta, low, high."""

    note: str | None = None
    """Why the gate was skipped, when it was."""

    seconds: float = 0.0
    """Wall time of the gate."""

    @property
    def passed(self) -> bool:
        """True when the release may go on: a pass, or a recorded skip."""
        return self.verdict in ("pass", "skipped")


@dataclass(frozen=True)
class DeployStep:
    """The deployment the release asked the target's agent for."""

    id: int
    """Deployment id on the agent."""

    strategy: str
    """``canary``, ``blue-green``…"""

    state: str
    """Last state seen: live, rolled_back, failed, aborted (or progressing on a timeout)."""

    reason: str | None = None
    """Why it is in that state."""

    old_version: str | None = None
    """The version it replaced (or kept, when rolled back)."""

    downtime_s: float | None = None
    """Downtime the agent measured, if any."""

    events: tuple[dict[str, Any], ...] = ()
    """Timeline: ``at`` (ISO 8601), ``kind``, ``message``; oldest first."""

    timed_out: bool = False
    """True when --timeout ran out before the deployment was terminal."""

    seconds: float = 0.0
    """Wall time from the request to the terminal state."""


@dataclass(frozen=True)
class ReleaseResult:
    """One release from start to end: the one record CI and the ledger keep."""

    version: str
    """The version released."""

    outcome: Outcome
    """How it ended."""

    reason: str
    """One line saying why it ended so."""

    target: str
    """Target name (``production``, ``staging``…)."""

    agent_url: str
    """The target agent's API."""

    source: str
    """SOURCE as given."""

    strategy: str
    """Deployment strategy asked for."""

    commit: str | None = None
    """Git sha the version was built from."""

    registered: bool = False
    """True when this release registered the version (False: it was registered before)."""

    live_before: str | None = None
    """What the target served before the release."""

    gate: GateStep | None = None
    """The gate step, None when the release stopped before it (or nothing had to ship)."""

    deployment: DeployStep | None = None
    """The deployment, None when nothing was deployed."""

    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (``register``, ``gate``, ``deploy``) and ``total``."""

    started_at: str = ""
    """When the release began (UTC, ISO 8601)."""

    event_id: int | None = None
    """Id of the ``release`` event in the ledger, once recorded."""

    @property
    def exit_code(self) -> int:
        """0 promoted or already live, 3 blocked by the gate, 4 deployment not live, 1 error."""
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``ttsops release --json``)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["exit_code"] = self.exit_code
        return data

    def ledger_data(self) -> dict[str, Any]:
        """What the ``release`` event keeps: everything but the audio-level details."""
        data = self.to_dict()
        data.pop("event_id", None)
        return data
