"""MLflow compatibility: MLflow 3 logged models, the path -> blob index of proxied artifacts, a
model version's MLflow source and tags; metric values become nullable (NULL is MLflow's NaN).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mlflow_logged_models",
        sa.Column("model_id", sa.String(40), primary_key=True),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("source_run_id", sa.String(40)),
        sa.Column("model_type", sa.String(100)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("tags_json", sa.Text, nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_mlflow_logged_models_experiment", "mlflow_logged_models", ["experiment_id", "created_at"]
    )
    op.create_table(
        "mlflow_artifacts",
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "mlflow_model_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(40)),
        sa.Column("tags_json", sa.Text, nullable=False),
    )
    # SQLite cannot drop NOT NULL in place: batch mode rebuilds the two tables (nothing
    # references them); PostgreSQL alters the column.
    for table in ("metrics", "metrics_latest"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("value", existing_type=sa.Float, nullable=True)


def downgrade() -> None:
    for table in ("metrics", "metrics_latest"):
        op.execute(f"DELETE FROM {table} WHERE value IS NULL")
        with op.batch_alter_table(table) as batch:
            batch.alter_column("value", existing_type=sa.Float, nullable=False)
    for table in ("mlflow_model_versions", "mlflow_artifacts", "mlflow_logged_models"):
        op.drop_table(table)
