"""SQL source (`type: sql`): the reading lives in loopline.store.sqlsource (SQLAlchemy stays in
store/); this adapter adds item ids and provenance and builds the Batch."""

from __future__ import annotations

import polars as pl

from loopline.collect import Batch, CollectContext
from loopline.collect.merge import unseen, with_provenance
from loopline.collect.spec import SourceSpec
from loopline.store import sqlsource

validate = sqlsource.validate


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    rows = sqlsource.read(spec, root=ctx.root, state=ctx.state)
    table = with_provenance(
        rows.frame,
        source=spec.name,
        origins=pl.Series(rows.origins, dtype=pl.String),
        collected_at=ctx.collected_at,
        run_id=ctx.run_id,
        key=spec.key,
    )
    return Batch(table=table, state=rows.state, report={**rows.report, "new": unseen(table, ctx.previous)})
