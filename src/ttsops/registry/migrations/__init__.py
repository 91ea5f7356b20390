"""Alembic migrations of the ledger; ``Ledger.open`` applies them, so they ship in the package."""
