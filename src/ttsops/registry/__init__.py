"""The registry: where versions are stored (artifact store) and what happened to them (ledger)."""

from __future__ import annotations

from ttsops.registry.api import Registry
from ttsops.registry.fetch import FetchResult, fetch_version
from ttsops.registry.gc import GcReport, collect_garbage
from ttsops.registry.ledger import Ledger, default_actor
from ttsops.registry.records import (
    DeploymentRecord,
    DeploymentState,
    EventKind,
    EventRecord,
    GateReportRecord,
    ImageRecord,
    ScoreRecord,
    Stage,
    Verdict,
    VersionRecord,
)
from ttsops.registry.register import FROM_GIT, RegisterResult, register_bundle
from ttsops.registry.store import ArtifactStore, BlobInfo, FsspecStore, open_store
from ttsops.registry.versions import (
    GitVersion,
    normalize_version,
    stage_of,
    version_from_git,
)

__all__ = [
    "FROM_GIT",
    "ArtifactStore",
    "BlobInfo",
    "DeploymentRecord",
    "DeploymentState",
    "EventKind",
    "EventRecord",
    "FetchResult",
    "FsspecStore",
    "GateReportRecord",
    "GcReport",
    "GitVersion",
    "ImageRecord",
    "Ledger",
    "RegisterResult",
    "Registry",
    "ScoreRecord",
    "Stage",
    "Verdict",
    "VersionRecord",
    "collect_garbage",
    "default_actor",
    "fetch_version",
    "normalize_version",
    "open_store",
    "register_bundle",
    "stage_of",
    "version_from_git",
]
