"""The Project facade: settings and stores wired into the pipeline and stages. The CLI and the
server each make one call here per command or request."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from loopline.core.errors import ConfigError, InvalidInput, NotFound
from loopline.core.ids import ArtifactRef
from loopline.core.settings import PROJECT_FILE, STATE_DIR, Settings
from loopline.core.types import Artifact, Environment, Run
from loopline.datasets.snapshot import AddResult
from loopline.pipeline.config import ProjectFile, build_pipeline, read_project_file
from loopline.pipeline.dag import Pipeline
from loopline.pipeline.lineage import Node
from loopline.pipeline.runner import Comparison, EventHandler, Runner, StepState
from loopline.store.blobs import FsspecBlobStore
from loopline.store.files import atomic_write_text
from loopline.store.fsck import FsckReport
from loopline.store.metadata import MetadataStore

if TYPE_CHECKING:
    from datetime import datetime

    from loopline.annotate.records import Annotation, Annotator, LabelProject, Lease, Source
    from loopline.core.tracking import Experiment, MetricPoint, TrackedRun
    from loopline.pipeline.label_automation import LabelAutomation
    from loopline.pipeline.labeling import Labeling
    from loopline.pipeline.monitoring import Monitoring
    from loopline.pipeline.tracking import ActiveRun
    from loopline.registry import ModelEvent, ModelVersion, RegisteredModel, Registry, VersionRef
    from loopline.store.metadata.mlflow import MlflowStore
    from loopline.store.predictions import PredictionLog

_TEMPLATE = """\
# loopline project. Steps: `uses: module:function`, imported from this folder.
steps: {}
"""


def _no_events(kind: str, name: str, details: dict[str, Any]) -> None:
    pass


class Project:
    def __init__(self, file: ProjectFile, environ: dict[str, str] | None = None) -> None:
        self.file = file
        self.root = file.path.parent
        self.settings = Settings.build(
            self.root, file.project, environ if environ is not None else dict(os.environ)
        )

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: Path, *, store: str | None = None, blobs: str | None = None) -> Project:
        directory = directory.absolute()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / PROJECT_FILE
        if not path.exists():
            project = {k: v for k, v in (("store", store), ("blobs", blobs)) if v}
            text = _TEMPLATE if not project else yaml.safe_dump({"project": project}) + _TEMPLATE
            atomic_write_text(path, text)
        elif store or blobs:
            raise InvalidInput(f"{path} exists already", hint="edit its `project:` section instead")
        (directory / STATE_DIR).mkdir(exist_ok=True)
        gitignore = directory / STATE_DIR / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("*\n")
        project = cls(read_project_file(path))
        project.meta  # creates and migrates the metadata database  # noqa: B018
        project.blobs  # noqa: B018
        return project

    @classmethod
    def open(cls, directory: Path | None = None) -> Project:
        start = (directory or Path.cwd()).absolute()
        for folder in (start, *start.parents):
            if (folder / PROJECT_FILE).exists():
                return cls(read_project_file(folder / PROJECT_FILE))
        raise NotFound(f"no {PROJECT_FILE} in {start} or above", hint="run `loopline init` first")

    @cached_property
    def meta(self) -> MetadataStore:
        return MetadataStore(self.settings.store_url)

    @cached_property
    def blobs(self) -> FsspecBlobStore:
        return FsspecBlobStore(self.settings.blobs_url)

    @cached_property
    def runner(self) -> Runner:
        return Runner(self.meta, self.blobs, self.root, self.settings.stat_cache)

    def close(self) -> None:
        if "meta" in self.__dict__:
            self.meta.close()

    # -- pipelines ----------------------------------------------------------------------------
    def pipeline(self) -> Pipeline:
        pipeline = build_pipeline(self.file)
        if not pipeline.steps:
            raise ConfigError(
                "the project declares no steps",
                where=str(self.file.path),
                hint="add a step under `steps:` (see README)",
            )
        return pipeline

    def run(
        self,
        pipeline: Pipeline | None = None,
        *,
        targets: Sequence[str] = (),
        executor: str = "local",
        jobs: int = 1,
        dask_address: str | None = None,
        use_cache: bool = True,
        on_event: EventHandler = _no_events,
    ) -> Run:
        from loopline.pipeline.executors import make_executor

        pipeline = pipeline or self.pipeline()
        self.runner.external_inputs(pipeline, pipeline.select(targets))  # bad input: fail before any executor
        runner_executor = make_executor(executor, jobs, dask_address)
        try:
            return self.runner.run(
                pipeline,
                runner_executor,
                targets=targets,
                use_cache=use_cache,
                blobs_url=self.settings.blobs_url,
                on_event=on_event,
            )
        finally:
            runner_executor.close()

    def collect(self, sources: Sequence[str] = (), *, pipeline: Pipeline | None = None) -> Run:
        """Run the collect sources (all, or those named) and nothing else."""
        pipeline = pipeline or build_pipeline(self.file)
        declared = [n for n, s in pipeline.steps.items() if s.collects is not None]
        if not declared:
            raise ConfigError(
                "the project declares no sources",
                where=str(self.file.path),
                hint="add a `sources:` section (see README)",
            )
        targets = [f"collect.{name}" for name in sources] or declared
        unknown = [t for t in targets if t not in declared]
        if unknown:
            raise NotFound(
                f"no source named {unknown[0][len('collect.') :]!r}",
                hint=f"sources: {', '.join(d[len('collect.') :] for d in declared)}",
            )
        return self.run(pipeline, targets=targets)

    def status(self, pipeline: Pipeline | None = None) -> list[StepState]:
        return self.runner.status(pipeline or self.pipeline())

    def reproduce(
        self,
        run_id: str,
        *,
        executor: str = "local",
        jobs: int = 1,
        dask_address: str | None = None,
        on_event: EventHandler = _no_events,
    ) -> tuple[Run, Run, list[Comparison]]:
        from loopline.pipeline.executors import make_executor

        try:
            pipeline: Pipeline | None = self.pipeline()
        except ConfigError:
            pipeline = None  # reproduce by the recorded import paths
        runner_executor = make_executor(executor, jobs, dask_address)
        try:
            return self.runner.reproduce(
                run_id,
                pipeline,
                runner_executor,
                blobs_url=self.settings.blobs_url,
                on_event=on_event,
            )
        finally:
            runner_executor.close()

    def runs(self, limit: int = 50) -> list[Run]:
        self.runner.mark_interrupted()
        return self.meta.list_runs(limit)

    def show(self, run_id: str) -> Run:
        self.runner.mark_interrupted()
        return self.meta.get_run(run_id)

    def environment(self, env_id: str) -> Environment:
        return self.meta.get_environment(env_id)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self.meta.metrics(run_id)

    # -- experiment tracking (store/metadata/tracking.py) -------------------------------------
    def start_run(self, experiment: str | None = None, name: str | None = None, **options: Any) -> ActiveRun:
        """A tracked run to log to: `with project.start_run("exp", "name") as run:`; options:
        tags, user, flush_every, flush_seconds."""
        from loopline.pipeline.tracking import start_run

        return start_run(self.meta.tracking, experiment, name, **options)

    def experiments(self) -> list[Experiment]:
        return self.meta.tracking.list_experiments()

    def search_runs(
        self,
        filters: Sequence[str] = (),
        *,
        order_by: str | None = None,
        descending: bool | None = None,
        experiment: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[TrackedRun]:
        """Runs matching filters like `metrics.f1>0.9`, `params.C=1`, `tags.team=x`, sorted by
        `metrics.f1`, `params.C` or `start_time` (missing values last)."""
        from loopline.core.tracking import parse_filter, parse_order

        tracking = self.meta.tracking
        self.runner.mark_interrupted()
        return tracking.search_runs(
            experiment_ids=[tracking.get_experiment_by_name(experiment).id] if experiment else None,
            filters=[f for text in filters for f in parse_filter(text)],
            order_by=[parse_order(order_by, descending)] if order_by else [],
            limit=limit,
            offset=offset,
        )

    def tracked_run(self, run_id: str) -> TrackedRun:
        return self.meta.tracking.get_run(run_id)

    def compare(self, run_a: str, run_b: str) -> dict[str, Any]:
        return self.meta.tracking.compare(run_a, run_b)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.meta.tracking.metric_history(run_id, key)

    # -- artifacts ----------------------------------------------------------------------------
    def resolve(self, ref: str) -> Artifact:
        parsed = ArtifactRef.parse(ref)
        if parsed.id_prefix:
            try:
                return self.meta.get_artifact(parsed.id_prefix)
            except NotFound:
                if self.meta.latest_version(parsed.id_prefix) is None:
                    raise
                return self.meta.get_version(parsed.id_prefix)
        assert parsed.name is not None
        return self.meta.get_version(parsed.name, parsed.version)

    def load(self, ref: str) -> Any:
        from loopline.store.artifacts import load_value

        return load_value(self.blobs, self.resolve(ref))

    def lineage(self, ref: str) -> tuple[Artifact, Node, Node]:
        from loopline.pipeline.lineage import lineage

        artifact = self.resolve(ref)
        ancestors, descendants = lineage(self.meta, artifact)
        return artifact, ancestors, descendants

    # -- evaluate: model cards and sealed test sets (pipeline/evaluation.py) --------------------
    def model_card(self, ref: str) -> dict[str, Any]:
        """The card of a model artifact (its latest evaluation) or of an evaluation report."""
        from loopline.pipeline.evaluation import gather_card

        return gather_card(self.meta, self.blobs, self.resolve(ref))

    def sealed_reads(self, run: Run) -> list[dict[str, Any]]:
        """The sealed test sets a run's steps read, each with its read count in all runs."""
        from loopline.pipeline.evaluation import sealed_reads

        return sealed_reads(self.meta, run.steps)

    def test_reads(self, ref: str) -> int:
        return self.meta.test_reads(self.resolve(ref).id)

    # -- data versioning ----------------------------------------------------------------------
    def add(self, path: Path, name: str) -> AddResult:
        from loopline.datasets.snapshot import add_path
        from loopline.store.statcache import StatCache

        cache = StatCache(self.settings.stat_cache)
        try:
            return add_path(path, name, self.meta, self.blobs, cache)
        finally:
            cache.close()

    def datasets(self) -> list[tuple[Artifact, int]]:
        return self.meta.datasets()

    def versions(self, name: str) -> list[Artifact]:
        found = self.meta.versions(name)
        if not found:
            raise NotFound(f"no dataset named {name!r}", hint="`loopline datasets` lists them")
        return found

    def diff(self, a: str, b: str, key: Sequence[str] = ()) -> dict[str, Any]:
        from loopline.datasets.compare import diff_blobsets, diff_tables
        from loopline.store.artifacts import load_manifest, load_table

        old, new = self.resolve(a), self.resolve(b)
        if old.name != new.name:
            raise InvalidInput(
                f"{a} and {b} are versions of different datasets ({old.name} and {new.name})",
                hint=f"compare two versions of one name, e.g. {old.name}@1 {old.name}@2",
            )
        if old.kind != new.kind or old.kind == "json":
            raise InvalidInput(
                f"cannot diff a {old.kind} with a {new.kind}",
                hint="diff works on tables and blob sets",
            )
        header = {
            "name": old.name,
            "old": {"version": old.version, "id": old.id},
            "new": {"version": new.version, "id": new.id},
        }
        if old.kind == "blobs":
            return header | diff_blobsets(load_manifest(self.blobs, old), load_manifest(self.blobs, new))
        return header | diff_tables(
            load_table(self.blobs, old), load_table(self.blobs, new), list(key) or None
        )

    def checkout(self, ref: str, directory: Path) -> list[Path]:
        """Write a version out: the bytes as added for a file, every file for a folder."""
        from loopline.store.artifacts import load_manifest

        art = self.resolve(ref)
        directory = directory.absolute()
        written: list[Path] = []
        if art.kind == "blobs":
            for entry in load_manifest(self.blobs, art):
                target = (directory / entry.path).resolve()
                if not target.is_relative_to(directory.resolve()):
                    raise InvalidInput(f"manifest path {entry.path!r} escapes the target folder")
                self.blobs.export(entry.blob, target)
                written.append(target)
        elif art.original_blob and art.original_name:
            target = directory / art.original_name
            self.blobs.export(art.original_blob, target)
            written.append(target)
        else:
            suffix = {"table": ".parquet", "model": ".skops"}.get(art.kind, ".json")
            target = directory / f"{art.name or art.id[:12]}{suffix}"
            self.blobs.export(art.blob, target)
            written.append(target)
        return written

    def fsck(self, *, repair: bool = False) -> FsckReport:
        from loopline.store.fsck import fsck

        return fsck(self.meta, self.blobs, repair=repair)

    # -- serve: the prediction log and serving (loopline.serve) ---------------------------------
    @cached_property
    def predictions(self) -> PredictionLog:
        """Served predictions and their ground truth (serve writes, monitor reads)."""
        from loopline.store.predictions import PredictionLog

        return PredictionLog(self.meta, self.blobs)

    def serving_app(self, model: str | None = None, alias: str = "production", **options: Any) -> Any:
        """The ASGI app serving a registered model (the only one when model is None) and
        following its alias; predictions go to `predictions`. options: canary, canary_share,
        shadow, max_body_bytes, poll_seconds, flush_seconds, log_predictions."""
        from loopline.serve.wiring import build_serving_app

        log = self.predictions if options.pop("log_predictions", True) else None
        spool = self.root / STATE_DIR / "spool" / "predictions"
        return build_serving_app(self.registry, log, spool, model, alias, **options)

    def score(self, model: str, dataset_ref: str, alias: str | None = None, **options: Any) -> dict[str, Any]:
        """Score a dataset with a registered model (the alias's version; production, else the
        latest) into a table artifact; options: output, executor, partitions, dask_address, keys."""
        from loopline.pipeline.scoring import score_dataset

        dataset = self.resolve(dataset_ref)
        return score_dataset(self.runner, self.registry, model, dataset, ref=alias, **options)

    # -- registry: model versions, aliases, promotion policy (loopline.registry) -----------------
    @cached_property
    def registry(self) -> Registry:
        from loopline.registry import Policy, Registry

        policy = Policy.from_config(self.file.registry, self.file.where("registry"))
        return Registry(self.meta, self.blobs, policy, self.settings.user)

    def register(
        self,
        name: str,
        artifact_ref: str,
        *,
        run_id: str | None = None,
        evaluation: str | None = None,
        **details: Any,
    ) -> ModelVersion:
        """The model artifact as version N+1 of name. The source run defaults to the run whose
        step made the artifact; gates_passed and the gate
        report come from `evaluation` (an evaluate step's report) or else from the latest
        evaluate step that read the model (loopline.pipeline.evaluation.gate_result); the metrics
        default to what the steps that made or read the model logged in that run; details:
        metrics, signature, description, gates_passed, gate_report, card, reason."""
        from loopline.pipeline.evaluation import gate_result

        art = self.resolve(artifact_ref)
        if "gates_passed" not in details:
            gated = gate_result(self.meta, self.blobs, art, self.resolve(evaluation) if evaluation else None)
            if gated is not None:
                details["gates_passed"], details["gate_report"] = gated
        made_by = self.meta.producers(art.id)
        run_id = self.meta.get_run(run_id).id if run_id else (made_by[0].run_id if made_by else None)
        if "metrics" not in details and run_id:  # what the steps that made or read the model logged
            about = {s.name for s in made_by} | {s.name for s in self.meta.consumers(art.id)}
            details["metrics"] = {
                m["key"]: m["value"] for m in self.meta.metrics(run_id) if m["step_name"] in about
            }
        if "signature" not in details and made_by:
            tables = self.meta.get_artifacts(list(made_by[0].inputs.values())).values()
            schema = {k: v for t in tables if t.kind == "table" for k, v in (t.schema or {}).items()}
            details["table_schema"] = schema
        version = self.registry.register(name, art, run_id=run_id, **details)
        try:  # the reference monitoring compares with, made once from the training table
            self.monitoring.profile_registered(version, made_by[0] if made_by else None)
        except Exception as exc:  # the version is registered; monitoring will ask for a profile
            logging.getLogger("loopline.monitor").warning("no reference profile for %s: %s", name, exc)
        return version

    def models(self) -> list[RegisteredModel]:
        return self.registry.models()

    def model(self, name: str, ref: VersionRef = None) -> ModelVersion:
        """A version by number or alias (the latest when ref is None)."""
        return self.registry.resolve(name, ref)

    def load_model(self, name: str, ref: VersionRef = "production") -> Any:
        return self.registry.load(name, ref)

    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]:
        return self.registry.promote(name, version, alias, reason)

    def approve(self, name: str, version: int, alias: str, reason: str = "") -> ModelEvent:
        return self.registry.approve(name, version, alias, reason)

    def rollback(self, name: str, alias: str = "production", reason: str = "") -> dict[str, Any]:
        return self.registry.rollback(name, alias, reason)

    def model_history(self, name: str) -> list[ModelEvent]:
        return self.registry.history(name)

    @cached_property
    def mlflow(self) -> MlflowStore:
        """What the MLflow REST API keeps beyond tracking and the registry (server/mlflow/)."""
        from loopline.store.metadata.mlflow import MlflowStore

        return MlflowStore(self.meta)

    # -- the loop (pipeline/loop.py) ------------------------------------------------------------
    def loop_turn(self, since: datetime | None = None) -> dict[str, Any]:
        """One turn by the `loop:` policy: watch, collect, queue, label, retrain, gate, promote."""
        from loopline.pipeline.loop import LoopPolicy, turn

        return turn(self, LoopPolicy.parse(self.file.loop, self.file.where), since=since)

    # -- monitor: drift, quality, performance, alerts (pipeline/monitoring.py) ----------------
    @cached_property
    def monitoring(self) -> Monitoring:
        from loopline.monitor import MonitorConfig
        from loopline.pipeline.monitoring import Monitoring

        config = MonitorConfig.from_config(self.file.monitor, self.file.where("monitor"))
        return Monitoring(self.meta, self.blobs, self.registry, lambda: self.predictions, config)

    def monitor(
        self,
        model: str,
        *,
        alias: str | None = "production",
        since: datetime | None = None,
        until: datetime | None = None,
        data: Any = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """A monitoring report of the model at alias over a window of its prediction log (or of
        `data`: a DataFrame or a .parquet/.csv path), stored as an artifact; alerts fired.
        `reference`: a table to profile as the version's reference first."""
        if reference is not None:
            table = self.resolve(reference)
            version = self.monitoring.version(model, alias)
            self.monitoring.profile_table(version, self.load(table.id), source_id=table.id, target=None)
        data = Path(data) if isinstance(data, str) else data
        return self.monitoring.run(model, alias=alias, since=since, until=until, data=data)

    def monitor_fleet(self, *, executor: str = "local", **window: Any) -> list[dict[str, Any]]:
        """Monitor every model in the prediction log (executor local or dask); window: alias,
        since, until."""
        from functools import partial

        from loopline.pipeline.monitoring import fleet

        return fleet(self.predictions.models(), partial(Project.open, self.root), executor=executor, **window)

    def monitor_reports(self, model: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.monitoring.store.reports(model, limit)]

    def monitor_report(self, report_id: str) -> dict[str, Any]:
        """A stored monitoring report by id (or a prefix of at least 6 characters)."""
        return self.monitoring.report(report_id)

    # -- clean: validation and export -------------------------------------------------------
    def validate(self, ref: str) -> dict[str, Any]:
        """Check a table against its `expectations:` in loopline.yaml; the report says if it
        passed. Mistakes in the expectations are found on the recorded schema, before any read."""
        from loopline.clean import evaluate, parse_expectations

        art = self.resolve(ref)
        name = art.name or ArtifactRef.parse(ref).name or ref
        where = self.file.where(f"expectations.{name}")
        spec = self.file.expectations.get(name)
        if spec is None:
            raise ConfigError(
                f"no expectations for dataset {name!r}",
                where=str(self.file.path),
                hint=f"add `expectations: {{{name}: {{threshold: 0.0, checks: [...]}}}}` (see README)",
            )
        if not isinstance(spec, dict) or not set(spec) <= {"threshold", "checks"} or "checks" not in spec:
            raise ConfigError(
                f"expectations of {name!r} must be {{threshold: SHARE, checks: [...]}}", where=where
            )
        if art.kind != "table":
            raise InvalidInput(f"{ref} is a {art.kind}, not a table", hint="expectations check tables")
        threshold = spec.get("threshold", 0.0)
        try:
            parse_expectations(spec["checks"], art.schema)
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not 0 <= threshold <= 1
            ):
                raise ConfigError(f"threshold must be a share between 0 and 1, got {threshold!r}")
        except ConfigError as exc:
            raise ConfigError(f"expectations of {name!r}: {exc.message}", where=where, hint=exc.hint) from exc
        report = evaluate(self.load(art.id), spec["checks"], threshold)
        return {"dataset": name, "version": art.version, "id": art.id} | report

    def export(self, ref: str, path: Path, fmt: str | None = None) -> tuple[Artifact, Path]:
        """Write a table to Parquet, CSV or JSON Lines (from the suffix unless `fmt` says),
        atomically: a temp file beside the target, fsync, rename."""
        from loopline.store.files import atomic_write

        formats = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
        fmt = fmt or formats.get(path.suffix.lower())
        if fmt not in ("parquet", "csv", "jsonl"):
            raise InvalidInput(
                f"cannot tell the format of {path}", hint="use a .parquet, .csv or .jsonl name, or --format"
            )
        art = self.resolve(ref)
        if art.kind != "table":
            raise InvalidInput(
                f"{ref} is a {art.kind}, not a table", hint="`loopline checkout` writes blob sets"
            )
        frame = self.load(art.id)
        writers = {
            "parquet": lambda handle: frame.write_parquet(handle, compression="zstd"),
            "csv": frame.write_csv,
            "jsonl": frame.write_ndjson,
        }
        return art, atomic_write(path, writers[fmt])

    # -- annotate: labeling projects (the queue's contract: annotate/records.py) ---------------
    @cached_property
    def labeling(self) -> Labeling:
        from loopline.pipeline.labeling import Labeling

        return Labeling(self.meta, self.blobs, self.runner)

    def annotate_create(
        self, name: str, dataset_ref: str, labels: Sequence[str], **options: Any
    ) -> tuple[LabelProject, int]:
        """A labeling project on a dataset version, one task per item; options: task_type,
        overlap, gold_share, instructions, annotator_limit, lease_seconds, text_field."""
        return self.labeling.create(name, self.resolve(dataset_ref), labels=list(labels), **options)

    def annotate_extend(self, name: str, dataset_ref: str) -> int:
        """Queue the items of a newer dataset version that have no task yet."""
        return self.labeling.extend(name, self.resolve(dataset_ref))

    def annotate_projects(self) -> list[LabelProject]:
        return self.meta.annotations.list_projects()

    def annotator_add(self, name: str, role: str = "annotator") -> tuple[Annotator, str]:
        """The annotator and its token: shown once, only its hash is stored."""
        return self.labeling.add_annotator(name, role)  # type: ignore[arg-type]

    def annotator_for_token(self, token: str) -> Annotator:
        from loopline.pipeline.labeling import token_hash

        return self.meta.annotations.annotator_by_token(token_hash(token))

    def next_task(self, project: str, annotator: str, now: datetime | None = None) -> Lease | None:
        return self.meta.annotations.next_task(project, annotator, now or _utcnow())

    def submit(
        self,
        project: str,
        task_id: int,
        annotator: str,
        label: Any,
        seconds: float = 0.0,
        *,
        source: Source = "human",
        now: datetime | None = None,
    ) -> Annotation:
        repo = self.meta.annotations
        return repo.submit(project, task_id, annotator, label, seconds, now or _utcnow(), source)

    def skip(self, project: str, task_id: int, annotator: str, now: datetime | None = None) -> None:
        self.meta.annotations.skip(project, task_id, annotator, now or _utcnow())

    def annotate_status(self, name: str) -> dict[str, Any]:
        return self.labeling.status(name)

    def annotate_gold(self, name: str, path: Path, fmt: str | None = None) -> int:
        return self.labeling.gold_file(name, path, fmt)

    def annotate_import(self, name: str, path: Path, fmt: str | None = None) -> dict[str, int]:
        return self.labeling.import_file(name, path, fmt)

    def annotate_export(self, name: str, path: Path, fmt: str | None = None) -> tuple[Path, int]:
        return self.labeling.export_file(name, path, fmt)

    def aggregate(
        self, name: str, method: str = "dawid_skene", policy: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write the labels artifact `<name>_labels` (lineage: dataset and answers snapshot)."""
        return self.labeling.aggregate(name, method, policy)

    def agreement(self, name: str) -> dict[str, Any]:
        return self.labeling.agreement(name)

    # -- annotate: label errors, pre-labels, active learning (pipeline/label_automation.py) ----
    def annotate_review(self, name: str, features: Any = None, **options: Any) -> dict[str, Any]:
        """Likely label errors (cleanlab, cross-validated) first in the queue, the model's label
        as their suggestion. features: a table ref, a table or an array (None: the task rows);
        options: columns, method, model, cv, seed, suggest."""
        return self._automation.review(name, self._features(features), **options)

    def annotate_prelabel(
        self, name: str, model: Any, features: Any = None, **options: Any
    ) -> dict[str, Any]:
        """A model's labels as suggestions (source "model"). model: an estimator, a registered
        model `NAME[@VERSION|ALIAS]`, or a .skops file; options: columns, min_confidence."""
        return self._automation.prelabel(name, self._model(model), self._features(features), **options)

    def annotate_prioritize(
        self, name: str, model: Any = None, features: Any = None, **options: Any
    ) -> dict[str, Any]:
        """Active learning: the open tasks ranked by uncertainty (options: proba, strategy,
        diversity, k, seed, columns) so the queue serves the most useful first."""
        model = None if model is None else self._model(model)
        return self._automation.prioritize(name, model, self._features(features), **options)

    @cached_property
    def _automation(self) -> LabelAutomation:
        from loopline.pipeline.label_automation import LabelAutomation

        meta = self.meta
        return LabelAutomation(meta.annotations, lambda aid: list(meta.get_artifact(aid).schema or {}))

    def _features(self, features: Any) -> Any:
        return self.load(features) if isinstance(features, str) else features

    def _model(self, model: Any) -> Any:
        if not isinstance(model, str | Path):
            return model
        if str(model).endswith(".skops"):  # a file, for now: loaded safely (no pickle)
            from loopline.store.models import load_model

            if not Path(model).is_file():
                raise NotFound(f"no model file {model}")
            return load_model(Path(model).read_bytes())
        name, _, ref = str(model).partition("@")  # a registered model, its latest version by default
        return self.load_model(name, ref or None)

    # -- for the server: one call per page ----------------------------------------------------
    def annotate_overview(self) -> list[tuple[LabelProject, dict[str, Any]]]:
        """Every labeling project with its progress (the managers' list)."""
        repo = self.meta.annotations
        return [(spec, repo.progress(spec.name)) for spec in repo.list_projects()]

    def annotate_report(self, name: str) -> dict[str, Any]:
        """Status (progress, gold accuracy) and agreement of one project (a manager's page)."""
        status = self.annotate_status(name)
        try:
            agreement: dict[str, Any] | None = self.agreement(name)
        except InvalidInput as exc:  # too few answers to measure yet
            agreement = {"note": exc.message}
        return {"status": status, "agreement": agreement}

    def blob(self, digest: str) -> bytes:
        """A blob's bytes, verified against their hash (Integrity if they were changed)."""
        return self.blobs.get_bytes(digest)


def _utcnow() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)
