"""`ttsops release SOURCE`: the version of a bundle directory from git, or a registered one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ttsops.bundle import Source, build_bundle
from ttsops.errors import InvalidVersionError
from ttsops.release import resolve_source

_GIT_ID = ("-c", "user.name=Release Test", "-c", "user.email=release@example.com")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *_GIT_ID, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _bundle(where: Path, version: str = "0.1.0") -> Path:
    model = where.parent / f"{where.name}-model.onnx"
    model.write_bytes(b"not really a model, but bytes with a digest")
    build_bundle(
        where,
        {"model.onnx": model},
        name="joe",
        version=version,
        engine="piper",
        sample_rate=22050,
        languages=("en",),
        voices=("joe",),
        engine_options={"model": "model.onnx"},
        source=Source(trigger="test"),
    )
    return where


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit holding a bundle."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _bundle(root / "bundle")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "a voice")
    return root


def test_a_tagged_commit_gives_the_tag_version(repo: Path) -> None:
    """HEAD tagged v1.2.0: version 1.2.0 from the tag, with the commit's sha."""
    _git(repo, "tag", "v1.2.0")
    found = resolve_source(str(repo / "bundle"))
    assert (found.version, found.tag, found.trigger) == ("1.2.0", "v1.2.0", "tag")
    assert found.git_sha == _git(repo, "rev-parse", "HEAD")
    assert found.bundle_dir == repo / "bundle"
    assert found.manifest_version == "0.1.0" and found.renamed


def test_an_untagged_commit_gives_a_dev_version(repo: Path) -> None:
    """No tag on HEAD: 0.0.0-dev+<short sha>, a staging candidate."""
    found = resolve_source(str(repo / "bundle"))
    assert found.version == f"0.0.0-dev+{_git(repo, 'rev-parse', '--short', 'HEAD')}"
    assert (found.tag, found.version_from, found.trigger) == (None, "git commit", "commit")


def test_version_option_wins_over_git(repo: Path) -> None:
    """--version v2.0.0 is used as 2.0.0 even on a tagged commit."""
    _git(repo, "tag", "v1.2.0")
    found = resolve_source(str(repo / "bundle"), "v2.0.0")
    assert (found.version, found.version_from) == ("2.0.0", "--version")
    assert found.git_sha == _git(repo, "rev-parse", "HEAD")


def test_a_bundle_outside_git_needs_version(tmp_path: Path) -> None:
    """No git work tree and no --version: an error asking for --version."""
    bundle = _bundle(tmp_path / "bundle")
    with pytest.raises(InvalidVersionError, match="pass --version"):
        resolve_source(str(bundle))
    assert resolve_source(str(bundle), "1.0.0").version == "1.0.0"


def test_same_version_as_manifest_is_not_a_rename(tmp_path: Path) -> None:
    """--version equal to the manifest's version is no rename."""
    found = resolve_source(str(_bundle(tmp_path / "b", "1.0.0")), "1.0.0")
    assert not found.renamed


def test_a_version_names_a_registered_version() -> None:
    """SOURCE v1.4.0 (no such directory) is the registered version 1.4.0."""
    found = resolve_source("v1.4.0")
    assert (found.version, found.bundle_dir, found.version_from) == ("1.4.0", None, "registered")


def test_neither_directory_nor_version_is_refused() -> None:
    """SOURCE that is no directory and no version: a message saying what SOURCE may be."""
    with pytest.raises(InvalidVersionError, match="neither a bundle directory"):
        resolve_source("no/such/dir")


def test_version_option_must_match_a_version_source() -> None:
    """--version with a different registered version is refused."""
    with pytest.raises(InvalidVersionError, match="differs from SOURCE"):
        resolve_source("1.4.0", "1.5.0")


_SERVICE_TOML = """name = "glmapp"
languages = ["en-US"]
sample_rate = 22050

[command]
argv = ["python", "app.py"]
files = ["app.py"]

[speech]
protocol = "gradio"
api_name = "/synthesize"
"""


def test_a_service_toml_in_a_tagged_repo_is_a_service_source(repo: Path) -> None:
    """service.toml (the file or its directory) on tag v2.0.0: a service source of 2.0.0."""
    app = repo / "app"
    app.mkdir()
    (app / "service.toml").write_text(_SERVICE_TOML)
    (app / "app.py").write_text("print('hi')\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "the app")
    _git(repo, "tag", "v2.0.0")
    for spec in (app, app / "service.toml"):
        found = resolve_source(str(spec))
        assert (found.version, found.tag, found.service_path) == ("2.0.0", "v2.0.0", spec)
        assert found.bundle_dir is None and found.is_file_source
        assert found.git_sha == _git(repo, "rev-parse", "HEAD")
    named = resolve_source(str(app), "1.1.0")
    assert (named.version, named.version_from, named.renamed) == ("1.1.0", "--version", False)


def test_an_invalid_service_toml_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """A service.toml without a runtime: the manifest error names what is missing."""
    from ttsops.errors import ServiceManifestError

    (tmp_path / "service.toml").write_text('name = "x"\nlanguages = ["en"]\nsample_rate = 1\n')
    with pytest.raises(ServiceManifestError, match="exactly one of"):
        resolve_source(str(tmp_path), "1.0.0")
