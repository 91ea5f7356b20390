"""Output sinks: atomic files in a directory, a zip built from staged files, the output lock."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from ttsops.batch import DirSink, ZipSink
from ttsops.errors import BatchError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rec(path: str, data: bytes) -> dict[str, object]:
    return {"path": path, "sha256": _sha(data), "response_format": "wav"}


def test_dir_sink_writes_whole_files_and_leaves_no_temporaries(tmp_path: Path) -> None:
    """A written file is complete at its path, nested folders are made, no temp file remains."""
    sink = DirSink(tmp_path / "out")
    sink.open()
    sink.write("ch01/p001.wav", b"RIFFdata")
    assert (tmp_path / "out/ch01/p001.wav").read_bytes() == b"RIFFdata"
    assert sink.has("ch01/p001.wav", _sha(b"RIFFdata"))
    assert not sink.has("ch01/p001.wav", _sha(b"other"))
    assert not sink.has("missing.wav", _sha(b"RIFFdata"))
    assert list((tmp_path / "out/.ttsops-batch/tmp").iterdir()) == []
    sink.close()


def test_dir_sink_clears_temporaries_of_a_killed_run(tmp_path: Path) -> None:
    """Half-written temp files from a killed run are removed when the next run opens."""
    leftover = tmp_path / "out/.ttsops-batch/tmp/abc.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    sink = DirSink(tmp_path / "out")
    sink.open()
    assert not leftover.exists()
    sink.close()


def test_second_batch_on_the_same_output_is_refused(tmp_path: Path) -> None:
    """Two batches cannot write one output at once: the second gets a BatchError naming it."""
    first = DirSink(tmp_path / "out")
    first.open()
    with pytest.raises(BatchError, match=f"pid {os.getpid()}"):
        DirSink(tmp_path / "out").open()
    first.close()
    again = DirSink(tmp_path / "out")
    again.open()
    again.close()


def test_symlink_out_of_the_output_is_refused(tmp_path: Path) -> None:
    """A name that reaches outside the output through a symbolic link is not written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)
    sink = DirSink(out)
    sink.open()
    with pytest.raises(OSError, match="outside"):
        sink.write("link/x.wav", b"data")
    assert list(outside.iterdir()) == []
    sink.close()


def test_zip_sink_builds_from_staged_files_and_reuses_the_previous_zip(tmp_path: Path) -> None:
    """Run 1 zips its staged files; run 2 adds one file and keeps run 1's from the old zip."""
    target = tmp_path / "book.zip"
    first = ZipSink(target)
    assert first.results_path == tmp_path / "book.results.jsonl"
    first.open()
    first.write("a.wav", b"AAAA")
    first.finish([_rec("a.wav", b"AAAA")])
    first.close()
    assert not any(p.is_file() for p in first.staged.rglob("*"))
    second = ZipSink(target)
    second.open()
    assert second.has("a.wav", _sha(b"AAAA"))
    second.write("sub/b.wav", b"BBBB")
    second.finish([_rec("a.wav", b"AAAA"), _rec("sub/b.wav", b"BBBB")])
    second.close()
    with zipfile.ZipFile(target) as zf:
        assert sorted(zf.namelist()) == ["a.wav", "results.jsonl", "sub/b.wav"]
        assert zf.read("a.wav") == b"AAAA"
        assert zf.read("sub/b.wav") == b"BBBB"
        assert len(zf.read("results.jsonl").splitlines()) == 2


def test_zip_sink_refuses_a_name_without_zip_suffix(tmp_path: Path) -> None:
    """--zip must name a .zip file."""
    with pytest.raises(BatchError, match=r"must end in \.zip"):
        ZipSink(tmp_path / "book.tar")
