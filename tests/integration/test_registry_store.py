"""The artifact store on a local directory and on S3 (a moto server over real HTTP on loopback)."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ttsops.bundle import verify_bundle
from ttsops.errors import StoreError, StoreUnavailableError
from ttsops.registry import FsspecStore, Ledger, fetch_version, open_store, register_bundle

_MiB = 1 << 20


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server (moto) on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3fs(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A new empty bucket: (store URL, endpoint)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"ttsops-{uuid.uuid4().hex[:12]}"
    _s3fs(s3_endpoint).mkdir(bucket)
    return f"s3://{bucket}/store", s3_endpoint


@pytest.fixture(params=["file", "s3"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """(store URL, endpoint) of an empty store: a local directory, then an S3 bucket."""
    if request.param == "file":
        return (tmp_path / "store").as_uri(), None
    url, endpoint = request.getfixturevalue("s3_bucket")
    return url, endpoint


def _blob(tmp_path: Path, size: int, seed: int = 0) -> tuple[Path, str]:
    path = tmp_path / f"blob-{seed}-{size}"
    path.write_bytes(hashlib.sha256(str(seed).encode()).digest() * (size // 32))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_roundtrip_and_identical_files_stored_once(
    store_spec: tuple[str, str | None], tmp_path: Path
) -> None:
    """A file is stored under its sha256, read back identical, and a second put stores nothing."""
    store = open_store(*store_spec)
    path, sha = _blob(tmp_path, 3 * _MiB)
    assert store.put_file(path, sha) is True
    assert store.put_file(path, sha) is False
    assert store.put_bytes(b"manifest", hashlib.sha256(b"manifest").hexdigest()) is True
    out = tmp_path / "out"
    assert store.get_file(sha, out) == sha
    assert out.read_bytes() == path.read_bytes()
    assert sorted((b.sha256, b.size) for b in store.list_blobs()) == sorted(
        [(sha, 3 * _MiB), (hashlib.sha256(b"manifest").hexdigest(), 8)]
    )
    assert store.delete(sha) == 3 * _MiB
    assert store.delete(sha) == 0
    assert not store.has(sha)


def test_bytes_that_do_not_match_their_name_are_refused(
    store_spec: tuple[str, str | None],
) -> None:
    """Content whose sha256 differs from the name it is put under is refused and not stored."""
    store = open_store(*store_spec)
    with pytest.raises(StoreError, match="expected 000000000000"):
        store.put_bytes(b"something else", "0" * 64)
    assert not store.has("0" * 64)
    assert store.list_blobs() == []


class _FullDiskHandle:
    """A write handle that fails with ENOSPC once ``budget`` bytes were written."""

    def __init__(self, inner: Any, budget: int) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_left", budget)

    def write(self, data: bytes) -> int:
        if len(data) > self._left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        object.__setattr__(self, "_left", self._left - len(data))
        return int(self._inner.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __enter__(self) -> _FullDiskHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


class FullDiskFS:
    """A real fsspec file system whose writes run out of space after ``budget`` bytes.

    This is a fake at the store's file-system seam: a full disk cannot be produced on
    demand here, so only ``write`` is made to fail; everything else is the real thing.
    """

    def __init__(self, inner: Any, budget: int) -> None:
        self._inner, self._budget = inner, budget

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        handle = self._inner.open(path, mode, **kwargs)
        return _FullDiskHandle(handle, self._budget) if "w" in mode else handle

    def pipe_file(self, path: str, data: bytes, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def full_disk_store(url: str, endpoint: str | None, budget: int) -> FsspecStore:
    """The store at ``url`` on a file system that fills up after ``budget`` bytes."""
    if endpoint is None:
        from fsspec.implementations.local import LocalFileSystem

        inner: Any = LocalFileSystem()
    else:
        inner = _s3fs(endpoint)
    return FsspecStore(url, endpoint_url=endpoint, fs=FullDiskFS(inner, budget)).check()


def test_interrupted_upload_leaves_no_blob(
    store_spec: tuple[str, str | None], tmp_path: Path
) -> None:
    """A write that fails partway (ENOSPC) leaves nothing that looks like a blob, nor a partial.

    The full disk is a fake at the file-system seam (see FullDiskFS); the store, the
    local directory and the S3 server are real.
    """
    url, endpoint = store_spec
    path, sha = _blob(tmp_path, 20 * _MiB)
    broken = full_disk_store(url, endpoint, budget=17 * _MiB)
    with pytest.raises(StoreError, match="No space left on device") as err:
        broken.put_file(path, sha)
    assert str(path) in err.value.message
    store = open_store(url, endpoint)
    assert not store.has(sha)
    assert store.list_blobs() == []
    if endpoint is None:
        assert list((Path(url.removeprefix("file://")) / "incoming").iterdir()) == []
    else:
        bucket = url.removeprefix("s3://").split("/")[0]
        uploads = _s3fs(endpoint).call_s3("list_multipart_uploads", Bucket=bucket)
        assert uploads.get("Uploads", []) == []
    assert store.put_file(path, sha) is True
    assert store.get_file(sha, tmp_path / "again") == sha


def test_stale_partials_are_cleaned(tmp_path: Path) -> None:
    """Leftovers of a killed local write are removed once older than the grace period."""
    store = open_store((tmp_path / "store").as_uri())
    incoming = tmp_path / "store" / "incoming"
    old, fresh = incoming / "a.part", incoming / "b.part"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert store.clean_partials(older_than_s=600) == 1
    assert [p.name for p in incoming.iterdir()] == ["b.part"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_s3_names_url_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3 endpoint nobody listens on fails with the store URL and endpoint named."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreUnavailableError) as err:
        open_store("s3://voices/ttsops", endpoint)
    assert f"s3://voices/ttsops (endpoint {endpoint}) cannot be reached" in err.value.message


def test_missing_credentials_say_which_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3 store without credentials says which environment variables to set."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(StoreUnavailableError, match="no S3 credentials found; set AWS_ACCESS"):
        open_store("s3://voices/ttsops", f"http://127.0.0.1:{_closed_port()}")


def test_missing_bucket_says_create_it(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bucket that does not exist is reported as such, with how to create it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(StoreUnavailableError, match="bucket does not exist; create it"):
        open_store("s3://no-such-bucket/x", s3_endpoint)


def test_unusable_local_store_and_scheme(tmp_path: Path) -> None:
    """A store directory that cannot be created, or an unknown scheme, is a clear error."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailableError, match=r"artifact store file://.*cannot be reached"):
        open_store((blocker / "store").as_uri())
    with pytest.raises(StoreUnavailableError, match="unsupported scheme 'ftp'; use file:///PATH"):
        open_store("ftp://example.com/store")


