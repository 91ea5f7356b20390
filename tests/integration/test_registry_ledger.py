"""The ledger on a real SQLite file and a real PostgreSQL cluster: same tests, both backends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg import ledger_url, postgres_server  # noqa: F401 - fixtures

from ttsops.bundle import Manifest
from ttsops.errors import (
    LedgerUnavailableError,
    RegistryError,
    VersionConflictError,
    VersionNotFoundError,
)
from ttsops.registry import DeploymentState, EventKind, Ledger, Stage, Verdict


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:  # noqa: F811 - the imported fixture
    """An open, migrated ledger on a fresh database."""
    with Ledger.open(ledger_url) as opened:
        yield opened


def _variant(manifest: Manifest, version: str, tweak: float = 0.667) -> Manifest:
    """The joe manifest under another version; ``tweak`` changes its content digest."""
    options = {**manifest.engine_options, "noise_scale": tweak}
    return manifest.model_copy(update={"version": version, "engine_options": options})


def _add(ledger: Ledger, manifest: Manifest) -> None:
    ledger.add_version(manifest, manifest_sha256="0" * 64)


def test_migrations_match_models(ledger: Ledger, ledger_url: str) -> None:  # noqa: F811
    """After Ledger.open the database schema is exactly what the SQLAlchemy models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ttsops.registry.db import connect
    from ttsops.registry.models import Base

    engine = connect(ledger_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_open_twice_is_a_no_op(
    ledger: Ledger,
    ledger_url: str,  # noqa: F811
    joe_manifest: Manifest,
) -> None:
    """Opening an up-to-date ledger again keeps its data and migrates nothing."""
    _add(ledger, _variant(joe_manifest, "1.0.0"))
    with Ledger.open(ledger_url) as again:
        assert [v.version for v in again.list_versions()] == ["1.0.0"]


def test_add_version_records_row_and_event(ledger: Ledger, joe_manifest: Manifest) -> None:
    """Registering writes the version with digest, stage and provenance, plus one event."""
    record, created = ledger.add_version(
        _variant(joe_manifest, "1.2.0"), manifest_sha256="a" * 64, actor="ci@runner"
    )
    assert created
    assert record.stage is Stage.PRODUCTION
    assert record.size == sum(f.size for f in joe_manifest.files.values())
    found = ledger.get_version("1.2.0")
    assert found.digest == _variant(joe_manifest, "1.2.0").digest
    assert found.created_at.tzinfo is not None
    [event] = ledger.list_events()
    assert (event.kind, event.actor, event.version) == ("version.registered", "ci@runner", "1.2.0")


def test_dev_versions_are_staging(ledger: Ledger, joe_manifest: Manifest) -> None:
    """A 0.0.0-dev+<sha> candidate is recorded in the staging stage."""
    record, _ = ledger.add_version(
        _variant(joe_manifest, "0.0.0-dev+3f2a1c9"), manifest_sha256="a" * 64
    )
    assert record.stage is Stage.STAGING


def test_identical_version_is_a_no_op(ledger: Ledger, joe_manifest: Manifest) -> None:
    """Adding the same version with the same digest again changes nothing and says so."""
    _add(ledger, _variant(joe_manifest, "1.0.0"))
    record, created = ledger.add_version(_variant(joe_manifest, "1.0.0"), manifest_sha256="b" * 64)
    assert not created
    assert record.manifest_sha256 == "0" * 64
    assert len(ledger.list_events()) == 1


def test_same_version_other_digest_is_refused(ledger: Ledger, joe_manifest: Manifest) -> None:
    """A registered version is immutable: another digest under it is refused naming both."""
    first = _variant(joe_manifest, "1.0.0")
    second = _variant(joe_manifest, "1.0.0", tweak=0.5)
    _add(ledger, first)
    with pytest.raises(VersionConflictError) as err:
        _add(ledger, second)
    assert first.digest[:12] in err.value.message
    assert second.digest[:12] in err.value.message
    assert "Bump the version" in err.value.message
    assert ledger.get_version("1.0.0").digest == first.digest


def test_unknown_version_is_a_clear_error(ledger: Ledger) -> None:
    """Asking for a version that was never registered names it and how to list versions."""
    with pytest.raises(VersionNotFoundError, match=r"version 9\.9\.9 is not registered"):
        ledger.get_version("9.9.9")
    with pytest.raises(VersionNotFoundError):
        ledger.create_deployment("9.9.9", "canary")


def test_live_and_previous_stable(ledger: Ledger, joe_manifest: Manifest) -> None:
    """live_version is the newest live deployment; previous_stable the one live before it."""
    for i, version in enumerate(["1.0.0", "1.1.0", "1.2.0"]):
        _add(ledger, _variant(joe_manifest, version, tweak=0.1 * (i + 1)))
    assert ledger.live_version() is None
    assert ledger.previous_stable() is None
    for version in ["1.0.0", "1.1.0"]:
        deployment = ledger.create_deployment(version, "canary", reason="release")
        ledger.update_deployment_state(deployment.id, DeploymentState.PROGRESSING)
        ledger.update_deployment_state(deployment.id, DeploymentState.LIVE)
    bad = ledger.create_deployment("1.2.0", "canary")
    rolled = ledger.update_deployment_state(
        bad.id, DeploymentState.ROLLED_BACK, reason="p95 latency 2.1x baseline"
    )
    assert rolled.finished_at is not None
    assert rolled.reason == "p95 latency 2.1x baseline"
    assert ledger.live_version() == "1.1.0"
    assert ledger.previous_stable() == "1.0.0"


def test_deployment_transitions_are_logged(ledger: Ledger, joe_manifest: Manifest) -> None:
    """Each state change is persisted with an event naming the old and the new state."""
    _add(ledger, _variant(joe_manifest, "1.0.0"))
    deployment = ledger.create_deployment("1.0.0", "blue-green", actor="agent@host")
    ledger.update_deployment_state(deployment.id, "progressing", actor="agent@host")
    events = ledger.list_events(deployment_id=deployment.id)
    assert [e.kind for e in events] == [EventKind.DEPLOYMENT_STATE, EventKind.DEPLOYMENT_CREATED]
    assert events[0].data == {"from": "pending", "to": "progressing", "reason": None}
    current = ledger.get_deployment(deployment.id)
    assert current is not None
    assert current.state is DeploymentState.PROGRESSING
    assert current.finished_at is None


def test_bad_deployment_updates_are_refused(ledger: Ledger, joe_manifest: Manifest) -> None:
    """An unknown state name or deployment id is refused with the allowed values."""
    _add(ledger, _variant(joe_manifest, "1.0.0"))
    deployment = ledger.create_deployment("1.0.0", "canary")
    with pytest.raises(RegistryError, match="unknown deployment state 'promoted'; use one of"):
        ledger.update_deployment_state(deployment.id, "promoted")
    with pytest.raises(RegistryError, match="there is no deployment #999"):
        ledger.update_deployment_state(999, DeploymentState.LIVE)


def test_gate_reports(ledger: Ledger, joe_manifest: Manifest) -> None:
    """Gate verdicts are stored per version with their summary, newest first."""
    _add(ledger, _variant(joe_manifest, "1.0.0"))
    ledger.record_gate_report("1.0.0", Verdict.FAIL, summary={"wer": 0.4})
    ledger.record_gate_report("1.0.0", "pass", baseline="0.9.0", report_uri="file:///r.json")
    reports = ledger.gate_reports("1.0.0")
    assert [r.verdict for r in reports] == [Verdict.PASS, Verdict.FAIL]
    assert reports[1].summary == {"wer": 0.4}
    assert reports[0].baseline == "0.9.0"
    with pytest.raises(RegistryError, match="unknown verdict 'maybe'"):
        ledger.record_gate_report("1.0.0", "maybe")


def test_events_are_append_only(ledger: Ledger, ledger_url: str) -> None:  # noqa: F811
    """The database itself refuses to change or delete audit-log lines."""
    from ttsops.registry.db import connect

    ledger.append_event(EventKind.NOTE, "maintenance window", data={"ticket": 42})
    engine = connect(ledger_url)
    for statement in ("UPDATE events SET message = 'x'", "DELETE FROM events"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    engine.dispose()
    [event] = ledger.list_events()
    assert (event.message, event.data) == ("maintenance window", {"ticket": 42})


def test_unreachable_postgres_names_the_url() -> None:
    """A PostgreSQL URL nobody listens on fails fast with the URL (password hidden)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://ttsops:s3cret@127.0.0.1:{port}/ledger"
    with pytest.raises(LedgerUnavailableError) as err:
        Ledger.open(url)
    assert f"postgresql+psycopg://ttsops:***@127.0.0.1:{port}/ledger" in err.value.message
    assert "s3cret" not in err.value.message


def test_unusable_sqlite_path_names_the_url(tmp_path: Path) -> None:
    """A SQLite file whose directory cannot be created is a clear error naming the URL."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(LedgerUnavailableError, match=r"cannot open the ledger at sqlite:///"):
        Ledger.open(f"sqlite:///{blocker}/ledger.db")


_RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ttsops.bundle import load_manifest
    from ttsops.errors import VersionConflictError
    from ttsops.registry import Ledger
    url, bundle, tweak, go = sys.argv[1:]
    base = load_manifest(Path(bundle))
    manifest = base.model_copy(update={"version": "2.0.0",
        "engine_options": {**base.engine_options, "noise_scale": float(tweak)}})
    with Ledger.open(url) as ledger:
        Path(f"{go}.ready.{tweak}").touch()
        while not Path(go).exists():
            time.sleep(0.001)
        try:
            ledger.add_version(manifest, manifest_sha256="0" * 64)
        except VersionConflictError as exc:
            print(exc.message)
            sys.exit(3)
    print("registered", manifest.digest)
    """
)


def test_racing_processes_one_wins(
    ledger_url: str,  # noqa: F811
    joe_bundle: Path,
    tmp_path: Path,
) -> None:
    """Two processes adding one version with different digests at once: one wins, one is told."""
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, ledger_url, str(joe_bundle), tweak, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tweak in ("0.1", "0.2")
    ]
    # Let both open (and migrate) the ledger, then release them at the same instant.
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}.ready.{t}").exists() for t in ("0.1", "0.2")):
        assert all(p.poll() is None for p in racers), [p.communicate() for p in racers]
        assert time.monotonic() < deadline, "racers never became ready"
        time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), *p.communicate()) for p in racers]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    winner = next(out for code, out, _ in results if code == 0).split()[1]
    loser = next(out for code, out, _ in results if code == 3)
    assert "already registered with digest" in loser
    with Ledger.open(ledger_url) as ledger:
        assert [(v.version, v.digest) for v in ledger.list_versions()] == [("2.0.0", winner)]
        assert len(ledger.list_events(version="2.0.0")) == 1
