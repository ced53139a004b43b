"""Experiment tracking (experiments, run params, tags, latest metrics), the model registry
(models, versions, aliases, every transition), and reads of sealed test sets.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("artifact_location", sa.Text),
        sa.Column("tags_json", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
    )
    # Plain ALTER TABLE ADD COLUMN (no batch rebuild of `runs`, which step_runs references, and
    # no foreign key: SQLite cannot add one without rebuilding the table).
    op.add_column("runs", sa.Column("experiment_id", sa.Integer))
    op.add_column("runs", sa.Column("name", sa.String(250)))
    op.add_column("runs", sa.Column("user", sa.String(200)))
    op.create_index("ix_runs_experiment", "runs", ["experiment_id", "started_at"])
    op.create_table(
        "run_params",
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_run_params_key_value", "run_params", ["key", "value"])
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "metrics_latest",
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_latest_key_value", "metrics_latest", ["key", "value"])
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags_json", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(200), sa.ForeignKey("registered_models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("run_id", sa.String(40)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gates_passed", sa.Boolean),
        sa.Column("gate_report_json", sa.Text),
        sa.Column("metrics_json", sa.Text),
        sa.Column("signature_json", sa.Text),
        sa.Column("card_json", sa.Text),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(200), sa.ForeignKey("registered_models.name"), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("alias", sa.String(64)),
        sa.Column("from_version", sa.Integer),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_model_events_name", "model_events", ["name", "at"])
    op.create_table(
        "test_reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("artifact_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("step_name", sa.String(200), nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_test_reads_artifact", "test_reads", ["artifact_id"])


def downgrade() -> None:
    for table in (
        "test_reads",
        "model_events",
        "model_aliases",
        "model_versions",
        "registered_models",
        "metrics_latest",
        "run_tags",
        "run_params",
    ):
        op.drop_table(table)
    op.drop_index("ix_runs_experiment", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("user")
        batch.drop_column("name")
        batch.drop_column("experiment_id")
    op.drop_table("experiments")
