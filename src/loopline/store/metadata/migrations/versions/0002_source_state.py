"""Collect sources remember their state (watermark, cursor, seen files) between collections.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id")),
    )


def downgrade() -> None:
    op.drop_table("source_state")
