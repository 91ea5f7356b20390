"""Where a batch's audio goes: a directory, or a zip built from staged files.

Both write each file under a temporary name in a hidden work directory on the same file
system and ``os.replace`` it into place, so a file is either complete or absent, whatever
moment the process dies at. A lock file in the work directory keeps two batches from
writing the same output at once.

A zip cannot be appended safely after a kill -9, so ``ZipSink`` stages finished files in
``.NAME.zip.ttsops-batch/files/`` beside the zip and builds the zip (temporary name, fsync,
rename) at the end of each run from the staged files plus the members of the previous zip.
Staged files are removed once the new zip is in place; a rerun finds finished files in the
staging area or in the existing zip.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

from ttsops.batch.tasks import RESERVED_DIR
from ttsops.errors import BatchError

__all__ = ["DirSink", "Sink", "ZipSink", "open_sink"]

_CHUNK = 1 << 20
_DEFLATE = {"wav", "pcm"}  # the others are compressed already


class Sink(Protocol):
    """Where finished audio files go, and where the batch keeps its journals."""

    location: Path
    """The output directory or zip file, as the user named it."""

    results_path: Path
    """``results.jsonl`` of this output."""

    failed_path: Path
    """``failed.jsonl`` of this output."""

    def open(self) -> None:
        """Take the output's lock and clear temporary files of a killed run."""
        ...

    def has(self, path: str, sha256: str) -> bool:
        """Whether ``path`` is already there with exactly this sha256."""
        ...

    def write(self, path: str, data: bytes) -> None:
        """Put ``data`` at ``path`` atomically (temporary file, then rename)."""
        ...

    def finish(self, records: Iterable[dict[str, Any]]) -> None:
        """Complete the output from the latest result records (builds the zip)."""
        ...

    def close(self) -> None:
        """Release the lock."""
        ...


def open_sink(out_dir: Path | None, zip_path: Path | None) -> Sink:
    """A ``DirSink`` or ``ZipSink``, whichever was asked for."""
    if zip_path is not None:
        return ZipSink(zip_path)
    if out_dir is None:
        raise BatchError("no output given; pass --out DIR or --zip FILE.zip")
    return DirSink(out_dir)


