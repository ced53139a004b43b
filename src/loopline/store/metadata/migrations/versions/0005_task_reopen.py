"""A task can be reopened for review: `extra` answers wanted beyond the project's overlap.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("label_tasks", sa.Column("extra", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("label_tasks") as batch:
        batch.drop_column("extra")