def test_register_and_fetch_through_s3(
    s3_bucket: tuple[str, str], joe_bundle: Path, tmp_path: Path
) -> None:
    """The joe bundle registered into S3 comes back as a bundle whose every digest verifies."""
    store = open_store(*s3_bucket)
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        result = register_bundle(joe_bundle, store, ledger, version="v1.4.0")
        fetched = fetch_version(ledger, store, "1.4.0", cache_dir=tmp_path / "cache")
    assert result.created
    assert fetched.path == (tmp_path / "cache" / "1.4.0").resolve()
    assert verify_bundle(fetched.path).digest == result.record.digest


def test_disk_full_during_register_registers_nothing(
    store_spec: tuple[str, str | None], joe_bundle: Path, tmp_path: Path
) -> None:
    """A store that fills up mid-upload leaves no version and no blob of the file it was writing.

    The full disk is a fake at the file-system seam (see FullDiskFS); the bundle, the
    store, the S3 server and the SQLite ledger are real.
    """
    url, endpoint = store_spec
    onnx = "en_US-joe-medium.onnx"
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        broken = full_disk_store(url, endpoint, budget=4 * _MiB)
        with pytest.raises(StoreError, match="No space left on device") as err:
            register_bundle(joe_bundle, broken, ledger)
        assert onnx in err.value.message
        assert "nothing was registered" in err.value.message
        assert ledger.list_versions() == []
        assert ledger.list_events() == []
        big = verify_bundle(joe_bundle).files[onnx].sha256
        assert not open_store(url, endpoint).has(big)
