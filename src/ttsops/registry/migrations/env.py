"""Alembic environment: runs on the connection ``Ledger.open`` passes in (or on sqlalchemy.url)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ttsops.registry.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    # Ledger.open already began a transaction (and took the migration lock) on it.
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic -x ...` by hand, e.g. to autogenerate a new revision
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
