"""A task can be reopened for review (`extra` answers wanted beyond the project's overlap), and
an answer records the suggestion shown with it (`annotations.suggestion_json`).

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
    op.add_column("annotations", sa.Column("suggestion_json", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("suggestion_json")
    with op.batch_alter_table("label_tasks") as batch:
        batch.drop_column("extra")
