"""Garbage collection: delete blobs only old versions use, never those of live or rollback."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ttsops.errors import RegistryError
from ttsops.registry.ledger import Ledger
from ttsops.registry.store import ArtifactStore

__all__ = ["GcReport", "collect_garbage"]

ORPHAN_GRACE_S = 3600.0
"""Blobs no version references are kept this long: a register may be uploading them now."""


@dataclass(frozen=True)
class GcReport:
    """What ``collect_garbage`` deleted (or would, on a dry run) and what it kept."""

    collected: list[str]
    """Versions whose blobs were deleted; their ledger rows and history stay."""

    kept: dict[str, str]
    """Versions kept, with why: ``newest``, ``live``, ``previous stable``, ``deploying``."""

    deleted_blobs: int
    """Blobs removed from the store."""

    freed_bytes: int
    """Bytes those blobs took."""

    dry_run: bool = False
    """True when nothing was actually deleted."""

    partials: int = 0
    """Leftovers of interrupted uploads removed."""

    orphans: list[str] = field(default_factory=list)
    """Blobs no version referenced (e.g. from a failed register), deleted."""


def collect_garbage(
    ledger: Ledger,
    store: ArtifactStore,
    *,
    keep: int,
    dry_run: bool = False,
    orphan_grace_s: float = ORPHAN_GRACE_S,
    actor: str | None = None,
) -> GcReport:
    """Keep the ``keep`` newest versions plus live, previous stable and deploying ones.

    Every other version is marked collected in the ledger first, then its blobs that no
    kept version shares are deleted, so a crash in between leaves only unreferenced
    blobs (the next run removes them), never a kept version with a missing blob.
    """
    if keep < 0:
        raise RegistryError(f"--keep must be 0 or more, got {keep}")
    versions = [v for v in ledger.list_versions() if v.collected_at is None]
    kept: dict[str, str] = {v.version: "newest" for v in versions[:keep]}
    live, previous = ledger.live_version(), ledger.previous_stable()
    if previous is not None:
        kept[previous] = "previous stable"
    if live is not None:
        kept[live] = "live"
    for deployment in ledger.list_deployments():
        if not deployment.state.terminal:
            kept.setdefault(deployment.version, "deploying")
    doomed = [v for v in versions if v.version not in kept]
    referenced = {sha for v in versions if v.version in kept for sha in v.blobs.values()}
    doomed_blobs = {sha for v in doomed for sha in v.blobs.values()} - referenced
    stored = {blob.sha256: blob for blob in store.list_blobs()}
    cutoff = time.time() - orphan_grace_s
    orphans = sorted(
        sha
        for sha, blob in stored.items()
        if sha not in referenced
        and sha not in doomed_blobs
        and blob.modified is not None
        and blob.modified <= cutoff
    )
    # A blob shared by another collected version is free to go too (no kept one needs it).
    targets = sorted((doomed_blobs | set(orphans)) & stored.keys())
    freed = sum(stored[sha].size for sha in targets)
    if dry_run:
        return GcReport([v.version for v in doomed], kept, len(targets), freed, True, 0, orphans)
    counted: set[str] = set()
    for version in doomed:
        own = (set(version.blobs.values()) & set(targets)) - counted
        counted |= own
        ledger.mark_collected(version.version, freed=sum(stored[s].size for s in own), actor=actor)
    for sha in targets:
        store.delete(sha)
    partials = store.clean_partials(orphan_grace_s)
    return GcReport(
        [v.version for v in doomed], kept, len(targets), freed, False, partials, orphans
    )
