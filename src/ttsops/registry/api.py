"""``Registry``: the artifact store and the ledger opened together from settings."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from ttsops.registry.fetch import FetchResult, fetch_version
from ttsops.registry.gc import ORPHAN_GRACE_S, GcReport, collect_garbage
from ttsops.registry.ledger import Ledger
from ttsops.registry.register import FileProgress, RegisterResult, register_bundle
from ttsops.registry.store import ArtifactStore, open_store
from ttsops.settings import Settings, load_settings

__all__ = ["Registry"]


class Registry:
    """Where versions live and what happened to them; the store is opened on first use."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        store_url: str,
        cache_dir: Path,
        endpoint_url: str | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        """Combine an open ledger with a store URL (or an already open ``store``)."""
        self.ledger = ledger
        self.store_url = store_url
        self.cache_dir = cache_dir
        self._endpoint_url = endpoint_url
        self._store = store

    @classmethod
    def open(cls, settings: Settings | None = None) -> Registry:
        """Open the ledger and (lazily) the store that ``settings`` name."""
        settings = settings or load_settings()
        return cls(
            Ledger.open(settings.resolved_ledger_url),
            store_url=settings.resolved_store_url,
            cache_dir=settings.cache_dir,
            endpoint_url=settings.s3_endpoint_url,
        )

    @property
    def store(self) -> ArtifactStore:
        """The artifact store, checked reachable the first time it is used."""
        if self._store is None:
            self._store = open_store(self.store_url, self._endpoint_url)
        return self._store

    def register(
        self,
        bundle_dir: Path,
        *,
        version: str | None = None,
        git_sha: str | None = None,
        trigger: str | None = None,
        on_file: FileProgress | None = None,
    ) -> RegisterResult:
        """Verify, upload and record a bundle (see ``register_bundle``)."""
        return register_bundle(
            bundle_dir,
            self.store,
            self.ledger,
            version=version,
            git_sha=git_sha,
            trigger=trigger,
            on_file=on_file,
        )

    def fetch(
        self,
        version: str,
        *,
        out: Path | None = None,
        force: bool = False,
        on_file: FileProgress | None = None,
    ) -> FetchResult:
        """Materialise and verify a version, by default in the cache (see ``fetch_version``)."""
        return fetch_version(
            self.ledger,
            self.store,
            version,
            cache_dir=self.cache_dir,
            out=out,
            force=force,
            on_file=on_file,
        )

    def gc(
        self, *, keep: int, dry_run: bool = False, orphan_grace_s: float = ORPHAN_GRACE_S
    ) -> GcReport:
        """Delete blobs of old versions (see ``collect_garbage``)."""
        return collect_garbage(
            self.ledger, self.store, keep=keep, dry_run=dry_run, orphan_grace_s=orphan_grace_s
        )

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