class _WorkDir:
    """The hidden work directory: lock file and temporary files."""

    def __init__(self, work: Path, location: Path) -> None:
        self.work = work
        self.tmp = work / "tmp"
        self.location = location
        self._lock: IO[str] | None = None

    def open(self) -> None:
        try:
            self.work.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BatchError(
                f"cannot create {self.work}: {exc.strerror}; choose an output you can write to"
            ) from None
        handle = (self.work / "lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise BatchError(
                f"another ttsops batch (pid {holder}) is writing {self.location}; wait for "
                "it to finish or choose another output"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        shutil.rmtree(self.tmp, ignore_errors=True)  # leftovers of a killed run
        self.tmp.mkdir()

    def put(self, dest: Path, data: bytes) -> None:
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        tmp.write_bytes(data)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None


def _file_sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _inside(root: Path, dest: Path, path: str) -> Path:
    """``dest`` if its real location is under ``root`` (a symlink may point elsewhere)."""
    if not dest.parent.resolve().is_relative_to(root.resolve()):
        raise OSError(
            errno.EXDEV, f"output_name {path!r} leads outside {root} through a symbolic link"
        )
    return dest


class DirSink:
    """Audio files in a directory, with ``results.jsonl`` and ``failed.jsonl`` beside them."""

    def __init__(self, out_dir: Path) -> None:
        self.location = out_dir
        self.results_path = out_dir / "results.jsonl"
        self.failed_path = out_dir / "failed.jsonl"
        self._work = _WorkDir(out_dir / RESERVED_DIR, out_dir)

    def open(self) -> None:
        """Take the lock and clear temporary files of a killed run."""
        if self.location.exists() and not self.location.is_dir():
            raise BatchError(
                f"--out {self.location} exists and is not a directory; choose a directory"
            )
        self._work.open()

    def has(self, path: str, sha256: str) -> bool:
        """Whether the file is there with this sha256."""
        return _file_sha256(self.location / path) == sha256

    def write(self, path: str, data: bytes) -> None:
        """Write via a temporary file in the work directory, then rename into place."""
        self._work.put(_inside(self.location, self.location / path, path), data)

    def finish(self, records: Iterable[dict[str, Any]]) -> None:
        """Nothing to do: files are in place as they finish."""

    def close(self) -> None:
        """Release the lock."""
        self._work.close()


class ZipSink:
    """Audio files in one zip (with its own ``results.jsonl``); journals beside the zip."""

    def __init__(self, zip_path: Path) -> None:
        if zip_path.suffix.lower() != ".zip":
            raise BatchError(f"--zip {zip_path} must end in .zip, e.g. {zip_path.stem}.zip")
        self.location = zip_path
        stem = zip_path.with_suffix("")
        self.results_path = stem.with_name(f"{stem.name}.results.jsonl")
        self.failed_path = stem.with_name(f"{stem.name}.failed.jsonl")
        self.staged = zip_path.with_name(f".{zip_path.name}.ttsops-batch") / "files"
        self._work = _WorkDir(self.staged.parent, zip_path)
        self._old: zipfile.ZipFile | None = None

    def open(self) -> None:
        """Take the lock, clear temporary files, and open the previous zip for reuse."""
        self._work.open()
        self.staged.mkdir(exist_ok=True)
        if self.location.is_file():
            try:
                self._old = zipfile.ZipFile(self.location)
            except zipfile.BadZipFile:
                self._old = None  # only ever renamed into place whole; treat as absent

    def has(self, path: str, sha256: str) -> bool:
        """Whether the file is staged, or in the previous zip, with this sha256."""
        if _file_sha256(self.staged / path) == sha256:
            return True
        return self._old_sha256(path) == sha256

    def _old_sha256(self, path: str) -> str | None:
        if self._old is None:
            return None
        try:
            digest = hashlib.sha256()
            with self._old.open(path) as member:
                while chunk := member.read(_CHUNK):
                    digest.update(chunk)
            return digest.hexdigest()
        except (KeyError, zipfile.BadZipFile, OSError):
            return None

    def write(self, path: str, data: bytes) -> None:
        """Stage the file (temporary name, then rename)."""
        self._work.put(_inside(self.staged, self.staged / path, path), data)

    def finish(self, records: Iterable[dict[str, Any]]) -> None:
        """Build the zip from staged files and the previous zip, replace it, drop the staging."""
        staged_any = any(p.is_file() for p in self.staged.rglob("*"))
        if not staged_any and self._old is not None:
            return  # nothing new since the zip was built
        tmp = self._work.tmp / f"{uuid.uuid4().hex}.zip"
        index = self._work.tmp / "results.jsonl"
        with (
            zipfile.ZipFile(tmp, "w", allowZip64=True) as out,
            index.open("w", encoding="utf-8") as kept,
        ):
            for record in records:
                if self._copy_into(out, record):
                    kept.write(json.dumps(record, ensure_ascii=False) + "\n")
            kept.close()
            out.write(index, "results.jsonl", compress_type=zipfile.ZIP_DEFLATED)
        index.unlink()
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        if self._old is not None:
            self._old.close()
            self._old = None
        tmp.replace(self.location)
        dir_fd = os.open(self.location.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new zip must be durable before its sources go
        finally:
            os.close(dir_fd)
        shutil.rmtree(self.staged, ignore_errors=True)
        self.staged.mkdir()
        self._old = zipfile.ZipFile(self.location)

    def _copy_into(self, out: zipfile.ZipFile, record: dict[str, Any]) -> bool:
        path = str(record["path"])
        compress = zipfile.ZIP_DEFLATED if record.get("response_format") in _DEFLATE else 0
        staged = self.staged / path
        if _file_sha256(staged) == record["sha256"]:
            out.write(staged, path, compress_type=compress)
            return True
        if self._old is not None and self._old_sha256(path) == record["sha256"]:
            info = zipfile.ZipInfo(path, date_time=self._old.getinfo(path).date_time)
            info.compress_type = compress
            with self._old.open(path) as src, out.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            return True
        return False

    def close(self) -> None:
        """Close the previous zip and release the lock."""
        if self._old is not None:
            self._old.close()
            self._old = None
        self._work.close()
