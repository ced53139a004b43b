"""MetadataStore: datasets, artifacts, pipeline runs and lineage, on SQLite or PostgreSQL.

It owns the Database (database.py) and builds the other repositories on it (`annotations`,
`tracking`, `users`), so every write of every repository takes the same retried, journalled path.
The rows it writes and reads on a connection are in artifact_rows.py, step_rows.py and sealing.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from loopline.core.errors import Conflict, NotFound, StorageError
from loopline.core.types import Artifact, Environment, Run, StepRun
from loopline.store.metadata import engine as engines
from loopline.store.metadata import sealing
from loopline.store.metadata.artifact_rows import (
    blob_references,
    dangling_references,
    find_artifact,
    insert_artifact,
    latest_of_each,
    latest_row,
    next_version,
    versions_query,
)
from loopline.store.metadata.database import Change, Database, Journal
from loopline.store.metadata.migrations import HEAD_REVISION
from loopline.store.metadata.peek import to_artifact, to_run
from loopline.store.metadata.step_rows import insert_step_run, linked, load_step_runs
from loopline.store.metadata.tables import (
    PARENT_TAG,
    artifact_versions,
    artifacts,
    environments,
    metrics,
    run_tags,
    runs,
    step_runs,
)
from loopline.store.metadata.tables import source_state as source_states
from loopline.store.metadata.times import as_utc, utc_now

if TYPE_CHECKING:
    # Built lazily by the properties below: a one-way edge, the repositories never import this.
    from loopline.store.metadata.annotations import SqlAnnotationRepository
    from loopline.store.metadata.experiments import TrackingStore
    from loopline.store.metadata.gc import GcReport
    from loopline.store.metadata.lifecycle import LifecycleStore
    from loopline.store.metadata.users import SqlUserRepository


class MetadataStore:
    def __init__(
        self, url: str, *, create: bool = True, actor: str = "unknown", journal: Journal | None = None
    ) -> None:
        self.url = url
        try:
            engine = engines.create_engine(url)
            revision = engines.current_revision(engine)
            if revision != HEAD_REVISION:
                if revision is None and not create:
                    raise NotFound(
                        "no loopline metadata database here", where=url, hint="run `loopline init`"
                    )
                engines.upgrade(engine)
        except sa.exc.OperationalError as exc:
            shown = sa.engine.make_url(url).render_as_string(hide_password=True)
            raise StorageError(
                f"cannot open the metadata store: {str(exc.orig).strip()}",
                where=shown,
                hint="check that the database server is up and the URL is right (`store:` in "
                "loopline.yaml, or LOOPLINE_STORE); nothing was changed, so the command can be run again",
            ) from exc
        self.database = Database(engine, url, actor=actor, journal=journal)

    def close(self) -> None:
        self.database.engine.dispose()

    @property
    def annotations(self) -> SqlAnnotationRepository:
        """Labeling projects, the task queue and answers, on this store's engine."""
        from loopline.store.metadata.annotations import SqlAnnotationRepository

        return SqlAnnotationRepository(self.database)

    def blob_holders(self, digest: str) -> list[tuple[str, str]]:
        """(resource kind, name) of the objects that hold a blob (store/metadata/holders.py)."""
        from loopline.store.metadata.holders import blob_holders

        return blob_holders(self.database, digest)

    @property
    def lifecycle(self) -> LifecycleStore:
        """Delete, restore and rename of experiments, runs and logged models (lifecycle.py)."""
        from loopline.store.metadata.lifecycle import LifecycleStore

        return LifecycleStore(self.database)

    def gc(self, before: datetime, *, dry_run: bool = False) -> GcReport:
        """Remove for good what was deleted at or before `before` (gc.py)."""
        from loopline.store.metadata.gc import GarbageCollector

        return GarbageCollector(self.database).collect(before, dry_run=dry_run)

    @property
    def tracking(self) -> TrackingStore:
        """Experiments, tracked runs, params, tags, metric history and run search."""
        from loopline.store.metadata.experiments import TrackingStore

        return TrackingStore(self.database)

    @property
    def users(self) -> SqlUserRepository:
        """Users, tokens, sign-in sessions and grants."""
        from loopline.store.metadata.users import SqlUserRepository

        return SqlUserRepository(self.database)

    # -- artifacts ---------------------------------------------------------------------------
    def add_version(
        self,
        name: str,
        art: Artifact,
        *,
        source: str,
        original_blob: str | None = None,
        original_name: str | None = None,
    ) -> int | None:
        """Record art as the next version of name; None when it is already the latest."""

        def work(conn: sa.Connection) -> int | None:
            insert_artifact(conn, art)
            return next_version(
                conn,
                name,
                art.id,
                source=source,
                original_blob=original_blob,
                original_name=original_name,
            )

        def change(made: int | None) -> Change:
            obj = name if made is None else f"{name}@{made}"
            return self.database.change(
                "dataset.add_version", obj, after={"artifact": art.id, "version": made}
            )

        return self.database.write(work, change)

    def revert(self, name: str, version: int) -> tuple[int | None, int, bool]:
        """Make the content of `name@version` the next version of name, in one transaction:
        (new version, or None when it is the latest content already; the latest version before;
        whether a collect source's state was forgotten). Artifacts are content-addressed, so the
        new version is a row pointing at the same artifact, no blob is copied.

        A collect source named `name` forgets its state (files seen, watermark, cursor): the state
        described the version it last made, and would keep the next collection from reading again
        what is no longer in the reverted version; the next collection re-reads the source and
        adds, each once, the items the reverted version lacks."""
        target = self.get_version(name, version)  # NotFound: no such name or version

        def work(conn: sa.Connection) -> tuple[int | None, int, bool]:
            latest = latest_row(conn, name)
            assert latest is not None  # get_version found name above
            note = f"revert: {name}@{latest.version} to {name}@{version}"
            made = next_version(
                conn,
                name,
                target.id,
                source=note,
                original_blob=target.original_blob,  # a checkout gives the bytes as added
                original_name=target.original_name,
            )
            if made is None:
                return None, latest.version, False
            reset = conn.execute(source_states.delete().where(source_states.c.name == name)).rowcount
            return made, latest.version, bool(reset)

        return self.database.write(
            work,
            lambda made: self.database.change(
                "dataset.revert", f"{name}@{version}", after={"artifact": target.id, "version": made[0]}
            ),
        )

    def get_version(self, name: str, version: int | None = None) -> Artifact:
        query = versions_query().where(artifact_versions.c.name == name)
        if version is None:
            query = query.order_by(artifact_versions.c.version.desc()).limit(1)
        else:
            query = query.where(artifact_versions.c.version == version)
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            known = self.versions(name)
            if not known:
                raise NotFound(f"no artifact named {name!r}", hint="`loopline datasets` lists them")
            raise NotFound(
                f"{name} has no version {version}",
                hint=f"versions are 1 to {known[-1].version}",
            )
        return to_artifact(row)

    def latest_version(self, name: str) -> Artifact | None:
        try:
            return self.get_version(name)
        except NotFound:
            return None

    def versions(self, name: str) -> list[Artifact]:
        query = versions_query().where(artifact_versions.c.name == name).order_by(artifact_versions.c.version)
        with self.database.read() as conn:
            return [to_artifact(row) for row in conn.execute(query)]

    def datasets(self) -> list[tuple[Artifact, int]]:
        """Latest version of every name, with the number of versions."""
        with self.database.read() as conn:
            return latest_of_each(conn)

    def get_artifact(self, id_or_prefix: str) -> Artifact:
        with self.database.read() as conn:
            return find_artifact(conn, id_or_prefix)

    def get_artifacts(self, ids: Sequence[str]) -> dict[str, Artifact]:
        with self.database.read() as conn:
            rows = conn.execute(sa.select(artifacts).where(artifacts.c.id.in_(list(ids))))
            return {r.id: to_artifact(r, versioned=False) for r in rows}

    def all_artifacts(self) -> list[Artifact]:
        with self.database.read() as conn:
            return [to_artifact(r, versioned=False) for r in conn.execute(sa.select(artifacts))]

    def blob_references(self) -> list[tuple[str, str]]:
        """(what refers, blob key) for every blob the metadata points at: artifacts (and the
        files as added), MLflow artifact files and served prediction batches."""
        from loopline.store.metadata.mlflow_models import mlflow_artifacts
        from loopline.store.metadata.predictions import prediction_batches

        with self.database.read() as conn:
            refs = blob_references(conn)
            refs += [(f"MLflow artifact {r.path}", r.blob) for r in conn.execute(sa.select(mlflow_artifacts))]
            batches = sa.select(prediction_batches.c.key, prediction_batches.c.blob)
            refs += [(f"prediction batch {r.key[:12]}", r.blob) for r in conn.execute(batches)]
            return refs

    def dangling_references(self) -> list[str]:
        """Rows that point to a row that does not exist."""
        with self.database.read() as conn:
            return dangling_references(conn)

    # -- runs --------------------------------------------------------------------------------
    def put_environment(self, env: Environment) -> None:
        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(environments.c.id).where(environments.c.id == env.id)).first():
                return
            conn.execute(
                environments.insert().values(
                    id=env.id,
                    python=env.python,
                    platform=env.platform,
                    loopline=env.loopline,
                    packages_hash=env.packages_hash,
                    packages_json=json.dumps(env.packages, sort_keys=True),
                )
            )

        self.database.write(work, self.database.change("environment.put", env.id))

    def get_environment(self, env_id: str) -> Environment:
        with self.database.read() as conn:
            row = conn.execute(sa.select(environments).where(environments.c.id == env_id)).first()
        if row is None:
            raise NotFound(f"no environment {env_id[:12]}")
        return Environment(
            id=row.id,
            python=row.python,
            platform=row.platform,
            loopline=row.loopline,
            packages_hash=row.packages_hash,
            packages=json.loads(row.packages_json),
        )

    def create_run(self, run: Run) -> None:
        self.database.write(
            lambda conn: conn.execute(
                runs.insert().values(
                    id=run.id,
                    status=run.status,
                    started_at=as_utc(run.started_at),
                    executor=run.executor,
                    environment_id=run.environment_id,
                    git_commit=run.git_commit,
                    git_dirty=run.git_dirty,
                    reproduce_of=run.reproduce_of,
                    host=run.host,
                    pid=run.pid,
                )
            ),
            self.database.change("run.create", run.id),
        )

    def mark_interrupted(self, host: str, alive: Callable[[int], bool]) -> int:
        """Runs still "running" on this host whose process is gone were killed: say so."""
        with self.database.read() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, runs.c.pid).where(runs.c.status == "running", runs.c.host == host)
            ).all()
        dead = [r.id for r in rows if r.pid is not None and not alive(r.pid)]
        if dead:
            self.database.write(
                lambda conn: conn.execute(
                    runs.update()
                    .where(runs.c.id.in_(dead), runs.c.status == "running")
                    .values(status="interrupted", finished_at=utc_now())
                ),
                self.database.change("run.interrupt", ",".join(dead)),
            )
        return len(dead)

    def finish_run(self, run_id: str, status: str) -> None:
        self.database.write(
            lambda conn: conn.execute(
                runs.update().where(runs.c.id == run_id).values(status=status, finished_at=utc_now())
            ),
            self.database.change("run.finish", run_id),
        )

    def record_step_run(
        self,
        step: StepRun,
        produced: Sequence[Artifact],
        *,
        version: bool = True,
        source_state: tuple[str, dict[str, Any]] | None = None,
    ) -> int:
        """One transaction: the step run, its new artifacts, lineage edges, output versions and,
        for a collection, the source's new state (so state never runs ahead of the data)."""
        return self.database.write(
            lambda conn: insert_step_run(conn, step, produced, version=version, source_state=source_state),
            self.database.change("step.record", f"{step.run_id}/{step.name}"),
        )

    def source_state(self, name: str) -> dict[str, Any]:
        """What a collect source saved at its last collection ({} before the first)."""
        with self.database.read() as conn:
            row = conn.execute(
                sa.select(source_states.c.state_json).where(source_states.c.name == name)
            ).first()
        return json.loads(row.state_json) if row else {}

    def log_metrics(
        self, run_id: str, step_name: str, values: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """History and latest values in one transaction (see tracking.py)."""
        self.tracking.log_batch(run_id, values, step_name=step_name)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        with self.database.read() as conn:
            rows = conn.execute(sa.select(metrics).where(metrics.c.run_id == run_id).order_by(metrics.c.id))
            return [{"step_name": r.step_name, "key": r.key, "value": r.value, "step": r.step} for r in rows]

    def find_cached(self, fingerprint: str) -> dict[str, str] | None:
        """Outputs of the latest successful execution with this fingerprint."""
        with self.database.read() as conn:
            found = load_step_runs(
                conn,
                sa.select(step_runs)
                .where(step_runs.c.fingerprint == fingerprint, step_runs.c.status == "ran")
                .order_by(step_runs.c.id.desc())
                .limit(1),
            )
        return found[0].outputs if found else None

    def latest_step_runs(self) -> dict[str, StepRun]:
        """The latest ran-or-cached execution of each step name."""
        latest = (
            sa.select(sa.func.max(step_runs.c.id))
            .where(step_runs.c.status.in_(["ran", "cached"]))
            .group_by(step_runs.c.name)
        )
        with self.database.read() as conn:
            found = load_step_runs(conn, sa.select(step_runs).where(step_runs.c.id.in_(latest)))
        return {s.name: s for s in found}

    def get_run(self, run_id: str) -> Run:
        with self.database.read() as conn:
            # the whole id by its key first; a prefix (LIKE, no index) only when that finds none
            rows = (
                conn.execute(sa.select(runs).where(runs.c.id == run_id)).all()
                or conn.execute(
                    sa.select(runs).where(runs.c.id.startswith(run_id, autoescape=True)).limit(2)
                ).all()
            )
            if len(rows) > 1:
                raise Conflict(f"run id prefix {run_id!r} is ambiguous", hint="give more characters")
            if not rows:
                raise NotFound(f"no run {run_id!r}", hint="`loopline runs` lists them")
            steps = load_step_runs(
                conn,
                sa.select(step_runs).where(step_runs.c.run_id == rows[0].id).order_by(step_runs.c.id),
            )
        return to_run(rows[0], steps)

    def list_runs(
        self, limit: int = 50, *, top_level: bool = False, offset: int = 0, status: str | None = None
    ) -> list[Run]:
        """Newest first; with `top_level`, not the runs nested under another (tuning trials);
        `offset` and `status` page and filter in SQL (the server's list of pipeline runs). A
        deleted run (MLflow's delete_run, `loopline gc` removes it for good) is in no listing."""
        query = sa.select(runs).where(runs.c.lifecycle == "active")
        if top_level:
            nested = sa.select(run_tags.c.run_id).where(run_tags.c.key == PARENT_TAG)
            query = query.where(runs.c.id.not_in(nested))
        if status is not None:
            query = query.where(runs.c.status == status)
        query = query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit).offset(offset)
        with self.database.read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            steps = load_step_runs(
                conn,
                sa.select(step_runs).where(step_runs.c.run_id.in_(ids)).order_by(step_runs.c.id),
            )
        by_run: dict[str, list[StepRun]] = {}
        for step in steps:
            by_run.setdefault(step.run_id, []).append(step)
        return [to_run(r, by_run.get(r.id, [])) for r in rows]

    def count_runs(self) -> int:
        with self.database.read() as conn:
            active = sa.select(sa.func.count()).select_from(runs).where(runs.c.lifecycle == "active")
            return int(conn.execute(active).scalar_one())

    def producers(self, artifact_id: str) -> list[StepRun]:
        """Step runs that produced this artifact by running (not by cache hit), earliest first."""
        with self.database.read() as conn:
            return linked(conn, artifact_id, "out", ("ran",))

    # -- sealed test sets (sealing.py) -------------------------------------------------------
    def sealed_artifacts(self, ids: Sequence[str]) -> set[str]:
        """Those of `ids` a step produced as a sealed output (a test split)."""
        return sealing.sealed_artifacts(self.database, ids)

    def record_test_read(self, artifact_id: str, run_id: str, step_name: str) -> None:
        sealing.record_read(self.database, artifact_id, run_id, step_name)

    def test_reads(self, artifact_id: str) -> int:
        """How many times a step has read this sealed artifact."""
        return sealing.count_reads(self.database, artifact_id)

    def test_read_log(self, artifact_id: str) -> list[dict[str, Any]]:
        """Every read of this sealed artifact: {run_id, step, at}, oldest first."""
        return sealing.reads(self.database, artifact_id)

    def consumers(self, artifact_id: str, statuses: Sequence[str] = ("ran",)) -> list[StepRun]:
        """Step runs that read this artifact (by default those that ran), earliest first."""
        with self.database.read() as conn:
            return linked(conn, artifact_id, "in", statuses)
