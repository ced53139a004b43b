"""The Project facade: settings and stores wired into the pipeline and stages. The CLI and the
server each make one call here per command or request."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from loopline.core.errors import ConfigError, InvalidInput, NotFound
from loopline.core.settings import PROJECT_FILE, STATE_DIR, Settings
from loopline.pipeline.config import ProjectFile, build_pipeline, read_project_file
from loopline.project._annotate import AnnotateFacade
from loopline.project._data import DataFacade
from loopline.project._models import ModelsFacade
from loopline.store.metadata import peek

# The stores, the runner and what they import (SQLAlchemy, fsspec, the pipeline) load when first
# used: a listing answered by peek.py never needs them, and `loopline runs` must start fast.
if TYPE_CHECKING:
    from loopline.core.tracking import Experiment, MetricPoint, TrackedRun
    from loopline.core.types import Environment, Run
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.runner import Comparison, EventHandler, Runner, StepState
    from loopline.pipeline.tracking import ActiveRun
    from loopline.store.blobs import FsspecBlobStore
    from loopline.store.metadata import MetadataStore

_TEMPLATE = """\
# loopline project: uncomment and edit a section (loopline's docs/pipeline.md lists them);
# `loopline status` checks the file, `loopline run` runs the steps in dependency order.

# project:                        # where metadata and blobs live (default: .loopline/ here)
#   store: postgresql+psycopg://user@host/loopline
#   blobs: s3://bucket/loopline

# sources:                        # what `loopline collect` reads; only what is new is versioned
#   people:                       # -> the dataset `people` (bad rows -> `people_quarantine`)
#     type: files                 # files (CSV, Parquet, JSON Lines), folder, http or sql
#     root: inbox
#     glob: "*.csv"

# steps:                         # replace `steps: {}` below with your steps, for example:
#   clean:                        # a step: a function, its input and output artifacts, params
#     uses: loopline.clean:apply  # module:function, imported from this folder
#     inputs: {table: people}     # {argument: artifact}, or a list of same names
#     params:
#       rules:
#         - {rule: range, column: age, min: 0, max: 120}
#     outputs: {clean: clean, quarantine: quarantine, report: clean_report}
#   train:
#     uses: mypackage.steps:train
#     inputs: [clean]
#     params: {C: 1.0}
#     outputs: [model]
steps: {}
"""


def _no_events(kind: str, name: str, details: dict[str, Any]) -> None:
    pass


class Project(DataFacade, ModelsFacade, AnnotateFacade):
    """One project: its loopline.yaml, settings and stores. The data, model and labeling calls
    live in the facades it mixes in (_data.py, _models.py, _annotate.py)."""

    def __init__(self, file: ProjectFile, environ: dict[str, str] | None = None) -> None:
        self.file = file
        self.root = file.path.parent
        self.settings = Settings.build(
            self.root, file.project, environ if environ is not None else dict(os.environ)
        )

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: str | Path, *, store: str | None = None, blobs: str | None = None) -> Project:
        directory = Path(directory).absolute()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / PROJECT_FILE
        if not path.exists():
            project = {k: v for k, v in (("store", store), ("blobs", blobs)) if v}
            import yaml

            from loopline.store.files import atomic_write_text

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
    def open(cls, directory: str | Path | None = None) -> Project:
        """The project of `directory` (a str or a Path; default the current folder) or above."""
        start = Path(directory if directory is not None else Path.cwd()).absolute()
        for folder in (start, *start.parents):
            if (folder / PROJECT_FILE).exists():
                return cls(read_project_file(folder / PROJECT_FILE))
        raise NotFound(f"no {PROJECT_FILE} in {start} or above", hint="run `loopline init` first")

    @cached_property
    def meta(self) -> MetadataStore:
        from loopline.store.metadata import MetadataStore

        return MetadataStore(self.settings.store_url, actor=self.settings.user)

    @cached_property
    def blobs(self) -> FsspecBlobStore:
        from loopline.store.blobs import FsspecBlobStore

        return FsspecBlobStore(self.settings.blobs_url)

    @cached_property
    def runner(self) -> Runner:
        from loopline.pipeline.runner import Runner

        return Runner(self.meta, self.blobs, self.root, self.settings.stat_cache)

    def _peeking(self) -> bool:
        """Whether a listing may be read with peek.py: only while the full store is not open (a
        process that has it, like the server, asks it)."""
        return "meta" not in self.__dict__

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
                hint="add a step under `steps:` (see docs/pipeline.md)",
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
                hint="add a `sources:` section (see docs/collect.md)",
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
        """Fresh or stale, step by step; read with peek.py while the store is not open, unless a
        step is an evaluation (its baseline comes from the registry's store)."""
        from loopline.pipeline.evaluation import EVALUATE_USES
        from loopline.pipeline.runner import Runner

        pipeline = pipeline or self.pipeline()
        if self._peeking() and not any(s.uses.startswith(EVALUATE_USES) for s in pipeline.steps.values()):
            with peek.snapshot(self.settings.store_url) as reader:
                if reader is not None:  # Runner.status reads only what a Snapshot answers
                    runner = Runner(
                        cast("MetadataStore", reader), self.blobs, self.root, self.settings.stat_cache
                    )
                    try:
                        return runner.status(pipeline)
                    except peek.Unsure:
                        pass
        return self.runner.status(pipeline)

    def reproduce(
        self,
        run_id: str,
        *,
        executor: str = "local",
        jobs: int = 1,
        dask_address: str | None = None,
        on_event: EventHandler = _no_events,
        tolerance: float | None = None,
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
                tolerance=tolerance,
            )
        finally:
            runner_executor.close()

    def runs(self, limit: int = 50, *, top_level: bool = False) -> list[Run]:
        """Newest first; with `top_level`, without the runs nested under another (tuning trials)."""
        if self._peeking():
            found = peek.list_runs(self.settings.store_url, limit, socket.gethostname(), top_level=top_level)
            if found is not None:
                return found
        self.runner.mark_interrupted()
        return self.meta.list_runs(limit, top_level=top_level)

    def child_runs(self, run_ids: Sequence[str]) -> dict[str, list[TrackedRun]]:
        """The runs nested under each run (a tune step's trials), in the order they started."""
        return self.meta.tracking.children_of(run_ids)

    def child_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """How many runs are nested under each run (read without the full store when it can)."""
        if self._peeking():
            found = peek.child_counts(self.settings.store_url, run_ids)
            if found is not None:
                return found
        return {k: len(v) for k, v in self.child_runs(run_ids).items()}

    def run_report(self, run: Run) -> dict[str, Any]:
        """The run's JSON with each step's rows in / out / quarantined, metrics and gates."""
        from loopline.pipeline.figures import run_report

        return run_report(self.meta, run)

    def show(self, run_id: str) -> Run:
        self.runner.mark_interrupted()
        return self.meta.get_run(run_id)

    def environment(self, env_id: str) -> Environment:
        return self.meta.get_environment(env_id)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self.meta.metrics(run_id)

    def collect_details(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per source collected in the run: each file read (rows read, kept, quarantined, schema
        changes, or why it was refused), files removed, and changes to the columns."""
        import json

        prefix = "loopline.collect."
        tags = self.meta.tracking.get_run(run_id).tags
        return {k.removeprefix(prefix): json.loads(v) for k, v in tags.items() if k.startswith(prefix)}

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
