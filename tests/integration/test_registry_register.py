"""Registering real bundles into a local store and SQLite ledger, and fetching them back."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ttsops.bundle import load_manifest, verify_bundle, write_manifest
from ttsops.errors import (
    BundleError,
    CorruptBlobError,
    DigestMismatchError,
    InvalidVersionError,
    ManifestError,
    RegistryError,
    VersionConflictError,
    VersionNotFoundError,
)
from ttsops.registry import (
    FROM_GIT,
    FsspecStore,
    Ledger,
    Stage,
    fetch_version,
    open_store,
    register_bundle,
)

CONFIG = "en_US-joe-medium.onnx.json"


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[FsspecStore, Ledger]]:
    """A fresh local store and SQLite ledger under ``tmp_path``."""
    store = open_store((tmp_path / "store").as_uri())
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        yield store, ledger


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy of a bundle whose files are hard links (cheap; never write them in place)."""
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def variant(joe_bundle: Path, dst: Path, noise_scale: float) -> Path:
    """The joe bundle with another engine setting: same files, a different content digest."""
    linked_copy(joe_bundle, dst)
    manifest = load_manifest(dst)
    options = {**manifest.engine_options, "noise_scale": noise_scale}
    write_manifest(dst, manifest.model_copy(update={"engine_options": options}))
    return dst


