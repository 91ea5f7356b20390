"""Gate score cache: per-sentence scores of a bundle, so a baseline is scored once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``gate_scores``, unique per (digest, eval set, scorer, sentence)."""
    op.create_table(
        "gate_scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("eval_set_digest", sa.String(64), nullable=False),
        sa.Column("scorer", sa.String(64), nullable=False),
        sa.Column("utterance_id", sa.String(128), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "digest", "eval_set_digest", "scorer", "utterance_id", name="uq_gate_scores_key"
        ),
    )
    op.create_index("ix_gate_scores_digest", "gate_scores", ["digest"])


def downgrade() -> None:
    """Drop ``gate_scores``."""
    op.drop_table("gate_scores")
