"""Labeling: projects on a dataset version, one task per item, annotators (a token hash, never the
token), leases of tasks to annotators, their answers and skips.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "label_projects",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("dataset_version", sa.Integer, nullable=False),
        sa.Column("artifact_id", sa.String(64), nullable=False),
        sa.Column("task_type", sa.String(32), nullable=False),
        sa.Column("labels_json", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("overlap", sa.Integer, nullable=False),
        sa.Column("gold_share", sa.Float, nullable=False),
        sa.Column("annotator_limit", sa.Integer),
        sa.Column("lease_seconds", sa.Integer, nullable=False),
        sa.Column("text_field", sa.String(200)),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "label_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), sa.ForeignKey("label_projects.name"), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("data_json", sa.Text, nullable=False),
        sa.Column("priority", sa.Float, nullable=False),
        sa.Column("is_gold", sa.Boolean, nullable=False),
        sa.Column("gold_json", sa.Text),
        sa.Column("suggestion_json", sa.Text),
        sa.Column("suggestion_source", sa.String(16)),
        sa.Column("done", sa.Integer, nullable=False),
        sa.UniqueConstraint("project", "item_id", name="uq_label_tasks_item"),
    )
    op.create_index("ix_label_tasks_queue", "label_tasks", ["project", "is_gold", "done", "priority"])
    op.create_table(
        "annotators",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "label_leases",
        sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), primary_key=True),
        sa.Column("annotator", sa.String(200), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_label_leases_annotator", "label_leases", ["project", "annotator"])
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("label_json", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("task_id", "annotator", name="uq_annotations_task_annotator"),
    )
    op.create_index("ix_annotations_project", "annotations", ["project", "annotator"])
    op.create_table(
        "label_skips",
        sa.Column("task_id", sa.Integer, sa.ForeignKey("label_tasks.id"), primary_key=True),
        sa.Column("annotator", sa.String(200), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "label_skips",
        "annotations",
        "label_leases",
        "annotators",
        "label_tasks",
        "label_projects",
    ):
        op.drop_table(table)
