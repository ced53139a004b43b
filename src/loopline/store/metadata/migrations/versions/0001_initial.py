"""The first schema: artifacts and versions, runs, step runs, lineage edges, environments, metrics.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger),
        sa.Column("schema_json", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "environments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("python", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(200), nullable=False),
        sa.Column("loopline", sa.String(32), nullable=False),
        sa.Column("packages_hash", sa.String(64), nullable=False),
        sa.Column("packages_json", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("environment_id", sa.String(64), sa.ForeignKey("environments.id")),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("reproduce_of", sa.String(40)),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("uses", sa.Text, nullable=False),
        sa.Column("bindings_json", sa.Text),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("finished_at", _TS, nullable=False),
    )
    op.create_index("ix_step_runs_fingerprint", "step_runs", ["fingerprint"])
    op.create_index("ix_step_runs_run", "step_runs", ["run_id"])
    op.create_index("ix_step_runs_name", "step_runs", ["name"])
    op.create_table(
        "artifact_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id")),
        sa.Column("original_blob", sa.String(64)),
        sa.Column("original_name", sa.Text),
    )
    op.create_index("ix_artifact_versions_artifact", "artifact_versions", ["artifact_id"])
    op.create_table(
        "step_run_artifacts",
        sa.Column("step_run_id", sa.Integer, sa.ForeignKey("step_runs.id"), primary_key=True),
        sa.Column("role", sa.String(3), primary_key=True),
        sa.Column("slot", sa.String(200), primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
    )
    op.create_index("ix_step_run_artifacts_artifact", "step_run_artifacts", ["artifact_id", "role"])
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step_name", sa.String(200), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run_key", "metrics", ["run_id", "key"])


def downgrade() -> None:
    for table in (
        "metrics",
        "step_run_artifacts",
        "artifact_versions",
        "step_runs",
        "runs",
        "environments",
        "artifacts",
    ):
        op.drop_table(table)
