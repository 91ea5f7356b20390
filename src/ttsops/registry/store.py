"""The artifact store: content-addressed blobs (``blobs/<sha[:2]>/<sha>``) through fsspec.

``file://`` (the default, under the state dir) and ``s3://`` (S3, MinIO: set the endpoint
URL) work alike. A blob appears under its name only when it is complete and its sha256
matched: local writes go to ``incoming/`` and are renamed into place, S3 writes are one PUT or
a multipart upload completed only after the last byte (aborted otherwise).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ttsops.errors import StoreError, StoreUnavailableError

__all__ = ["ArtifactStore", "BlobInfo", "FsspecStore", "ProgressFn", "open_store"]

ProgressFn = Callable[[int], None]
"""Called with the number of bytes just moved, for progress bars."""

_CHUNK = 1 << 20
_ONE_SHOT_MAX = 8 << 20
"""Blobs up to this size go to S3 in one PUT; bigger ones as a multipart upload."""
_S3_BLOCK = 16 << 20
_REMOTE_CHUNK = 8 << 20
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob."""

    sha256: str
    """Its name: the sha256 of its bytes."""

    size: int
    """Size in bytes."""

    modified: float | None
    """When it was written (POSIX seconds), if the store says."""


@runtime_checkable
class ArtifactStore(Protocol):
    """Blobs named by the sha256 of their bytes; writes are atomic, identical blobs stored once."""

    @property
    def url(self) -> str:
        """Where the store lives, e.g. ``file:///home/me/.ttsops/store`` or ``s3://bucket/x``."""
        ...

    def locate(self, sha256: str) -> str:
        """The full location of a blob, for messages."""
        ...

    def has(self, sha256: str) -> bool:
        """True when a complete blob with this digest is stored."""
        ...

    def put_file(self, path: Path, sha256: str, on_bytes: ProgressFn | None = None) -> bool:
        """Store a file under its digest; False when it was already there (nothing uploaded)."""
        ...

    def put_bytes(self, data: bytes, sha256: str) -> bool:
        """Store bytes under their digest; False when already there."""
        ...

    def get_file(self, sha256: str, dest: Path, on_bytes: ProgressFn | None = None) -> str:
        """Copy a blob to ``dest`` and return the sha256 of the bytes actually read."""
        ...

    def read_bytes(self, sha256: str) -> bytes:
        """The bytes of a (small) blob."""
        ...

    def delete(self, sha256: str) -> int:
        """Delete a blob; return the bytes freed (0 when it was absent)."""
        ...

    def list_blobs(self) -> list[BlobInfo]:
        """Every stored blob."""
        ...

    def clean_partials(self, older_than_s: float) -> int:
        """Remove leftovers of interrupted writes older than ``older_than_s``; return how many."""
        ...


def _check_sha(sha256: str) -> str:
    if not _SHA_RE.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def _read_chunks(handle: BinaryIO, size: int = _CHUNK) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


