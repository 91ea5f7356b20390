"""One release end to end: register → gate against the live version → deploy → wait.

Every release, whatever its end, is recorded as one ``release`` event in the ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ttsops.errors import TtsopsError
from ttsops.registry import EventKind, default_actor
from ttsops.release.deploy_step import deploy_and_follow
from ttsops.release.gate_step import run_gate_step, skipped
from ttsops.release.progress import Update, UpdateFn, ignore
from ttsops.release.result import DeployStep, GateStep, Outcome, ReleaseResult

if TYPE_CHECKING:
    from ttsops.registry import Registry
    from ttsops.registry.register import RegisterResult
    from ttsops.release.source import ReleaseSource
    from ttsops.release.targets import Target
    from ttsops.rollout.client import AgentClient
    from ttsops.settings import GateSettings

__all__ = ["FIRST_RELEASE_NOTE", "SKIP_GATE_NOTE", "ReleaseOptions", "run_release"]

FIRST_RELEASE_NOTE = "first release: no baseline to compare with"
SKIP_GATE_NOTE = "skipped with --skip-gate"

_DEPLOY_OUTCOMES = {
    "live": Outcome.LIVE,
    "rolled_back": Outcome.ROLLED_BACK,
    "failed": Outcome.FAILED,
    "aborted": Outcome.ABORTED,
}


@dataclass(frozen=True)
class ReleaseOptions:
    """How to carry out a release (the CLI's options)."""

    strategy: str = "canary"
    """Deployment strategy the agent uses."""

    skip_gate: bool = False
    """Deploy without gating (recorded as such)."""

    report_dir: Path | None = None
    """Where the gate report goes; default ``.ttsops/releases/<version>``."""

    timeout_s: float = 1800.0
    """Longest the deployment may take before the release gives up and aborts it."""

    reason: str | None = None
    """Why; recorded with the deployment and the release."""

    actor: str | None = None
    """Who releases; default ``user@host``."""


def run_release(
    source: ReleaseSource,
    target: Target,
    *,
    registry: Registry,
    client: AgentClient,
    gate_settings: GateSettings,
    options: ReleaseOptions | None = None,
    on_update: UpdateFn = ignore,
) -> ReleaseResult:
    """Release ``source`` to ``target``; never raises a ``TtsopsError`` (it becomes the
    result's ``error`` outcome), and records the result in the ledger."""
    run = _Run(source, target, registry, client, gate_settings, options or ReleaseOptions())
    try:
        result = run.carry_out(on_update)
    except TtsopsError as exc:
        result = run.result(Outcome.ERROR, exc.message)
    return _record(registry, result, run.actor, on_update)


class _Run:
    """The state of one release while it runs."""

    def __init__(
        self,
        source: ReleaseSource,
        target: Target,
        registry: Registry,
        client: AgentClient,
        gate_settings: GateSettings,
        options: ReleaseOptions,
    ) -> None:
        self.source, self.target, self.registry, self.client = source, target, registry, client
        self.gate_settings, self.options = gate_settings, options
        self.actor = options.actor or default_actor()
        self.started = time.perf_counter()
        self.started_at = datetime.now(UTC).isoformat()
        self.timings: dict[str, float] = {}
        self.commit: str | None = source.git_sha
        self.registered = False
        self.live: str | None = None
        self.gate: GateStep | None = None
        self.deployment: DeployStep | None = None

    def result(self, outcome: Outcome, reason: str) -> ReleaseResult:
        """The result so far, ending with ``outcome``."""
        return ReleaseResult(
            version=self.source.version,
            outcome=outcome,
            reason=reason,
            target=self.target.name,
            agent_url=self.target.agent_url,
            source=self.source.spec,
            strategy=self.options.strategy,
            commit=self.commit,
            registered=self.registered,
            live_before=self.live,
            gate=self.gate,
            deployment=self.deployment,
            timings={**self.timings, "total": round(time.perf_counter() - self.started, 3)},
            started_at=self.started_at,
        )

    def carry_out(self, on_update: UpdateFn) -> ReleaseResult:
        """Each step in turn; the first that ends the release returns its result."""
        version, target = self.source.version, self.target
        candidate_dir = self._register(on_update)
        on_update(Update("step", f"asking the {target.name} agent at {target.agent_url}"))
        self.live = self.client.status()["live_version"]
        if self.live == version:
            reason = f"{version} is already live on {target.name}; nothing to deploy"
            return self.result(Outcome.ALREADY_LIVE, reason)
        on_update(Update("step", f"live on {target.name}: {self.live or 'nothing'}"))
        self.gate = self._gate(candidate_dir, on_update)
        if not self.gate.passed:
            reasons = "; ".join(self.gate.reasons) or "no reason given"
            return self.result(Outcome.BLOCKED, f"gate {self.gate.verdict.upper()}: {reasons}")
        started = time.perf_counter()
        on_update(Update("step", f"deploying {version} to {target.name} ({self.options.strategy})"))
        self.deployment = deploy_and_follow(
            self.client,
            version=version,
            strategy=self.options.strategy,
            actor=self.actor,
            reason=self.options.reason or f"ttsops release {version}",
            timeout_s=self.options.timeout_s,
            on_update=on_update,
        )
        self.timings["deploy"] = round(time.perf_counter() - started, 3)
        return self._deployed(self.deployment)

    def _register(self, on_update: UpdateFn) -> Path | None:
        """Register a bundle directory (a no-op when identical); the candidate's files."""
        started = time.perf_counter()
        source = self.source
        if not source.is_file_source:
            record = self.registry.ledger.get_version(source.version)
            on_update(Update("step", f"{source.version} is registered ({record.digest[:12]}…)"))
        else:
            if source.renamed:
                on_update(
                    Update(
                        "step",
                        f"{'service' if source.service_path else 'bundle'}.toml says "
                        f"{source.manifest_version}; registering it as "
                        f"{source.version} (from {source.version_from})",
                    )
                )
            done = self._register_files()
            record, self.registered = done.record, done.created
            verb = "registered" if done.created else "already registered, identical"
            on_update(Update("step", f"{source.version} {verb} ({record.digest[:12]}…)"))
        self.commit = record.git_sha or self.commit
        self.timings["register"] = round(time.perf_counter() - started, 3)
        return source.bundle_dir  # a service's files are its registered bundle: fetched

    def _register_files(self) -> RegisterResult:
        """Register the bundle directory, or the service (``service.toml`` resolved and
        pinned: the image's id, or the command's files' sha256)."""
        source = self.source
        if source.service_path is not None:
            from ttsops.registry.services import register_service

            return register_service(
                self.registry,
                source.service_path,
                version=source.version,
                git_sha=source.git_sha,
                trigger=source.trigger,
            )
        assert source.bundle_dir is not None
        return self.registry.register(
            source.bundle_dir,
            version=source.version,
            git_sha=source.git_sha,
            trigger=source.trigger,
        )

    def _gate(self, candidate_dir: Path | None, on_update: UpdateFn) -> GateStep:
        if self.options.skip_gate:
            on_update(Update("warning", f"gate {SKIP_GATE_NOTE}"))
            return skipped(SKIP_GATE_NOTE)
        if self.live is None:
            on_update(Update("step", f"gate skipped: {FIRST_RELEASE_NOTE}"))
            return skipped(FIRST_RELEASE_NOTE)
        version = self.source.version
        report_dir = self.options.report_dir or Path(".ttsops") / "releases" / version
        on_update(Update("step", f"gate: {version} against {self.live} (live)"))
        candidate = candidate_dir or self.registry.fetch(version).path
        step = run_gate_step(
            self.registry,
            version=version,
            candidate_dir=candidate,
            baseline=self.live,
            settings=self.gate_settings,
            report_dir=report_dir,
            on_update=on_update,
        )
        self.timings["gate"] = round(step.seconds, 3)
        on_update(Update("step", f"gate: {step.verdict.upper()}"))
        for reason in step.reasons:
            on_update(Update("step", f"  • {reason}"))
        return step

    def _deployed(self, step: DeployStep) -> ReleaseResult:
        if step.timed_out:
            reason = (
                f"deployment #{step.id} was not done after {self.options.timeout_s:.0f} s "
                f"(state {step.state}); it was asked to abort"
            )
            return self.result(Outcome.TIMED_OUT, reason)
        outcome = _DEPLOY_OUTCOMES.get(step.state, Outcome.FAILED)
        if outcome is Outcome.LIVE:
            return self.result(outcome, f"{self.source.version} is live on {self.target.name}")
        why = step.reason or "the agent gave no reason"
        return self.result(outcome, f"deployment #{step.id} {step.state}: {why}")


def _record(
    registry: Registry, result: ReleaseResult, actor: str, on_update: UpdateFn
) -> ReleaseResult:
    """Append the release's one ``release`` event; a ledger failure is only a warning."""
    message = f"release {result.version} to {result.target}: {result.outcome.value}"
    if result.outcome not in (Outcome.LIVE, Outcome.ALREADY_LIVE):
        message += f" ({result.reason})"
    try:
        event = registry.ledger.append_event(
            EventKind.RELEASE,
            message,
            version=result.version,
            deployment_id=result.deployment.id if result.deployment else None,
            data=result.ledger_data(),
            actor=actor,
        )
    except TtsopsError as exc:
        on_update(Update("warning", f"the release was not recorded in the ledger: {exc.message}"))
        return result
    return replace(result, event_id=event.id)
