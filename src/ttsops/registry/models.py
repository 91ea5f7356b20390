"""The ledger's tables as SQLAlchemy 2 typed models (SQLite and PostgreSQL alike).

Schema changes go through an Alembic revision in ``migrations/versions``; these models
and the newest revision must describe the same tables (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ttsops.registry.records import (
    DeploymentRecord,
    DeploymentState,
    EventRecord,
    GateReportRecord,
    ImageRecord,
    ScoreRecord,
    Stage,
    Verdict,
    VersionRecord,
)

__all__ = [
    "Base",
    "DeploymentRow",
    "EventRow",
    "GateReportRow",
    "GateScoreRow",
    "ImageRow",
    "UTCDateTime",
    "VersionRow",
    "utcnow",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back timezone-aware, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to naive UTC before it reaches the database."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what the database returns."""
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the ledger's tables."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012 - SQLAlchemy reads it as a class attribute


class VersionRow(Base):
    """A registered, immutable version: its digest, manifest and provenance."""

    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64), index=True)
    manifest: Mapped[dict[str, Any]]
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    git_sha: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    collected_at: Mapped[datetime | None]

    def to_record(self) -> VersionRecord:
        """The row as a plain record."""
        return VersionRecord(
            version=self.version,
            name=self.name,
            digest=self.digest,
            manifest=self.manifest,
            manifest_sha256=self.manifest_sha256,
            size=self.size,
            git_sha=self.git_sha,
            trigger=self.trigger,
            stage=Stage(self.stage),
            parent=self.parent,
            created_at=self.created_at,
            collected_at=self.collected_at,
        )


class GateReportRow(Base):
    """One quality-gate verdict on a version, with its summary."""

    __tablename__ = "gate_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("versions.version"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any]]
    report_uri: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    def to_record(self) -> GateReportRecord:
        """The row as a plain record."""
        return GateReportRecord(
            id=self.id,
            version=self.version,
            verdict=Verdict(self.verdict),
            baseline=self.baseline,
            summary=self.summary,
            report_uri=self.report_uri,
            created_at=self.created_at,
        )


class GateScoreRow(Base):
    """One sentence scored by the gate for one bundle, kept so a baseline is scored once."""

    __tablename__ = "gate_scores"
    __table_args__ = (
        UniqueConstraint(
            "digest", "eval_set_digest", "scorer", "utterance_id", name="uq_gate_scores_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    eval_set_digest: Mapped[str] = mapped_column(String(64))
    scorer: Mapped[str] = mapped_column(String(64))
    utterance_id: Mapped[str] = mapped_column(String(128))
    result: Mapped[dict[str, Any]]
    scored_at: Mapped[datetime]

    def to_record(self) -> ScoreRecord:
        """The row as a plain record."""
        return ScoreRecord(
            digest=self.digest,
            eval_set_digest=self.eval_set_digest,
            scorer=self.scorer,
            utterance_id=self.utterance_id,
            result=self.result,
            scored_at=self.scored_at,
        )


class ImageRow(Base):
    """One container image built of a version; a rebuild adds a row (newest is current)."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("versions.version"), index=True)
    reference: Mapped[str] = mapped_column(String(300))
    image_id: Mapped[str] = mapped_column(String(80))
    model: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    def to_record(self) -> ImageRecord:
        """The row as a plain record."""
        return ImageRecord(
            id=self.id,
            version=self.version,
            reference=self.reference,
            image_id=self.image_id,
            model=self.model,
            size=self.size,
            created_at=self.created_at,
        )


class DeploymentRow(Base):
    """One attempt to make a version live, with its current state."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_state_finished", "state", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("versions.version"), index=True)
    strategy: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    def to_record(self) -> DeploymentRecord:
        """The row as a plain record."""
        return DeploymentRecord(
            id=self.id,
            version=self.version,
            strategy=self.strategy,
            state=DeploymentState(self.state),
            reason=self.reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
            finished_at=self.finished_at,
        )


class EventRow(Base):
    """One line of the append-only audit log (the database refuses UPDATE and DELETE)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(128), index=True)
    deployment_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]]

    def to_record(self) -> EventRecord:
        """The row as a plain record."""
        return EventRecord(
            id=self.id,
            at=self.at,
            actor=self.actor,
            kind=self.kind,
            message=self.message,
            version=self.version,
            deployment_id=self.deployment_id,
            data=self.data,
        )