class FsspecStore:
    """An ``ArtifactStore`` on any fsspec file system (local directory, S3, MinIO)."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, fs: Any = None) -> None:
        """Open the store at ``url``; ``fs`` replaces the file system the URL names (a seam)."""
        self._url = url
        parts = urlsplit(url)
        if parts.scheme in ("", "file"):
            self._root = str(Path(parts.path if parts.scheme else url).expanduser())
            self._local = True
            if fs is None:
                from fsspec.implementations.local import LocalFileSystem

                fs = LocalFileSystem()
        elif parts.scheme in ("s3", "s3a"):
            if not parts.netloc:
                raise StoreUnavailableError(
                    f"store URL {url} names no bucket; use s3://BUCKET/PREFIX"
                )
            self._root = f"{parts.netloc}{parts.path}".rstrip("/")
            self._local = False
            if fs is None:
                import s3fs

                fs = s3fs.S3FileSystem(
                    endpoint_url=endpoint_url,
                    skip_instance_cache=True,
                    use_listings_cache=False,
                    default_block_size=_S3_BLOCK,
                    config_kwargs={
                        "connect_timeout": 5,
                        "read_timeout": 60,
                        "retries": {"max_attempts": 2},
                    },
                )
                fs.retries = 2
        else:
            raise StoreUnavailableError(
                f"store URL {url} has unsupported scheme {parts.scheme!r}; use file:///PATH or "
                "s3://BUCKET/PREFIX (TTSOPS_STORE_URL or store_url in ttsops.toml)"
            )
        self._endpoint = endpoint_url
        self._fs = fs

    @property
    def url(self) -> str:
        """The URL the store was opened with."""
        return self._url

    def _where(self) -> str:
        return f"{self._url} (endpoint {self._endpoint})" if self._endpoint else self._url

    def _blob(self, sha256: str) -> str:
        sha = _check_sha(sha256)
        return f"{self._root}/blobs/{sha[:2]}/{sha}"

    def locate(self, sha256: str) -> str:
        """The blob's path (local) or ``s3://`` URL."""
        path = self._blob(sha256)
        return path if self._local else f"s3://{path}"

    def check(self) -> FsspecStore:
        """Make sure the store can be reached (and, locally, created); return self."""
        try:
            if self._local:
                self._fs.makedirs(f"{self._root}/blobs", exist_ok=True)
                self._fs.makedirs(f"{self._root}/incoming", exist_ok=True)
            else:
                bucket = self._root.split("/", 1)[0]
                self._fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise StoreUnavailableError(
                f"artifact store {self._where()}: bucket does not exist; create it "
                "(e.g. `aws s3 mb s3://BUCKET`) or fix TTSOPS_STORE_URL"
            ) from None
        except Exception as exc:  # noqa: BLE001 - botocore, aiohttp and OS errors all mean "unreachable"
            if type(exc).__name__ == "NoCredentialsError":
                raise StoreUnavailableError(
                    f"artifact store {self._where()}: no S3 credentials found; set "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
                ) from None
            raise StoreUnavailableError(
                f"artifact store {self._where()} cannot be reached: {exc}; check "
                "TTSOPS_STORE_URL / AWS_ENDPOINT_URL and that the store is running"
            ) from None
        return self

    def has(self, sha256: str) -> bool:
        """True when the blob exists (only complete blobs ever exist under their name)."""
        try:
            return bool(self._fs.exists(self._blob(sha256)))
        except OSError as exc:
            raise StoreError(f"artifact store {self._where()}: cannot check blob: {exc}") from None

    def put_file(self, path: Path, sha256: str, on_bytes: ProgressFn | None = None) -> bool:
        """Upload ``path`` as blob ``sha256`` unless present; refuse if its bytes differ."""
        if self.has(sha256):
            return False
        try:
            size = path.stat().st_size
            with path.open("rb") as src:
                self._write(sha256, _read_chunks(src), size, on_bytes, what=str(path))
        except OSError as exc:
            raise StoreError(
                f"uploading {path} to artifact store {self._where()} failed: {exc}; nothing "
                "was registered. Fix the cause (free space, permissions) and run it again"
            ) from None
        return True

    def put_bytes(self, data: bytes, sha256: str) -> bool:
        """Store ``data`` as blob ``sha256`` unless present."""
        if self.has(sha256):
            return False
        try:
            self._write(sha256, iter((data,)), len(data), None, what=f"blob {sha256[:12]}…")
        except OSError as exc:
            raise StoreError(
                f"writing blob {sha256[:12]}… to artifact store {self._where()} failed: {exc}; "
                "fix the cause and run it again"
            ) from None
        return True

    def _write(
        self,
        sha256: str,
        chunks: Iterable[bytes],
        size: int,
        on_bytes: ProgressFn | None,
        what: str,
    ) -> None:
        final = self._blob(sha256)
        hasher = hashlib.sha256()

        def feed(write: Callable[[bytes], object]) -> None:
            for chunk in chunks:
                hasher.update(chunk)
                write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            if hasher.hexdigest() != sha256:
                raise StoreError(
                    f"{what} has sha256 {hasher.hexdigest()[:12]}…, expected {sha256[:12]}…; "
                    "it changed while it was uploaded. Verify the bundle and try again"
                )

        if self._local:
            # Write beside the blobs and rename: a reader never sees a partial blob.
            tmp = f"{self._root}/incoming/{sha256}.{uuid.uuid4().hex}.part"
            try:
                self._fs.makedirs(f"{self._root}/incoming", exist_ok=True)
                self._fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                with self._fs.open(tmp, "wb") as out:
                    feed(out.write)
                    out.flush()
                    os.fsync(out.fileno())  # durable before it gets its name
                self._fs.mv(tmp, final)
            except BaseException:
                if self._fs.exists(tmp):
                    self._fs.rm_file(tmp)
                raise
        elif size <= _ONE_SHOT_MAX:
            buffer = bytearray()
            feed(buffer.extend)
            self._fs.pipe_file(final, bytes(buffer))
        else:
            # A multipart upload becomes visible only on commit; discard aborts it.
            handle = self._fs.open(final, "wb", autocommit=False)
            try:
                feed(handle.write)
                handle.close()
                handle.commit()
            except BaseException:
                handle.discard()
                handle.closed = True  # so its finaliser does not flush a discarded upload
                raise

    def get_file(self, sha256: str, dest: Path, on_bytes: ProgressFn | None = None) -> str:
        """Stream blob ``sha256`` into ``dest``, hashing as it goes; return the actual sha256."""
        hasher = hashlib.sha256()
        # Remote reads: one ranged GET per chunk, so chunks are big and nothing is cached.
        chunk = _CHUNK if self._local else _REMOTE_CHUNK
        options = {} if self._local else {"block_size": chunk, "cache_type": "none"}
        with (
            self._reading(sha256),
            self._fs.open(self._blob(sha256), "rb", **options) as src,
            dest.open("wb") as out,
        ):
            for data in _read_chunks(src, chunk):
                hasher.update(data)
                out.write(data)
                if on_bytes is not None:
                    on_bytes(len(data))
        return hasher.hexdigest()

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob in memory (for manifests)."""
        with self._reading(sha256):
            return bytes(self._fs.cat_file(self._blob(sha256)))

    @contextmanager
    def _reading(self, sha256: str) -> Iterator[None]:
        """Turn a missing or unreadable blob into a StoreError naming it and the fix."""
        try:
            yield
        except FileNotFoundError:
            raise StoreError(
                f"artifact store {self._where()} has no blob {sha256[:12]}… "
                f"({self.locate(sha256)}); register the original bundle again to restore it"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"reading blob {sha256[:12]}… from artifact store {self._where()} failed: {exc}"
            ) from None

    def delete(self, sha256: str) -> int:
        """Remove a blob; return its size, or 0 when it was not there."""
        path = self._blob(sha256)
        try:
            size = int(self._fs.info(path)["size"])
            self._fs.rm_file(path)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"deleting {self.locate(sha256)} failed: {exc}") from None
        return size

    def list_blobs(self) -> list[BlobInfo]:
        """Every blob under ``blobs/``, with size and modification time."""
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(f"{self._root}/blobs", detail=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"listing artifact store {self._where()} failed: {exc}") from None
        blobs = []
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if _SHA_RE.match(name):
                blobs.append(BlobInfo(name, int(info["size"]), _modified(info)))
        return sorted(blobs, key=lambda b: b.sha256)

    def clean_partials(self, older_than_s: float) -> int:
        """Delete ``incoming/*.part`` left by interrupted local writes (S3 keeps none visible)."""
        if not self._local:
            return 0
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(f"{self._root}/incoming", detail=True)
        except FileNotFoundError:
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for path, info in found.items():
            modified = _modified(info)
            if path.endswith(".part") and modified is not None and modified <= cutoff:
                self._fs.rm_file(path)
                removed += 1
        return removed


def _modified(info: dict[str, Any]) -> float | None:
    if "mtime" in info:
        return float(info["mtime"])
    stamp = info.get("LastModified")
    return float(stamp.timestamp()) if stamp is not None else None


def open_store(url: str, endpoint_url: str | None = None) -> FsspecStore:
    """Open and check the artifact store at ``url`` (raise ``StoreUnavailableError`` if not)."""
    return FsspecStore(url, endpoint_url=endpoint_url).check()
