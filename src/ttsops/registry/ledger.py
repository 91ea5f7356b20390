"""The ledger: versions, gate reports, deployments and the audit log, in one SQL database.

Every method is one transaction and every change writes its event in that same
transaction, so the log and the tables never disagree. Uniqueness lives in the database
(a unique version column), not in process memory, so racing processes stay consistent.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ttsops.bundle import Manifest
from ttsops.errors import RegistryError, VersionConflictError, VersionNotFoundError
from ttsops.registry import db
from ttsops.registry.models import (
    DeploymentRow,
    EventRow,
    GateReportRow,
    GateScoreRow,
    ImageRow,
    VersionRow,
    utcnow,
)
from ttsops.registry.records import (
    DeploymentRecord,
    DeploymentState,
    EventKind,
    EventRecord,
    GateReportRecord,
    ImageRecord,
    ScoreRecord,
    Verdict,
    VersionRecord,
)
from ttsops.registry.versions import stage_of

__all__ = ["Ledger", "default_actor"]

_E = TypeVar("_E", Verdict, DeploymentState)


def default_actor() -> str:
    """``user@host`` of this process, the default *who* of events."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Ledger:
    """What happened to which version, when and by whom; SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is already migrated (use ``Ledger.open``)."""
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Ledger:
        """Connect to ``url`` and bring its schema up to date; errors name the URL."""
        engine = db.connect(url)
        if migrate:
            db.migrate(engine)
        else:
            db.check(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return db.safe_url(self._engine.url)

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise db._unavailable(self._engine.url, exc) from None

    # -- versions -------------------------------------------------------------------------

    def add_version(
        self,
        manifest: Manifest,
        *,
        manifest_sha256: str,
        actor: str | None = None,
    ) -> tuple[VersionRecord, bool]:
        """Record a version (with its event); ``(record, False)`` if it was already there.

        Raises ``VersionConflictError`` when the version exists with another digest,
        including when another process registered it a moment earlier.
        """
        try:
            with self._tx() as s:
                existing = s.scalar(
                    select(VersionRow).where(VersionRow.version == manifest.version)
                )
                if existing is not None:
                    return _same_or_conflict(existing.to_record(), manifest), False
                size = sum(entry.size for entry in manifest.files.values())
                row = VersionRow(
                    version=manifest.version,
                    name=manifest.name,
                    digest=manifest.digest,
                    manifest=manifest.model_dump(mode="json"),
                    manifest_sha256=manifest_sha256,
                    size=size,
                    git_sha=manifest.source.git_sha,
                    trigger=manifest.source.trigger,
                    stage=stage_of(manifest.version).value,
                    parent=manifest.source.parent,
                    created_at=utcnow(),
                )
                s.add(row)
                s.add(
                    _event(
                        EventKind.VERSION_REGISTERED,
                        f"registered {manifest.ref} ({row.stage}), digest {manifest.digest[:12]}",
                        actor,
                        version=manifest.version,
                        data={"digest": manifest.digest, "git_sha": row.git_sha, "size": size},
                    )
                )
        except IntegrityError:
            # Another process inserted this version between our read and our insert.
            found = self.find_version(manifest.version)
            if found is None:
                raise
            return _same_or_conflict(found, manifest), False
        return row.to_record(), True

    def find_version(self, version: str) -> VersionRecord | None:
        """The record of ``version``, or None."""
        with self._tx() as s:
            row = s.scalar(select(VersionRow).where(VersionRow.version == version))
            return None if row is None else row.to_record()

    def get_version(self, version: str) -> VersionRecord:
        """The record of ``version``; ``VersionNotFoundError`` if it is not registered."""
        found = self.find_version(version)
        if found is None:
            raise VersionNotFoundError(
                f"version {version} is not registered; `ttsops versions` lists the registered "
                "ones, `ttsops register DIR` adds one"
            )
        return found

    def list_versions(self) -> list[VersionRecord]:
        """Every version, newest registration first."""
        with self._tx() as s:
            rows = s.scalars(select(VersionRow).order_by(VersionRow.id.desc()))
            return [row.to_record() for row in rows]

    def mark_collected(self, version: str, *, freed: int, actor: str | None = None) -> None:
        """Note that ``gc`` deleted the version's blobs (the row and its history stay)."""
        with self._tx() as s:
            row = _version_row(s, version)
            row.collected_at = utcnow()
            s.add(
                _event(
                    EventKind.VERSION_COLLECTED,
                    f"gc deleted the blobs of {version} ({freed} bytes freed)",
                    actor,
                    version=version,
                    data={"freed": freed},
                )
            )

    def mark_restored(self, version: str, *, actor: str | None = None) -> VersionRecord:
        """Note that a collected version's blobs were uploaded again."""
        with self._tx() as s:
            row = _version_row(s, version)
            row.collected_at = None
            s.add(
                _event(
                    EventKind.VERSION_RESTORED,
                    f"blobs of {version} uploaded again",
                    actor,
                    version=version,
                )
            )
            return row.to_record()

    # -- gate reports ---------------------------------------------------------------------

    def record_gate_report(
        self,
        version: str,
        verdict: Verdict | str,
        *,
        summary: dict[str, Any] | None = None,
        baseline: str | None = None,
        report_uri: str | None = None,
        actor: str | None = None,
    ) -> GateReportRecord:
        """Store a gate verdict on ``version`` (with its event)."""
        outcome = _enum(Verdict, verdict, "verdict")
        with self._tx() as s:
            _version_row(s, version)
            row = GateReportRow(
                version=version,
                verdict=outcome.value,
                baseline=baseline,
                summary=summary or {},
                report_uri=report_uri,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            s.add(
                _event(
                    EventKind.GATE_REPORTED,
                    f"gate {outcome.value} for {version}"
                    + (f" against {baseline}" if baseline else ""),
                    actor,
                    version=version,
                    data={"report_id": row.id, "verdict": outcome.value},
                )
            )
            return row.to_record()

    def gate_reports(self, version: str | None = None) -> list[GateReportRecord]:
        """Gate reports, newest first, optionally of one version."""
        query = select(GateReportRow).order_by(GateReportRow.id.desc())
        if version is not None:
            query = query.where(GateReportRow.version == version)
        with self._tx() as s:
            return [row.to_record() for row in s.scalars(query)]

    # -- gate score cache -----------------------------------------------------------------

    def cached_scores(self, digest: str, eval_set_digest: str, scorer: str) -> list[ScoreRecord]:
        """The gate's stored per-sentence scores of bundle ``digest`` under that key."""
        query = select(GateScoreRow).where(
            GateScoreRow.digest == digest,
            GateScoreRow.eval_set_digest == eval_set_digest,
            GateScoreRow.scorer == scorer,
        )
        with self._tx() as s:
            return [row.to_record() for row in s.scalars(query.order_by(GateScoreRow.id))]

    def store_scores(
        self,
        digest: str,
        eval_set_digest: str,
        scorer: str,
        results: Mapping[str, dict[str, Any]],
    ) -> int:
        """Store per-sentence scores (utterance id → result), replacing older ones; how many.

        A cache, not history: no event is written, and a later score of the same sentence
        under the same key replaces the earlier one.
        """
        if not results:
            return 0
        now = utcnow()
        with self._tx() as s:
            s.execute(
                delete(GateScoreRow).where(
                    GateScoreRow.digest == digest,
                    GateScoreRow.eval_set_digest == eval_set_digest,
                    GateScoreRow.scorer == scorer,
                    GateScoreRow.utterance_id.in_(list(results)),
                )
            )
            s.add_all(
                GateScoreRow(
                    digest=digest,
                    eval_set_digest=eval_set_digest,
                    scorer=scorer,
                    utterance_id=uid,
                    result=result,
                    scored_at=now,
                )
                for uid, result in results.items()
            )
        return len(results)

    # -- images ---------------------------------------------------------------------------

    def record_image(
        self,
        version: str,
        reference: str,
        image_id: str,
        *,
        model: str,
        size: int,
        actor: str | None = None,
    ) -> ImageRecord:
        """Record that ``reference`` (content id ``image_id``) is an image of ``version``."""
        with self._tx() as s:
            _version_row(s, version)
            row = ImageRow(
                version=version,
                reference=reference,
                image_id=image_id,
                model=model,
                size=size,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            s.add(
                _event(
                    EventKind.IMAGE_BUILT,
                    f"image {reference} ({image_id[:19]}, {model}) built of {version}",
                    actor,
                    version=version,
                    data={"image_row": row.id, "reference": reference, "image_id": image_id},
                )
            )
            return row.to_record()

    def images(self, version: str | None = None) -> list[ImageRecord]:
        """Images built of versions, newest first, optionally of one version."""
        query = select(ImageRow).order_by(ImageRow.id.desc())
        if version is not None:
            query = query.where(ImageRow.version == version)
        with self._tx() as s:
            return [row.to_record() for row in s.scalars(query)]

    # -- deployments ----------------------------------------------------------------------

    def create_deployment(
        self,
        version: str,
        strategy: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> DeploymentRecord:
        """Start a deployment of ``version`` in state ``pending`` (with its event)."""
        with self._tx() as s:
            target = _version_row(s, version)
            if target.collected_at is not None:
                raise RegistryError(
                    f"version {version} was garbage-collected; register its bundle again "
                    "before deploying it"
                )
            now = utcnow()
            row = DeploymentRow(
                version=version,
                strategy=strategy,
                state=DeploymentState.PENDING.value,
                reason=reason,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            s.add(
                _event(
                    EventKind.DEPLOYMENT_CREATED,
                    f"deployment #{row.id} of {version} ({strategy}) created",
                    actor,
                    version=version,
                    deployment_id=row.id,
                    data={"strategy": strategy, "reason": reason},
                )
            )
            return row.to_record()

    def update_deployment_state(
        self,
        deployment_id: int,
        state: DeploymentState | str,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> DeploymentRecord:
        """Persist a new state (and its event) in one transaction; legality is the caller's."""
        new = _enum(DeploymentState, state, "deployment state")
        with self._tx() as s:
            row = s.scalar(
                select(DeploymentRow).where(DeploymentRow.id == deployment_id).with_for_update()
            )
            if row is None:
                raise RegistryError(
                    f"there is no deployment #{deployment_id}; `ttsops history` lists them"
                )
            old = row.state
            now = utcnow()
            row.state = new.value
            row.updated_at = now
            row.reason = reason if reason is not None else row.reason
            row.finished_at = now if new.terminal else None
            s.add(
                _event(
                    EventKind.DEPLOYMENT_STATE,
                    f"deployment #{row.id} of {row.version}: {old} → {new.value}"
                    + (f" ({reason})" if reason else ""),
                    actor,
                    version=row.version,
                    deployment_id=row.id,
                    data={"from": old, "to": new.value, "reason": reason},
                )
            )
            return row.to_record()

    def get_deployment(self, deployment_id: int) -> DeploymentRecord | None:
        """One deployment, or None."""
        with self._tx() as s:
            row = s.get(DeploymentRow, deployment_id)
            return None if row is None else row.to_record()

    def list_deployments(
        self, *, version: str | None = None, limit: int | None = None
    ) -> list[DeploymentRecord]:
        """Deployments, newest first."""
        query = select(DeploymentRow).order_by(DeploymentRow.id.desc()).limit(limit)
        if version is not None:
            query = query.where(DeploymentRow.version == version)
        with self._tx() as s:
            return [row.to_record() for row in s.scalars(query)]

    def _live_versions(self, limit: int) -> list[str]:
        """Versions of ``live`` deployments, most recently promoted first, without repeats."""
        query = (
            select(DeploymentRow.version)
            .where(DeploymentRow.state == DeploymentState.LIVE.value)
            .order_by(DeploymentRow.finished_at.desc(), DeploymentRow.id.desc())
        )
        seen: list[str] = []
        with self._tx() as s:
            for version in s.scalars(query):
                if version not in seen:
                    seen.append(version)
                if len(seen) == limit:
                    break
        return seen

    def live_version(self) -> str | None:
        """The version of the newest deployment in state ``live``, or None."""
        found = self._live_versions(1)
        return found[0] if found else None

    def previous_stable(self) -> str | None:
        """The version that was live before the current live one (the rollback target)."""
        found = self._live_versions(2)
        return found[1] if len(found) == 2 else None

    # -- events ---------------------------------------------------------------------------

    def append_event(
        self,
        kind: EventKind | str,
        message: str,
        *,
        version: str | None = None,
        deployment_id: int | None = None,
        data: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> EventRecord:
        """Add a line to the audit log."""
        with self._tx() as s:
            row = _event(kind, message, actor, version, deployment_id, data)
            s.add(row)
            s.flush()
            return row.to_record()

    def list_events(
        self,
        *,
        limit: int | None = None,
        version: str | None = None,
        deployment_id: int | None = None,
    ) -> list[EventRecord]:
        """Events, newest first, optionally of one version or deployment."""
        query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        if version is not None:
            query = query.where(EventRow.version == version)
        if deployment_id is not None:
            query = query.where(EventRow.deployment_id == deployment_id)
        with self._tx() as s:
            return [row.to_record() for row in s.scalars(query)]


def _same_or_conflict(existing: VersionRecord, manifest: Manifest) -> VersionRecord:
    if existing.digest != manifest.digest:
        raise VersionConflictError(
            f"version {existing.version} is already registered with digest "
            f"{existing.digest[:12]}…; this bundle has {manifest.digest[:12]}…. Bump the "
            "version: registered versions are immutable"
        )
    return existing


def _enum(kind: type[_E], value: _E | str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise RegistryError(f"unknown {what} {value!r}; use one of: {allowed}") from None


def _version_row(s: Session, version: str) -> VersionRow:
    row = s.scalar(select(VersionRow).where(VersionRow.version == version))
    if row is None:
        raise VersionNotFoundError(
            f"version {version} is not registered; `ttsops versions` lists the registered ones"
        )
    return row


def _event(
    kind: EventKind | str,
    message: str,
    actor: str | None,
    version: str | None = None,
    deployment_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> EventRow:
    return EventRow(
        at=utcnow(),
        actor=actor or default_actor(),
        kind=str(kind),
        message=message,
        version=version,
        deployment_id=deployment_id,
        data=data or {},
    )
