"""A throwaway PostgreSQL cluster for ledger tests, and a ledger URL fixture over both backends.

Import the fixtures into a test module (``from pg import ledger_url, postgres_server``).
The cluster is made with the distribution's ``initdb``/``pg_ctl`` in a temp dir, listens
on 127.0.0.1 and a free port, runs as ``postgres`` when the tests run as root, and is
stopped at the end of the session. Tests that need it are skipped, saying why, only
when the server binaries are not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["ledger_url", "pg_bindir", "postgres_server"]


def pg_bindir() -> Path | None:
    """Newest ``/usr/lib/postgresql/<major>/bin`` that has initdb and pg_ctl, if any."""
    found = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (p.parent / "pg_ctl").is_file()
    ]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """A running throwaway cluster: yields (host, port); superuser ``postgres``, trust auth."""
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under "
            "/usr/lib/postgresql/*/bin; install the postgresql package (scripts/system-deps.sh)"
        )
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="ttsops-pg-"))
    if as_root:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            server_log = log.read_text() if log.is_file() else ""
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{server_log}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(
        str(bindir / "pg_ctl"),
        *("-D", str(data), "-l", str(log), "-w", "-t", "60"),
        *("-o", f"-h 127.0.0.1 -p {port} -k {root} -F"),
        "start",
    )
    try:
        yield "127.0.0.1", port
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _create_database(host: str, port: int) -> str:
    import psycopg

    name = f"ledger_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger database URL: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    host, port = request.getfixturevalue("postgres_server")
    return f"postgresql://postgres@{host}:{port}/{_create_database(host, port)}"
