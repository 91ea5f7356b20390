"""Container images of versions: the reference and content id of each build.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``images``: one row per image built of a version."""
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.String(128), sa.ForeignKey("versions.version"), nullable=False),
        sa.Column("reference", sa.String(300), nullable=False),
        sa.Column("image_id", sa.String(80), nullable=False),
        sa.Column("model", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_images_version", "images", ["version"])


def downgrade() -> None:
    """Drop ``images``."""
    op.drop_table("images")
