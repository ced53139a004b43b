"""MLflow parity round two: deleted (and restorable) runs, registered models and versions, the
time an experiment was deleted, metrics logged against an MLflow 3 logged model, and a run's
output models.

A deleted thing keeps its rows (and its audit events) with `lifecycle = 'deleted'` and the time
in `deleted_at` until `loopline gc` removes it for good, as `mlflow gc` does.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_LIFECYCLE = ("runs", "registered_models", "model_versions", "mlflow_logged_models")


def upgrade() -> None:
    for table in _LIFECYCLE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"))
            batch.add_column(sa.Column("deleted_at", _TS))
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("deleted_at", _TS))
    op.create_table(
        "mlflow_model_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(40), nullable=False),
        sa.Column("run_id", sa.String(40)),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float),  # NULL: NaN
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(64)),
    )
    op.create_index("ix_mlflow_model_metrics_model", "mlflow_model_metrics", ["model_id", "key"])
    op.create_table(
        "mlflow_run_outputs",
        sa.Column("run_id", sa.String(40), primary_key=True),
        sa.Column("model_id", sa.String(40), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mlflow_run_outputs")
    op.drop_table("mlflow_model_metrics")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("deleted_at")
    for table in _LIFECYCLE:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("deleted_at")
            batch.drop_column("lifecycle")
