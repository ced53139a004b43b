"""Serving: the prediction log's batch index (`prediction_batches`: one row per Parquet blob of
predictions) and ground truth posted later by request id (`prediction_truths`).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_prediction_batches_model_time", "prediction_batches", ["model", "last_at"])
    op.create_table(
        "prediction_truths",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("truth_json", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_prediction_truths_model_at", "prediction_truths", ["model", "at"])


def downgrade() -> None:
    op.drop_index("ix_prediction_truths_model_at", table_name="prediction_truths")
    op.drop_table("prediction_truths")
    op.drop_index("ix_prediction_batches_model_time", table_name="prediction_batches")
    op.drop_table("prediction_batches")
