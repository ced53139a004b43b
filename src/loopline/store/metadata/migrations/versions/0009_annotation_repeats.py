"""An annotator may answer one task more than once (imported crowd data keeps its repeats):
`annotations.nth` numbers an annotator's answers to a task (0 the first), and the unique key is
(task, annotator, nth) instead of (task, annotator). The queue still takes one answer per
annotator and task; only `annotate import --duplicates keep` stores repeats.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("nth", sa.Integer, nullable=False, server_default="0"))
        batch.drop_constraint("uq_annotations_task_annotator", type_="unique")
        batch.create_unique_constraint("uq_annotations_task_annotator_nth", ["task_id", "annotator", "nth"])


def downgrade() -> None:
    op.execute("DELETE FROM annotations WHERE nth > 0")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_constraint("uq_annotations_task_annotator_nth", type_="unique")
        batch.create_unique_constraint("uq_annotations_task_annotator", ["task_id", "annotator"])
        batch.drop_column("nth")
