"""The prediction log's index and ground truth, on SQLAlchemy (SQLite and PostgreSQL).

Predictions themselves are not rows here: each flushed batch of one model version is a Parquet
blob in the blob store, and `prediction_batches` indexes it (model, version, time span, rows).
Reading a model's window is then one index query and a few Parquet reads, not ten thousand SQL
rows per model (the fleet target reads 1,000 models x 10,000 rows). A batch's `key` is a hash of
its request ids, so a batch written again after an ambiguous failure (the commit reached the
database, the answer did not) is recognised and not counted twice.

Ground truth arrives later and per request: one row per (model, request id), the latest wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.tables import metadata
from loopline.store.metadata.times import as_aware, as_utc
from loopline.store.metadata.upserts import insert_ignore, upsert

prediction_batches = sa.Table(
    "prediction_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("blob", sa.String(64), nullable=False),
    sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_prediction_batches_model_time", "model", "last_at"),
)

prediction_truths = sa.Table(
    "prediction_truths",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("truth_json", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_prediction_truths_model_at", "model", "at"),
)


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One indexed batch: where its Parquet blob is and what span of time it covers."""

    key: str
    model: str
    version: int
    first_at: datetime
    last_at: datetime
    rows: int
    blob: str


class SqlPredictionIndex:
    """Records of the prediction log on the project's metadata store."""

    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    @property
    def _dialect(self) -> str:
        return self._db.dialect

    def add_batches(self, batches: Sequence[BatchRow]) -> int:
        """Index batches in one transaction; a key already there is skipped. Returns rows added."""
        if not batches:
            return 0
        now = datetime.now(UTC)
        values = [
            {
                "key": b.key,
                "model": b.model,
                "version": b.version,
                "first_at": as_utc(b.first_at),
                "last_at": as_utc(b.last_at),
                "rows": b.rows,
                "blob": b.blob,
                "written_at": now,
            }
            for b in batches
        ]
        stmt = insert_ignore(self._dialect, prediction_batches, ["key"])

        def work(conn: sa.Connection) -> int:
            result = conn.execute(stmt, values)
            return max(int(result.rowcount or 0), 0)

        return self._db.write(
            work, self._db.change("predictions.add_batches", ",".join(sorted({b.model for b in batches})))
        )

    def batches(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        version: int | None = None,
    ) -> list[BatchRow]:
        """The batches of a model that may hold rows in [since, until), oldest first."""
        t = prediction_batches
        query = sa.select(
            t.c.key, t.c.model, t.c.version, t.c.first_at, t.c.last_at, t.c.rows, t.c.blob
        ).where(t.c.model == model)
        if since is not None:
            query = query.where(t.c.last_at >= as_utc(since))
        if until is not None:
            query = query.where(t.c.first_at < as_utc(until))
        if version is not None:
            query = query.where(t.c.version == version)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(t.c.first_at, t.c.id)).all()
        return [
            BatchRow(r.key, r.model, r.version, as_aware(r.first_at), as_aware(r.last_at), r.rows, r.blob)
            for r in rows
        ]

    def models(self) -> list[str]:
        with self._db.read() as conn:
            query = sa.select(prediction_batches.c.model).distinct().order_by(prediction_batches.c.model)
            return [r[0] for r in conn.execute(query)]

    def put_truths(self, model: str, truths: Mapping[str, str], at: datetime) -> int:
        """Truth per request id (already JSON text); a later post for the same id replaces it."""
        if not truths:
            return 0
        values = [
            {"model": model, "request_id": rid, "truth_json": text, "at": as_utc(at)}
            for rid, text in truths.items()
        ]
        stmt = upsert(self._dialect, prediction_truths, ["model", "request_id"], ["truth_json", "at"])

        def work(conn: sa.Connection) -> int:
            for start in range(0, len(values), 5000):
                conn.execute(stmt, values[start : start + 5000])
            return len(values)

        return self._db.write(work, self._db.change("predictions.put_truths", model))

    def truths(
        self, model: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[str, str, datetime]]:
        t = prediction_truths
        query = sa.select(t.c.request_id, t.c.truth_json, t.c.at).where(t.c.model == model)
        if since is not None:
            query = query.where(t.c.at >= as_utc(since))
        if until is not None:
            query = query.where(t.c.at < as_utc(until))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(t.c.at, t.c.request_id)).all()
        return [(r.request_id, r.truth_json, as_aware(r.at)) for r in rows]
