"""The bundle format: manifest validation, digests and verification."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from ttsops.bundle import MANIFEST_NAME, Manifest, load_manifest, verify_bundle
from ttsops.errors import DigestMismatchError, ManifestError


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(bundle, out)
    return out


def _rewrite(bundle: Path, **changes: object) -> None:
    path = bundle / MANIFEST_NAME
    data = tomllib.loads(path.read_text())
    data.update(changes)
    path.write_text(tomli_w.dumps(data))


def test_default_bundle_is_joe_1_0_0(joe_manifest: Manifest) -> None:
    """The default bundle is the Piper joe voice at 22.05 kHz, version 1.0.0."""
    assert (joe_manifest.name, joe_manifest.version) == ("joe", "1.0.0")
    assert joe_manifest.engine == "piper"
    assert joe_manifest.sample_rate == 22050
    assert joe_manifest.voices == ("joe",)
    assert "en_US-joe-medium.onnx" in joe_manifest.files


def test_verify_passes_on_an_untouched_bundle(joe_bundle: Path) -> None:
    """Verification of the bundle as made succeeds."""
    assert verify_bundle(joe_bundle).digest == load_manifest(joe_bundle).digest


def test_tampered_file_is_named(joe_bundle: Path, tmp_path: Path) -> None:
    """A changed model file is refused with its name and both digests in the message."""
    bundle = _copy(joe_bundle, tmp_path)
    with (bundle / "en_US-joe-medium.onnx.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(DigestMismatchError, match=r"en_US-joe-medium\.onnx\.json has sha256"):
        verify_bundle(bundle)


def test_missing_file_is_named(joe_bundle: Path, tmp_path: Path) -> None:
    """A listed file that is gone is refused by name."""
    bundle = _copy(joe_bundle, tmp_path)
    (bundle / "en_US-joe-medium.onnx.json").unlink()
    with pytest.raises(DigestMismatchError, match="is missing"):
        verify_bundle(bundle)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "1.2"}, "not a semantic version"),
        ({"engine": "nosuch"}, "unknown engine 'nosuch'"),
        ({"name": "Joe Voice"}, "must be lowercase"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"voices": []}, "voices"),
    ],
)
def test_invalid_manifest_says_what_is_wrong(
    joe_bundle: Path, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    """Each invalid manifest field is refused with a message naming it."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    shutil.copy(joe_bundle / MANIFEST_NAME, bundle / MANIFEST_NAME)
    _rewrite(bundle, **changes)
    with pytest.raises(ManifestError, match=message):
        load_manifest(bundle)


def test_tag_style_version_is_accepted_without_v(joe_bundle: Path, tmp_path: Path) -> None:
    """A version written as a tag (v1.4.0) is stored as 1.4.0."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    shutil.copy(joe_bundle / MANIFEST_NAME, bundle / MANIFEST_NAME)
    _rewrite(bundle, version="v1.4.0")
    assert load_manifest(bundle).version == "1.4.0"


def test_not_a_bundle(tmp_path: Path) -> None:
    """A directory without bundle.toml is refused with how to make one."""
    with pytest.raises(ManifestError, match=r"bundle\.toml is missing"):
        load_manifest(tmp_path)


def test_digest_ignores_version_but_not_files(joe_manifest: Manifest) -> None:
    """The content digest is the same under another version and changes with a file."""
    data = joe_manifest.model_dump()
    relabelled = Manifest.model_validate({**data, "version": "9.9.9"})
    assert relabelled.digest == joe_manifest.digest
    files = dict(data["files"])
    files["en_US-joe-medium.onnx"] = {"sha256": "0" * 64, "size": 1}
    changed = Manifest.model_validate({**data, "files": files})
    assert changed.digest != joe_manifest.digest
