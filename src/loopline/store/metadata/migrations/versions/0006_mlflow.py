"""MLflow compatibility: what the MLflow REST API needs beyond loopline's tracking and registry.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the work that owns this revision


def downgrade() -> None:
    pass
