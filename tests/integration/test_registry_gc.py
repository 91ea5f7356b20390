"""Garbage collection on a real local store and SQLite ledger, with small real bundles."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ttsops.bundle import Source, build_bundle
from ttsops.errors import RegistryError
from ttsops.registry import (
    DeploymentState,
    EventKind,
    FsspecStore,
    Ledger,
    collect_garbage,
    fetch_version,
    open_store,
    register_bundle,
)

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[FsspecStore, Ledger]]:
    """A fresh local store and SQLite ledger."""
    store = open_store((tmp_path / "store").as_uri())
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        yield store, ledger


def small_bundle(root: Path, version: str) -> Path:
    """A bundle with its own 64 kB model file and a config file every version shares."""
    model, config = root / f"model-{version}", root / "config.json"
    model.write_bytes(hashlib.sha256(version.encode()).digest() * 2048)
    config.write_text('{"audio": {"sample_rate": 22050}}')
    out = root / f"bundle-{version}"
    build_bundle(
        out,
        {"model.onnx": model, "model.onnx.json": config},
        name="tiny",
        version=version,
        engine="piper",
        sample_rate=22050,
        languages=("en-US",),
        voices=("tiny",),
        engine_options={"model": "model.onnx", "config": "model.onnx.json"},
        source=Source(trigger="test"),
    )
    return out


def _model_sha(bundle: Path) -> str:
    return hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()


@pytest.fixture
def four(parts: tuple[FsspecStore, Ledger], tmp_path: Path) -> dict[str, Path]:
    """Versions 1.0.0…1.3.0 registered; 1.0.0 then 1.1.0 went live (so 1.0.0 is previous stable)."""
    store, ledger = parts
    bundles = {v: small_bundle(tmp_path, v) for v in VERSIONS}
    for bundle in bundles.values():
        register_bundle(bundle, store, ledger)
    for version in ("1.0.0", "1.1.0"):
        deployment = ledger.create_deployment(version, "canary")
        ledger.update_deployment_state(deployment.id, DeploymentState.LIVE)
    return bundles


def test_gc_keeps_newest_live_and_previous_stable(
    parts: tuple[FsspecStore, Ledger], four: dict[str, Path], tmp_path: Path
) -> None:
    """Only blobs of versions that are not newest, live or previous stable are deleted."""
    store, ledger = parts
    sizes = {blob.sha256: blob.size for blob in store.list_blobs()}
    manifest_size = sizes[ledger.get_version("1.2.0").manifest_sha256]
    report = collect_garbage(ledger, store, keep=1)
    assert report.collected == ["1.2.0"]
    assert report.kept == {"1.3.0": "newest", "1.1.0": "live", "1.0.0": "previous stable"}
    assert report.deleted_blobs == 2  # its model file and its manifest; the shared config stays
    assert report.freed_bytes == 64 * 1024 + manifest_size
    assert not store.has(_model_sha(four["1.2.0"]))
    for version in ("1.0.0", "1.1.0", "1.3.0"):
        assert fetch_version(ledger, store, version, cache_dir=tmp_path / "cache").path.is_dir()
    collected = ledger.get_version("1.2.0")
    assert collected.collected_at is not None
    assert ledger.list_events(version="1.2.0", limit=1)[0].kind == EventKind.VERSION_COLLECTED
    with pytest.raises(RegistryError, match=r"version 1\.2\.0 was garbage-collected"):
        fetch_version(ledger, store, "1.2.0", cache_dir=tmp_path / "cache")


def test_collected_version_can_be_registered_again(
    parts: tuple[FsspecStore, Ledger], four: dict[str, Path], tmp_path: Path
) -> None:
    """Registering a collected version's bundle again restores it."""
    store, ledger = parts
    collect_garbage(ledger, store, keep=1)
    again = register_bundle(four["1.2.0"], store, ledger)
    assert again.restored
    assert again.record.collected_at is None
    assert fetch_version(ledger, store, "1.2.0", cache_dir=tmp_path / "cache").path.is_dir()


def test_dry_run_deletes_nothing(parts: tuple[FsspecStore, Ledger], four: dict[str, Path]) -> None:
    """A dry run reports what it would free and leaves store and ledger as they were."""
    store, ledger = parts
    before = store.list_blobs()
    report = collect_garbage(ledger, store, keep=0, dry_run=True)
    assert report.dry_run
    assert report.collected == ["1.3.0", "1.2.0"]
    assert report.freed_bytes > 2 * 64 * 1024
    assert store.list_blobs() == before
    assert all(v.collected_at is None for v in ledger.list_versions())


def test_versions_being_deployed_are_kept(
    parts: tuple[FsspecStore, Ledger], four: dict[str, Path]
) -> None:
    """A version with a deployment still in progress keeps its blobs."""
    store, ledger = parts
    ledger.create_deployment("1.2.0", "canary")
    report = collect_garbage(ledger, store, keep=0)
    assert report.kept["1.2.0"] == "deploying"
    assert report.collected == ["1.3.0"]
    assert store.has(_model_sha(four["1.2.0"]))


def test_orphan_blobs_wait_for_the_grace_period(
    parts: tuple[FsspecStore, Ledger], tmp_path: Path
) -> None:
    """Blobs no version references (a failed register) go only once older than the grace."""
    store, ledger = parts
    orphan = tmp_path / "orphan"
    orphan.write_bytes(b"left behind by a register that failed")
    sha = hashlib.sha256(orphan.read_bytes()).hexdigest()
    store.put_file(orphan, sha)
    assert collect_garbage(ledger, store, keep=0).orphans == []
    assert store.has(sha)
    report = collect_garbage(ledger, store, keep=0, orphan_grace_s=0)
    assert report.orphans == [sha]
    assert not store.has(sha)


def test_negative_keep_is_refused(parts: tuple[FsspecStore, Ledger]) -> None:
    """--keep below zero is a clear error."""
    store, ledger = parts
    with pytest.raises(RegistryError, match="--keep must be 0 or more, got -1"):
        collect_garbage(ledger, store, keep=-1)
