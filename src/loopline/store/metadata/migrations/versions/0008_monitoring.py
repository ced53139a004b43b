"""Monitoring: reference profiles, reports and alert state.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_profiles",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("source_id", sa.String(64)),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("since", _TS),
        sa.Column("until", _TS),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("drift_share", sa.Float),
        sa.Column("drifted", sa.Boolean),
        sa.Column("alerts", sa.Integer, nullable=False),
    )
    op.create_index("ix_monitor_reports_model", "monitor_reports", ["model", "created_at"])
    op.create_index("ix_monitor_reports_artifact", "monitor_reports", ["artifact_id"])
    op.create_table(
        "monitor_alerts",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("rule", sa.String(250), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("sent_at", _TS),
    )


def downgrade() -> None:
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_reports_artifact", table_name="monitor_reports")
    op.drop_index("ix_monitor_reports_model", table_name="monitor_reports")
    op.drop_table("monitor_reports")
    op.drop_table("monitor_profiles")
