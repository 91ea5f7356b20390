"""What the ledger returns: plain frozen records and the one set of state names.

The ledger hands out these records, never ORM objects, so no caller outside
``ttsops.registry`` touches SQLAlchemy or a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "DeploymentRecord",
    "DeploymentState",
    "EventKind",
    "EventRecord",
    "GateReportRecord",
    "ImageRecord",
    "ScoreRecord",
    "Stage",
    "Verdict",
    "VersionRecord",
]


class Stage(StrEnum):
    """Release channel of a version: tags are production, untagged commits staging."""

    STAGING = "staging"
    PRODUCTION = "production"


class DeploymentState(StrEnum):
    """States a deployment can be in; the rollout state machine moves between them."""

    PENDING = "pending"
    """Created, nothing started yet."""

    PROGRESSING = "progressing"
    """Green slot starting or taking a share of traffic."""

    LIVE = "live"
    """Promoted: takes 100% of traffic (until a newer deployment goes live)."""

    ROLLED_BACK = "rolled_back"
    """Stopped and traffic returned to the previous version."""

    FAILED = "failed"
    """Could not be carried out (e.g. the slot never became ready)."""

    ABORTED = "aborted"
    """Cancelled by a person."""

    @property
    def terminal(self) -> bool:
        """True when nothing more happens to a deployment in this state."""
        return self not in (DeploymentState.PENDING, DeploymentState.PROGRESSING)


class Verdict(StrEnum):
    """Outcome of a quality gate: missing data is never a pass."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class EventKind(StrEnum):
    """What an audit-log event records."""

    VERSION_REGISTERED = "version.registered"
    VERSION_RESTORED = "version.restored"
    VERSION_COLLECTED = "version.collected"
    GATE_REPORTED = "gate.reported"
    DEPLOYMENT_CREATED = "deployment.created"
    DEPLOYMENT_STATE = "deployment.state"
    CANARY_ANALYSIS = "canary.analysis"
    ALERT = "alert"
    HEAL = "patrol.heal"
    RELEASE = "release"
    IMAGE_BUILT = "image.built"
    NOTE = "note"


@dataclass(frozen=True)
class VersionRecord:
    """One registered version."""

    version: str
    """Semantic version without ``v``."""

    name: str
    """Bundle name, e.g. ``joe``."""

    digest: str
    """Content digest of the bundle (``Manifest.digest``)."""

    manifest: dict[str, Any]
    """The manifest as registered (JSON form of ``bundle.toml``)."""

    manifest_sha256: str
    """sha256 of the ``bundle.toml`` blob in the artifact store."""

    size: int
    """Total bytes of the model files."""

    git_sha: str | None
    """Commit the version was built from."""

    trigger: str
    """What registered it: ``manual``, ``tag``, ``ci``…"""

    stage: Stage
    """``production`` for a release version, ``staging`` for a pre-release."""

    parent: str | None
    """``name@version`` this bundle was derived from, if any."""

    created_at: datetime
    """When it was registered (UTC)."""

    collected_at: datetime | None = None
    """When ``gc`` deleted its blobs; None while they are stored."""

    @property
    def blobs(self) -> dict[str, str]:
        """sha256 of every blob the version needs, by bundle path (``bundle.toml`` included)."""
        files: dict[str, dict[str, Any]] = self.manifest["files"]
        out = {rel: str(entry["sha256"]) for rel, entry in files.items()}
        out["bundle.toml"] = self.manifest_sha256
        return out


@dataclass(frozen=True)
class GateReportRecord:
    """The result of one quality-gate run on a version."""

    id: int
    version: str
    verdict: Verdict
    baseline: str | None
    """Version the candidate was compared with (the live one), if any."""
    summary: dict[str, Any]
    report_uri: str | None
    """Where the full report (JSON, Markdown, PNG) lives."""
    created_at: datetime


@dataclass(frozen=True)
class ImageRecord:
    """A container image built of a version (``ttsops image build``)."""

    id: int
    version: str
    reference: str
    """``REPO:VERSION`` the image was tagged with."""
    image_id: str
    """The image's content id (``sha256:…``)."""
    model: str
    """``baked`` (the bundle is in the image) or ``store`` (fetched at start)."""
    size: int
    """Bytes, as the engine reported."""
    created_at: datetime


@dataclass(frozen=True)
class DeploymentRecord:
    """One attempt to make a version live."""

    id: int
    version: str
    strategy: str
    """``canary``, ``blue-green``, ``immediate``…"""
    state: DeploymentState
    reason: str | None
    """Why it is in its state (e.g. the failed check that rolled it back)."""
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    """When it reached a terminal state."""


@dataclass(frozen=True)
class EventRecord:
    """One line of the append-only audit log."""

    id: int
    at: datetime
    actor: str
    """Who: ``user@host`` or a service name."""
    kind: str
    """What, one of ``EventKind`` (or a later part's own kind)."""
    message: str
    version: str | None = None
    deployment_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreRecord:
    """One sentence as the gate scored it for one bundle: a row of the gate's score cache."""

    digest: str
    """Bundle digest of the model that spoke it."""
    eval_set_digest: str
    """Digest of the evaluation set the sentence belongs to."""
    scorer: str
    """Fingerprint of everything else that shapes the scores (scorers, synthesis seed)."""
    utterance_id: str
    result: dict[str, Any]
    """The gate's per-sentence result, as it serialises it."""
    scored_at: datetime
