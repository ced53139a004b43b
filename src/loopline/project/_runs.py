"""A Project's pipeline runs: build the pipeline from loopline.yaml, run, collect, status and
reproduce on the engine (pipeline/), and read the runs back, from peek.py while it can answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from loopline.core.errors import ConfigError, NotFound
from loopline.pipeline.config import build_pipeline
from loopline.store.metadata import peek

if TYPE_CHECKING:
    from loopline.core.experiments import TrackedRun
    from loopline.core.types import Environment, Run
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.reproduce import Comparison
    from loopline.pipeline.runner import EventHandler, Runner
    from loopline.pipeline.status import StepState
    from loopline.project._stores import Stores
    from loopline.store.metadata import MetadataStore


def _no_events(kind: str, name: str, details: dict[str, Any]) -> None:
    pass


def _died(run: Run) -> bool:
    """Whether `run` is recorded as running on this host by a process that is gone."""
    return (
        run.status == "running"
        and run.host == socket.gethostname()
        and bool(run.pid)
        and not peek.alive(run.pid or 0)
    )


class Runs:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def pipeline(self) -> Pipeline:
        pipeline = build_pipeline(self.stores.file)
        if not pipeline.steps:
            raise ConfigError(
                "the project declares no steps",
                where=str(self.stores.file.path),
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
        on_start: Callable[[str], None] | None = None,
    ) -> Run:
        """Run the pipeline; `on_start` is told the run's id once the run is recorded (before any
        step runs: the server answers a start request with it while the run goes on)."""
        from loopline.pipeline.executors import make_executor

        runner = self.stores.runner if on_start is None else self._announcing(on_start)
        pipeline = pipeline or self.pipeline()
        runner.external_inputs(pipeline, pipeline.select(targets))  # bad input: fail before any executor
        runner_executor = make_executor(executor, jobs, dask_address, self.stores.settings.blobs_url)
        try:
            return runner.run(
                pipeline,
                runner_executor,
                targets=targets,
                use_cache=use_cache,
                blobs_url=self.stores.settings.blobs_url,
                on_event=on_event,
            )
        finally:
            runner_executor.close()

    def _announcing(self, on_start: Callable[[str], None]) -> Runner:
        """A Runner of its own (not the Stores' shared one) that tells `on_start` each run id it
        records."""
        runner = self.stores.runner_on(self.stores.meta)
        begin = runner.start_run

        def start_run(executor: str, reproduce_of: str | None = None) -> str:
            run_id = begin(executor, reproduce_of)
            on_start(run_id)
            return run_id

        runner.start_run = start_run  # type: ignore[method-assign]
        return runner

    def collect(self, sources: Sequence[str] = (), *, pipeline: Pipeline | None = None) -> Run:
        """Run the collect sources (all, or those named) and nothing else."""
        pipeline = pipeline or build_pipeline(self.stores.file)
        declared = [n for n, s in pipeline.steps.items() if s.collects is not None]
        if not declared:
            raise ConfigError(
                "the project declares no sources",
                where=str(self.stores.file.path),
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
        from loopline.pipeline.status import status
        from loopline.wiring.evaluate import EVALUATE_USES

        pipeline = pipeline or self.pipeline()
        stores = self.stores
        if stores.peeking() and not any(s.uses.startswith(EVALUATE_USES) for s in pipeline.steps.values()):
            with peek.snapshot(stores.settings.store_url) as reader:
                if reader is not None:  # status reads only what a Snapshot answers
                    try:
                        return status(stores.runner_on(cast("MetadataStore", reader)), pipeline)
                    except peek.Unsure:
                        pass
        return status(stores.runner, pipeline)

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
        from loopline.pipeline.reproduce import reproduce

        try:
            pipeline: Pipeline | None = self.pipeline()
        except ConfigError:
            pipeline = None  # reproduce by the recorded import paths
        runner_executor = make_executor(executor, jobs, dask_address, self.stores.settings.blobs_url)
        try:
            return reproduce(
                self.stores.runner,
                run_id,
                pipeline,
                runner_executor,
                blobs_url=self.stores.settings.blobs_url,
                on_event=on_event,
                tolerance=tolerance,
            )
        finally:
            runner_executor.close()

    def runs(self, limit: int = 50, *, top_level: bool = False) -> list[Run]:
        """Newest first; with `top_level`, without the runs nested under another (tuning trials)."""
        stores = self.stores
        if stores.peeking():
            url = stores.settings.store_url
            found = peek.list_runs(url, limit, socket.gethostname(), top_level=top_level)
            if found is not None:
                return found
        stores.runner.mark_interrupted()
        return stores.meta.list_runs(limit, top_level=top_level)

    def child_runs(self, run_ids: Sequence[str]) -> dict[str, list[TrackedRun]]:
        """The runs nested under each run (a tune step's trials), in the order they started."""
        return self.stores.meta.tracking.children_of(run_ids)

    def child_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """How many runs are nested under each run (read without the full store when it can)."""
        if self.stores.peeking():
            found = peek.child_counts(self.stores.settings.store_url, run_ids)
            if found is not None:
                return found
        return self.stores.meta.tracking.child_counts(run_ids)

    def run_report(self, run: Run) -> dict[str, Any]:
        """The run's JSON with each step's rows in / out / quarantined, metrics and gates."""
        from loopline.pipeline.figures import run_report

        return run_report(self.stores.meta, run)

    def show(self, run_id: str) -> Run:
        found = self.stores.meta.get_run(run_id)
        if _died(found):  # marked interrupted, as every run of this host whose process is gone
            self.stores.runner.mark_interrupted()
            found = self.stores.meta.get_run(found.id)
        return found

    def environment(self, env_id: str) -> Environment:
        return self.stores.meta.get_environment(env_id)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self.stores.meta.metrics(run_id)

    def collect_details(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per source collected in the run: each file read (rows read, kept, quarantined, schema
        changes, or why it was refused), files removed, and changes to the columns."""
        prefix = "loopline.collect."
        tags = self.stores.meta.tracking.get_run(run_id).tags
        return {k.removeprefix(prefix): json.loads(v) for k, v in tags.items() if k.startswith(prefix)}

    def run_page(self, limit: int, offset: int = 0, status: str | None = None) -> list[Run]:
        """Top-level runs, newest first, from `offset`, of one status if given: one page in SQL.
        A run of this host the page shows as running whose process is gone is marked interrupted
        first (the scan for such runs reads every run: only when the page has one)."""
        meta = self.stores.meta
        found = meta.list_runs(limit, top_level=True, offset=offset, status=status)
        if any(_died(r) for r in found):
            self.stores.runner.mark_interrupted()
            found = meta.list_runs(limit, top_level=True, offset=offset, status=status)
        return found

    def run_dag(self, run: Run) -> dict[str, Any]:
        """The run as a graph: its steps, each placed in a layer, and the artifacts flowing between
        them (from what each step recorded it read and wrote). A step that recorded no inputs (one
        skipped after an upstream failure) takes its upstream steps from the project's pipeline,
        when that still declares it. For a reproduce run, each output of the original run beside
        this run's id for it."""
        wrote: dict[str, list[str]] = {}
        for step in run.steps:
            for art_id in step.outputs.values():
                wrote.setdefault(art_id, []).append(step.name)
        edges: dict[tuple[str, str], dict[str, Any]] = {}
        inputs: dict[str, list[str]] = {}
        skipped = any(s.status == "skipped" and not s.inputs for s in run.steps)
        declared = self._declared() if skipped else None  # imports the steps' code: only when needed
        names = {s.name for s in run.steps}
        ups: dict[str, set[str]] = {}
        for step in run.steps:
            for art_id in step.inputs.values():
                makers = [m for m in wrote.get(art_id, []) if m != step.name]
                if not makers:
                    inputs.setdefault(art_id, []).append(step.name)
                for maker in makers:
                    edge = edges.setdefault(
                        (maker, step.name),
                        {"source": maker, "target": step.name, "artifacts": [], "known_from": "run"},
                    )
                    if art_id not in edge["artifacts"]:
                        edge["artifacts"].append(art_id)
            if step.status == "skipped" and declared is not None and step.name in declared.steps:
                for maker in declared.upstream(step.name):
                    if maker in names:
                        edges.setdefault(
                            (maker, step.name),
                            {"source": maker, "target": step.name, "artifacts": [], "known_from": "pipeline"},
                        )
        for source, target in edges:
            ups.setdefault(target, set()).add(source)
        layer: dict[str, int] = {}

        def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
            if name not in layer:
                parents = [u for u in ups.get(name, ()) if u not in seen]
                layer[name] = 1 + max((depth(u, seen | {name}) for u in parents), default=-1)
            return layer[name]

        figures = self.run_report(run)["steps"]
        nodes = [
            {
                "name": step.name,
                "status": step.status,
                "cached": step.status == "cached",
                "seconds": round(step.seconds, 6),
                "rows": fig.get("rows"),
                "layer": depth(step.name),
                "outputs": dict(step.outputs),
                "error": step.error,
            }
            for step, fig in zip(run.steps, figures, strict=True)
        ]
        return {
            "run_id": run.id,
            "status": run.status,
            "reproduce_of": run.reproduce_of,
            "nodes": nodes,
            "edges": list(edges.values()),
            "inputs": inputs,
            "comparisons": self._compared(run),
        }

    def _declared(self) -> Pipeline | None:
        try:
            return build_pipeline(self.stores.file)
        except ConfigError:
            return None  # the run's own records still draw it

    def _compared(self, run: Run) -> list[dict[str, Any]]:
        """The outputs `loopline reproduce` re-made (collections are its inputs, not re-run)."""
        from loopline.pipeline.runner import COLLECT_USES

        if run.reproduce_of is None:
            return []
        try:
            original = self.stores.meta.get_run(run.reproduce_of)
        except NotFound:
            return []
        again = {s.name: s.outputs for s in run.steps}
        return [
            {
                "step": step.name,
                "output": slot,
                "expected": art_id,
                "got": again.get(step.name, {}).get(slot),
                "identical": again.get(step.name, {}).get(slot) == art_id,
            }
            for step in original.steps
            if step.status in ("ran", "cached") and not step.uses.startswith(COLLECT_USES)
            for slot, art_id in sorted(step.outputs.items())
        ]
