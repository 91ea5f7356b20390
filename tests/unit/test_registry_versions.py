"""Version strings, stages, state names and the registry's public surface (pure, in-process)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

import ttsops.registry
from ttsops.errors import InvalidVersionError
from ttsops.registry import DeploymentState, Stage, VersionRecord, normalize_version, stage_of
from ttsops.registry.db import safe_url
from ttsops.registry.versions import dev_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.0", "1.2.0"),
        ("v1.2.0", "1.2.0"),
        (" v10.0.3 ", "10.0.3"),
        ("0.0.0-dev+3f2a1c9", "0.0.0-dev+3f2a1c9"),
        ("2.0.0-rc.1", "2.0.0-rc.1"),
    ],
)
def test_versions_accept_an_optional_v(text: str, expected: str) -> None:
    """1.2.0 and v1.2.0 name the same version."""
    assert normalize_version(text) == expected


@pytest.mark.parametrize("text", ["1.2", "latest", "v1", "1.2.0.4", ""])
def test_non_semver_versions_are_refused(text: str) -> None:
    """Anything that is not MAJOR.MINOR.PATCH is refused with an example of a good one."""
    with pytest.raises(InvalidVersionError, match=r"is not a semantic version; use MAJOR\.MINOR"):
        normalize_version(text)


def test_tags_are_production_and_dev_builds_staging() -> None:
    """A release version is production; an untagged commit's candidate is staging."""
    assert stage_of("1.4.0") is Stage.PRODUCTION
    assert dev_version("3f2a1c9") == "0.0.0-dev+3f2a1c9"
    assert stage_of(dev_version("3f2a1c9")) is Stage.STAGING


def test_only_pending_and_progressing_deployments_are_unfinished() -> None:
    """Every state but pending and progressing is terminal."""
    unfinished = {s for s in DeploymentState if not s.terminal}
    assert unfinished == {DeploymentState.PENDING, DeploymentState.PROGRESSING}


def test_version_record_lists_every_blob_it_needs() -> None:
    """A version needs the blob of each file plus its manifest blob."""
    record = VersionRecord(
        version="1.0.0",
        name="joe",
        digest="d" * 64,
        manifest={"files": {"m.onnx": {"sha256": "a" * 64, "size": 1}}},
        manifest_sha256="b" * 64,
        size=1,
        git_sha=None,
        trigger="manual",
        stage=Stage.PRODUCTION,
        parent=None,
        created_at=datetime.now(UTC),
    )
    assert record.blobs == {"m.onnx": "a" * 64, "bundle.toml": "b" * 64}


def test_database_urls_in_messages_hide_the_password() -> None:
    """A ledger URL shown to a user never contains its password."""
    assert safe_url("postgresql://ttsops:s3cret@db:5432/ledger") == (
        "postgresql://ttsops:***@db:5432/ledger"
    )


def test_public_names_match_all() -> None:
    """ttsops.registry exports exactly what its __all__ says."""
    public = {
        name
        for name, value in vars(ttsops.registry).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == set(ttsops.registry.__all__)


def test_schema_head_constant_is_the_newest_migration() -> None:
    """The revision the ledger's fast path expects is the newest Alembic revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from ttsops.registry.db import MIGRATIONS_DIR, SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
