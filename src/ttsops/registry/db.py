"""Connecting to the ledger database and bringing its schema to the newest Alembic revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from ttsops.errors import LedgerUnavailableError

__all__ = ["MIGRATIONS_DIR", "SCHEMA_HEAD", "check", "connect", "migrate", "safe_url"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
"""Alembic ``script_location``: inside the package, so it ships with it."""

SCHEMA_HEAD = "0003"
"""The newest revision in ``migrations/versions`` (a test keeps them equal); when the
database is already there, opening the ledger does not even import Alembic."""

_MIGRATION_LOCK = 0x7474_736F_7073  # "ttsops": PostgreSQL advisory lock key for migrations


def safe_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def _unavailable(url: str | URL, exc: BaseException) -> LedgerUnavailableError:
    reason = getattr(exc, "orig", None) or exc
    first_line = (
        str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    )
    return LedgerUnavailableError(
        f"cannot open the ledger at {safe_url(url)}: {first_line}; check TTSOPS_LEDGER_URL "
        "(or ledger_url in ttsops.toml) and that the database is running"
    )


def connect(url: str) -> Engine:
    """An engine for ``url``: SQLite (with serialised write transactions) or PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerUnavailableError(
            f"ledger URL {url!r} is not a database URL; use sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None
    kwargs: dict[str, Any] = {}
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["connect_args"] = {"connect_timeout": 5}
        kwargs["pool_pre_ping"] = True
    elif backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unavailable(parsed, exc) from None
        kwargs["connect_args"] = {"timeout": 30}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as exc:
        raise LedgerUnavailableError(
            f"ledger URL {safe_url(parsed)} needs a database driver that is not installed ({exc}); "
            "for PostgreSQL install ttsops[postgres] (psycopg)"
        ) from None
    except ModuleNotFoundError as exc:
        raise LedgerUnavailableError(
            f"ledger URL {safe_url(parsed)} needs the module {exc.name}, which is not installed; "
            "for PostgreSQL install ttsops[postgres] (psycopg)"
        ) from None
    if backend == "sqlite":
        _serialise_sqlite(engine)
    return engine


def _serialise_sqlite(engine: Engine) -> None:
    """Let SQLAlchemy own BEGIN, and make it ``BEGIN IMMEDIATE``.

    pysqlite's own transaction handling starts transactions late and commits DDL on its
    own; taking the write lock at BEGIN makes every ledger transaction serialisable
    across processes and makes migrations atomic.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision; safe when several processes open at once."""
    try:
        with engine.connect() as conn:
            if _current_revision(conn) == SCHEMA_HEAD:
                return
    except DBAPIError as exc:
        raise _unavailable(engine.url, exc) from None
    _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as conn, conn.begin():
            if _current_revision(conn) != head:
                # Serialise migrators: SQLite's BEGIN IMMEDIATE already holds the write
                # lock; PostgreSQL takes a transaction-scoped advisory lock.
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    except DBAPIError as exc:
        raise _unavailable(engine.url, exc) from None
    except CommandError as exc:
        raise LedgerUnavailableError(
            f"ledger at {safe_url(engine.url)} has a schema this ttsops does not know ({exc}); "
            "upgrade ttsops to the version that wrote it"
        ) from None


def check(engine: Engine) -> None:
    """Open one connection, raising ``LedgerUnavailableError`` naming the URL if that fails."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise _unavailable(engine.url, exc) from None
