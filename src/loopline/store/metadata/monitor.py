"""Monitoring records on SQLAlchemy: each model version's reference profile, the reports written
(the report itself is a json artifact; a row here makes listing them cheap) and the state of
every alert rule per model, which is what de-duplicates alerts across runs and processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loopline.core.errors import NotFound
from loopline.core.types import Artifact
from loopline.store.metadata.artifact_rows import find_artifact, insert_artifact
from loopline.store.metadata.database import Database, HasDatabase, as_database
from loopline.store.metadata.tables import metadata
from loopline.store.metadata.times import as_utc

_TS = sa.DateTime(timezone=True)

monitor_profiles = sa.Table(
    "monitor_profiles",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("source_id", sa.String(64)),  # the training table profiled
    sa.Column("created_at", _TS, nullable=False),
)

monitor_reports = sa.Table(
    "monitor_reports",
    metadata,
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
    sa.Index("ix_monitor_reports_model", "model", "created_at"),
    sa.Index("ix_monitor_reports_artifact", "artifact_id"),
)

monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("rule", sa.String(250), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # firing | ok
    sa.Column("value", sa.Float),
    sa.Column("changed_at", _TS, nullable=False),
    sa.Column("sent_at", _TS),
)


@dataclass(frozen=True)
class ReportRow:
    id: int
    model: str
    version: int | None
    artifact_id: str
    created_at: datetime
    since: datetime | None
    until: datetime | None
    rows: int
    drift_share: float | None
    drifted: bool | None
    alerts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.artifact_id,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": self.rows,
            "drift_share": self.drift_share,
            "drifted": self.drifted,
            "alerts": self.alerts,
        }


def _row(r: Any) -> ReportRow:
    return ReportRow(
        id=r.id,
        model=r.model,
        version=r.version,
        artifact_id=r.artifact_id,
        created_at=as_utc(r.created_at),
        since=as_utc(r.since),
        until=as_utc(r.until),
        rows=r.rows,
        drift_share=r.drift_share,
        drifted=r.drifted,
        alerts=r.alerts,
    )


class MonitoringStore:
    def __init__(self, db: Database | HasDatabase) -> None:
        self._db = as_database(db)

    # -- profiles ----------------------------------------------------------------------------
    def put_profile(self, model: str, version: int, art: Artifact, source_id: str | None) -> None:
        def work(conn: sa.Connection) -> None:
            insert_artifact(conn, art)
            key = (monitor_profiles.c.model == model) & (monitor_profiles.c.version == version)
            conn.execute(sa.delete(monitor_profiles).where(key))
            conn.execute(
                sa.insert(monitor_profiles).values(
                    model=model,
                    version=version,
                    artifact_id=art.id,
                    source_id=source_id,
                    created_at=datetime.now(UTC),
                )
            )

        self._db.write(work, self._db.change("monitor.put_profile", f"{model}@{version}"))

    def profile(self, model: str, version: int) -> Artifact:
        with self._db.read() as conn:
            found = conn.execute(
                sa.select(monitor_profiles.c.artifact_id).where(
                    (monitor_profiles.c.model == model) & (monitor_profiles.c.version == version)
                )
            ).scalar()
        if found is None:
            raise NotFound(
                f"{model} version {version} has no reference profile",
                hint="it is made when a model is registered from a pipeline's training table; "
                "give one with `loopline monitor MODEL --reference TABLE`",
            )
        with self._db.read() as conn:
            return find_artifact(conn, found)

    # -- reports -----------------------------------------------------------------------------
    def add_report(self, art: Artifact, report: dict[str, Any]) -> None:
        window = report["window"]
        drift = report.get("drift") or {}

        def work(conn: sa.Connection) -> None:
            insert_artifact(conn, art)
            conn.execute(
                sa.insert(monitor_reports).values(
                    model=report["model"],
                    version=report["version"],
                    artifact_id=art.id,
                    created_at=datetime.now(UTC),
                    since=datetime.fromisoformat(window["since"]) if window["since"] else None,
                    until=datetime.fromisoformat(window["until"]) if window["until"] else None,
                    rows=window["rows"],
                    drift_share=drift.get("share"),
                    drifted=drift.get("drifted"),
                    alerts=len(report.get("alerts", [])),
                )
            )

        self._db.write(work, self._db.change("monitor.add_report", art.id))

    def reports(self, model: str | None = None, limit: int = 100, offset: int = 0) -> list[ReportRow]:
        """Newest first."""
        query = sa.select(monitor_reports).order_by(monitor_reports.c.id.desc()).offset(offset).limit(limit)
        if model is not None:
            query = query.where(monitor_reports.c.model == model)
        with self._db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def latest_per_model(self, offset: int = 0, limit: int = 100) -> list[tuple[ReportRow, int]]:
        """Each model's newest report and how many it has, models by name (one page of them)."""
        c = monitor_reports.c
        per = (
            sa.select(c.model, sa.func.max(c.id).label("last"), sa.func.count().label("n"))
            .group_by(c.model)
            .order_by(c.model)
            .offset(offset)
            .limit(limit)
            .subquery()
        )
        query = sa.select(monitor_reports, per.c.n).join(per, c.id == per.c.last).order_by(c.model)
        with self._db.read() as conn:
            return [(_row(r), int(r.n)) for r in conn.execute(query)]

    def recent_shares(self, models: Sequence[str], per_model: int = 12) -> dict[str, list[float | None]]:
        """The drift share of each model's last `per_model` reports, oldest first."""
        c = monitor_reports.c
        rank = sa.func.row_number().over(partition_by=c.model, order_by=c.id.desc()).label("k")
        ranked = sa.select(c.model, c.id, c.drift_share, rank).where(c.model.in_(list(models))).subquery()
        query = sa.select(ranked).where(ranked.c.k <= per_model).order_by(ranked.c.model, ranked.c.id)
        found: dict[str, list[float | None]] = {m: [] for m in models}
        with self._db.read() as conn:
            for r in conn.execute(query):
                found[r.model].append(r.drift_share)
        return found

    def timeline(
        self, model: str, since: datetime | None = None, until: datetime | None = None, limit: int = 200
    ) -> list[ReportRow]:
        """A model's last `limit` reports in [since, until), by when their window ended (when
        they were made, for a window open at its end), oldest first."""
        c = monitor_reports.c
        at = sa.func.coalesce(c.until, c.created_at)
        query = (
            sa.select(monitor_reports).where(c.model == model).order_by(at.desc(), c.id.desc()).limit(limit)
        )
        if since is not None:
            query = query.where(at >= since.astimezone(UTC))
        if until is not None:
            query = query.where(at < until.astimezone(UTC))
        with self._db.read() as conn:
            return [_row(r) for r in conn.execute(query)][::-1]

    def report_artifact(self, report_id: str) -> Artifact:
        if len(report_id) < 6:
            raise NotFound(f"no monitoring report {report_id!r}", hint="give at least 6 characters")
        with self._db.read() as conn:
            found = conn.execute(
                sa.select(monitor_reports.c.artifact_id)
                .where(monitor_reports.c.artifact_id.startswith(report_id, autoescape=True))
                .limit(1)
            ).scalar()
        if found is None:
            raise NotFound(f"no monitoring report {report_id!r}", hint="`loopline monitor MODEL` writes one")
        with self._db.read() as conn:
            return find_artifact(conn, found)

    # -- alert state -------------------------------------------------------------------------
    def alert_states(self, model: str) -> dict[str, str]:
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(monitor_alerts.c.rule, monitor_alerts.c.state).where(
                    monitor_alerts.c.model == model
                )
            ).all()
        return {r.rule: r.state for r in rows}

    def set_alert_state(self, model: str, rule: str, state: str, value: float | None, *, sent: bool) -> None:
        now = datetime.now(UTC)

        def work(conn: sa.Connection) -> None:
            key = (monitor_alerts.c.model == model) & (monitor_alerts.c.rule == rule)
            conn.execute(sa.delete(monitor_alerts).where(key))
            conn.execute(
                sa.insert(monitor_alerts).values(
                    model=model,
                    rule=rule,
                    state=state,
                    value=value,
                    changed_at=now,
                    sent_at=now if sent else None,
                )
            )

        self._db.write(work, self._db.change("monitor.set_alert_state", f"{model}:{rule}"))

    def alerts(self, models: Sequence[str] | None = None) -> list[dict[str, Any]]:
        query = sa.select(monitor_alerts).order_by(monitor_alerts.c.model, monitor_alerts.c.rule)
        if models is not None:
            query = query.where(monitor_alerts.c.model.in_(list(models)))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "model": r.model,
                "rule": r.rule,
                "state": r.state,
                "value": r.value,
                "changed_at": as_utc(r.changed_at).isoformat(),
            }
            for r in rows
        ]