def test_register_then_fetch_verifies(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """A registered bundle comes back from the store file for file, under its new version."""
    store, ledger = parts
    result = register_bundle(joe_bundle, store, ledger, version="v2.0.0", trigger="ci")
    assert result.created
    assert result.uploaded_files == 3  # two model files and the manifest
    assert result.record.stage is Stage.PRODUCTION
    fetched = fetch_version(
        ledger, store, "2.0.0", cache_dir=tmp_path / "cache", out=tmp_path / "o"
    )
    manifest = verify_bundle(fetched.path)
    assert manifest.digest == load_manifest(joe_bundle).digest
    assert (manifest.version, manifest.source.trigger) == ("2.0.0", "ci")


def test_reregistering_the_identical_bundle_is_a_no_op(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path
) -> None:
    """Registering the same bundle again uploads nothing and records nothing new."""
    store, ledger = parts
    register_bundle(joe_bundle, store, ledger)
    again = register_bundle(joe_bundle, store, ledger)
    assert (again.created, again.uploaded_files) == (False, 0)
    assert len(ledger.list_versions()) == 1
    assert len(ledger.list_events()) == 1


def test_identical_files_are_stored_once(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path
) -> None:
    """Progress sees every byte; a second version with the same files uploads just its manifest."""
    store, ledger = parts
    moved: dict[str, int] = {}

    def on_file(rel: str, size: int) -> Callable[[int], None]:
        moved[rel] = 0
        return lambda n: moved.__setitem__(rel, moved[rel] + n)

    register_bundle(joe_bundle, store, ledger, version="1.0.0", on_file=on_file)
    assert moved == {rel: f.size for rel, f in load_manifest(joe_bundle).files.items()}
    second = register_bundle(joe_bundle, store, ledger, version="1.1.0")
    assert second.created
    assert second.uploaded_files == 1
    assert len(store.list_blobs()) == 4  # two model files, two manifests


def test_same_version_other_digest_is_refused_before_uploading(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """A bundle that differs from the registered version of that name is refused, nothing stored."""
    store, ledger = parts
    register_bundle(joe_bundle, store, ledger, version="1.0.0")
    blobs = store.list_blobs()
    other = variant(joe_bundle, tmp_path / "other", noise_scale=0.5)
    with pytest.raises(VersionConflictError, match="Bump the version"):
        register_bundle(other, store, ledger, version="1.0.0")
    assert store.list_blobs() == blobs
    assert ledger.get_version("1.0.0").digest == load_manifest(joe_bundle).digest


def test_not_a_bundle_is_refused(parts: tuple[FsspecStore, Ledger], tmp_path: Path) -> None:
    """A directory without bundle.toml is refused with how to make a bundle."""
    store, ledger = parts
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match=r"is not a bundle: bundle\.toml is missing"):
        register_bundle(tmp_path / "empty", store, ledger)
    assert ledger.list_versions() == []


def test_tampered_bundle_is_refused(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """A bundle whose file no longer matches its digest is refused naming the file."""
    store, ledger = parts
    bundle = linked_copy(joe_bundle, tmp_path / "tampered")
    data = (bundle / CONFIG).read_bytes()
    (bundle / CONFIG).unlink()  # break the hard link before writing
    (bundle / CONFIG).write_bytes(data.replace(b"22050", b"16000"))
    with pytest.raises(DigestMismatchError, match=f"file {CONFIG} has sha256"):
        register_bundle(bundle, store, ledger)
    assert ledger.list_versions() == []
    assert store.list_blobs() == []


def test_non_semver_version_is_refused(parts: tuple[FsspecStore, Ledger], joe_bundle: Path) -> None:
    """A version that is not semantic is refused with an example of one that is."""
    store, ledger = parts
    with pytest.raises(InvalidVersionError, match=r"version '1\.2' is not a semantic version"):
        register_bundle(joe_bundle, store, ledger, version="1.2")
    assert store.list_blobs() == []


def test_corrupted_blob_is_refused_on_fetch(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """A stored blob that was altered is refused on fetch, naming the file; nothing is left."""
    store, ledger = parts
    register_bundle(joe_bundle, store, ledger)
    sha = load_manifest(joe_bundle).files[CONFIG].sha256
    Path(store.locate(sha)).write_bytes(b'{"audio": {"sample_rate": 8000}}')
    out = tmp_path / "fetched"
    with pytest.raises(CorruptBlobError) as err:
        fetch_version(ledger, store, "1.0.0", cache_dir=tmp_path / "cache", out=out)
    assert f"file {CONFIG} of version 1.0.0" in err.value.message
    assert store.locate(sha) in err.value.message
    assert not out.exists()
    assert list(tmp_path.glob(".fetched.*")) == []


def test_missing_blob_is_restored_by_registering_again(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """Registering the original bundle again uploads a blob the store lost, and fetch works."""
    store, ledger = parts
    register_bundle(joe_bundle, store, ledger)
    sha = load_manifest(joe_bundle).files[CONFIG].sha256
    store.delete(sha)
    with pytest.raises(RegistryError, match="has no blob"):
        fetch_version(ledger, store, "1.0.0", cache_dir=tmp_path / "cache")
    repaired = register_bundle(joe_bundle, store, ledger)
    assert (repaired.created, repaired.uploaded_files) == (False, 1)
    assert fetch_version(ledger, store, "1.0.0", cache_dir=tmp_path / "cache").path.is_dir()


def test_fetch_reuses_a_verified_cache(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """Fetching into the cache twice downloads once; a damaged cached copy is fetched anew."""
    store, ledger = parts
    register_bundle(joe_bundle, store, ledger)
    cache = tmp_path / "cache"
    first = fetch_version(ledger, store, "v1.0.0", cache_dir=cache)
    assert not first.reused
    assert fetch_version(ledger, store, "1.0.0", cache_dir=cache).reused
    (first.path / CONFIG).write_text("{}")
    again = fetch_version(ledger, store, "1.0.0", cache_dir=cache)
    assert not again.reused
    assert verify_bundle(again.path).digest == first.record.digest


def test_fetch_refuses_unknown_versions_and_existing_dirs(
    parts: tuple[FsspecStore, Ledger], joe_bundle: Path, tmp_path: Path
) -> None:
    """Fetching an unregistered version, or over an existing directory, is a clear error."""
    store, ledger = parts
    with pytest.raises(VersionNotFoundError, match=r"version 3\.0\.0 is not registered"):
        fetch_version(ledger, store, "3.0.0", cache_dir=tmp_path)
    register_bundle(joe_bundle, store, ledger)
    (tmp_path / "taken").mkdir()
    with pytest.raises(BundleError, match="already exists; choose another --out or pass --force"):
        fetch_version(ledger, store, "1.0.0", cache_dir=tmp_path, out=tmp_path / "taken")
    forced = fetch_version(
        ledger, store, "1.0.0", cache_dir=tmp_path, out=tmp_path / "taken", force=True
    )
    assert verify_bundle(forced.path).version == "1.0.0"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_versions_from_git(
    parts: tuple[FsspecStore, Ledger],
    joe_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An untagged commit registers as a staging 0.0.0-dev+<sha>; a v-tag as production."""
    store, ledger = parts
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "train joe")
    monkeypatch.chdir(repo)
    head, short = _git(repo, "rev-parse", "HEAD"), _git(repo, "rev-parse", "--short", "HEAD")
    candidate = register_bundle(joe_bundle, store, ledger, version=FROM_GIT).record
    assert (candidate.version, candidate.stage) == (f"0.0.0-dev+{short}", Stage.STAGING)
    assert (candidate.git_sha, candidate.trigger) == (head, "commit")
    _git(repo, "tag", "v1.3.0")
    release = register_bundle(joe_bundle, store, ledger, version=FROM_GIT).record
    assert (release.version, release.stage, release.trigger) == ("1.3.0", Stage.PRODUCTION, "tag")
