"""Running a pipeline: fingerprint each step before it runs, reuse cached outputs, execute the
rest on an executor, and record runs, step runs and lineage as each step finishes.

Each finished step is committed on its own, so a run killed half-way keeps what it finished and
the next run resumes from the cache.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import ConfigError, LooplineError
from loopline.core.hashing import fingerprint
from loopline.core.ids import new_run_id
from loopline.core.types import Artifact, Run, StepRun, StepStatus
from loopline.pipeline.collecting import collect_step
from loopline.pipeline.dag import Pipeline
from loopline.pipeline.environment import capture_environment, declared_versions, git_state
from loopline.pipeline.execute import StepResult, StepTask
from loopline.pipeline.executors import Executor
from loopline.pipeline.figures import (
    QUARANTINE_ATTR,
    figures_tag,
    row_counts,
)
from loopline.pipeline.inputs import stored_inputs, versions_read
from loopline.pipeline.step import Step, code_hash, preflight
from loopline.store.blobs import BlobStore
from loopline.store.metadata.peek import alive

if TYPE_CHECKING:  # status also runs on peek.Snapshot, without SQLAlchemy
    from loopline.pipeline.hooks import CollectSource, FindBaseline
    from loopline.store.metadata import MetadataStore

# on_event(kind, step name, details): kinds are "start", "cached", "ran", "failed", "skipped".
EventHandler = Callable[[str, str, dict[str, Any]], None]


COLLECT_USES = "loopline.collect:"


def _ignore(kind: str, name: str, details: dict[str, Any]) -> None:
    pass


def step_fingerprint(item: Step, inputs: dict[str, Artifact], code: str | None = None) -> str:
    return fingerprint(
        {
            "uses": item.uses,
            "code": code or item.code_hash,
            "params": dict(item.params),
            "inputs": {slot: art.id for slot, art in sorted(inputs.items())},
            "outputs": sorted(item.outputs),
            "env": declared_versions(item.env),
            **item.bindings(),
        }
    )


@dataclass
class _Progress:
    """What one pipeline run knows as it goes: the artifacts so far, which steps are done, failed
    or running (by executor handle), and how it was asked to run."""

    run_id: str
    executor: Executor
    available: dict[str, Artifact]
    sealed: set[str]
    use_cache: bool
    blobs_url: str
    on_event: EventHandler
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    running: dict[Any, tuple[Step, dict[str, Artifact], str]] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        root: Path,
        stat_cache: Path,
        *,
        collect: CollectSource,
        baseline: FindBaseline,
    ) -> None:
        self.meta = meta
        self.blobs = blobs
        self.root = root
        self.stat_cache = stat_cache
        self.collect_source = collect
        self.find_baseline = baseline

    # -- helpers ------------------------------------------------------------------------------
    def external_inputs(self, pipeline: Pipeline, names: Sequence[str]) -> dict[str, Artifact]:
        """The inputs no step produces, by what they read (see pipeline/inputs.py); ConfigError
        naming the step when one does not exist."""
        return stored_inputs(self.meta, pipeline, names)

    def cached(self, fp: str) -> dict[str, Artifact] | None:
        outputs = self.meta.find_cached(fp)
        if outputs is None:
            return None
        records = self.meta.get_artifacts(list(outputs.values()))
        if len(records) != len(set(outputs.values())) or not all(
            self.blobs.exists(a.blob) for a in records.values()
        ):
            return None
        return {slot: records[art_id] for slot, art_id in outputs.items()}

    def start_run(self, executor: str, reproduce_of: str | None = None) -> str:
        """Record a new run (environment, git state, host and pid) and return its id."""
        self.mark_interrupted()
        env = capture_environment()
        self.meta.put_environment(env)
        commit, dirty = git_state(self.root)
        run_id = new_run_id()
        self.meta.create_run(
            Run(
                run_id,
                "running",
                datetime.now(UTC),
                None,
                executor,
                env.id,
                commit,
                dirty,
                reproduce_of,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )
        return run_id

    def record_step(
        self,
        name: str,
        uses: str,
        code: Callable[..., Any],
        params: dict[str, Any],
        inputs: dict[str, str],
        outputs: dict[str, Artifact],
        seconds: float,
        executor: str = "local",
    ) -> str:
        """A run of one step that ran outside a pipeline (aggregating labels, batch scoring):
        recorded like any step run, so lineage, `show` and `runs` see it. Returns the run id."""
        run_id = self.start_run(executor)
        status = "failed"
        try:
            self.meta.record_step_run(
                StepRun(
                    id=None,
                    run_id=run_id,
                    name=name,
                    status="ran",
                    fingerprint=fingerprint({"uses": uses, "params": params, "inputs": inputs}),
                    code_hash=code_hash(code),
                    params=params,
                    uses=uses,
                    inputs=inputs,
                    outputs={slot: art.id for slot, art in outputs.items()},
                    seconds=seconds,
                ),
                list(outputs.values()),
            )
            status = "succeeded"
        finally:
            self.meta.finish_run(run_id, status)
        return run_id

    def mark_interrupted(self) -> int:
        """Mark this host's runs whose process died (SIGKILL, power cut) as interrupted."""
        return self.meta.mark_interrupted(socket.gethostname(), alive)

    # -- run ----------------------------------------------------------------------------------
    def run(
        self,
        pipeline: Pipeline,
        executor: Executor,
        *,
        targets: Sequence[str] = (),
        use_cache: bool = True,
        blobs_url: str,
        on_event: EventHandler = _ignore,
    ) -> Run:
        names = pipeline.select(targets)
        available = self.external_inputs(pipeline, names)  # may raise: nothing written yet
        for name in names:  # steps reading only existing data are checked before anything runs
            item = pipeline.steps[name]
            if all(item.ref(i) in available for i in item.inputs):
                preflight(item, {i: available[item.ref(i)].schema for i in item.inputs})
        sealed = self.sealed_inputs(pipeline, names, available)  # may raise: a step peeks at a test set
        run_id = self.start_run(executor.name)
        now = _Progress(run_id, executor, available, sealed, use_cache, blobs_url, on_event)
        waiting = list(names)
        status = "failed"
        try:
            while waiting or now.running:
                for name in list(waiting):
                    ups = pipeline.upstream(name)
                    if any(u in now.failed for u in ups):
                        waiting.remove(name)
                        now.failed.add(name)
                        self.record(now.run_id, pipeline.steps[name], "", {}, StepResult(name), "skipped")
                        on_event("skipped", name, {"reason": "an upstream step failed"})
                    elif all(u in now.done for u in ups):
                        waiting.remove(name)
                        self._begin(now, pipeline.steps[name])
                if now.running:
                    for handle, result in executor.wait(list(now.running)):
                        self._finish(now, handle, result)
            status = "failed" if now.failed else "succeeded"
        finally:
            self.meta.finish_run(now.run_id, status)
        return self.meta.get_run(now.run_id)

    def _begin(self, now: _Progress, item: Step) -> None:
        """A step whose upstream steps are done: collect it, take it from the cache, or submit it."""
        name, on_event = item.name, now.on_event
        if item.collects is not None:
            on_event("start", name, {})
            result = collect_step(self, now.run_id, item)
            (now.failed if result.error else now.done).add(name)
            now.available.update(result.outputs)
            kind = "failed" if result.error else "ran"
            on_event(kind, name, {"seconds": result.seconds, "error": result.error})
            return
        inputs = {i: now.available[item.ref(i)] for i in item.inputs}
        try:
            preflight(item, {i: art.schema for i, art in inputs.items()})
        except ConfigError as exc:
            self.record(now.run_id, item, "", inputs, StepResult(name, error=exc.render()), "failed")
            raise
        inputs |= self.baseline(item, inputs)
        fp = step_fingerprint(item, inputs)
        cached = self.cached(fp) if now.use_cache else None
        if cached is not None:
            now.available.update(cached)
            now.done.add(name)
            self.record(now.run_id, item, fp, inputs, StepResult(name, outputs=cached), "cached")
            on_event("cached", name, {"fingerprint": fp})
            return
        task = self.task(now.run_id, item, inputs, fp, now.blobs_url)
        self.record_reads(now.run_id, name, inputs, lambda slot, art: slot in now.sealed)
        on_event("start", name, {"fingerprint": fp})
        now.running[now.executor.submit(task, item.fn)] = (item, inputs, fp)

    def _finish(self, now: _Progress, handle: Any, result: StepResult) -> None:
        """Record a submitted step that finished: its tracked figures (a failed step's too), then it."""
        item, inputs, fp = now.running.pop(handle)
        tracked = self.track(now.run_id, item.name, result)
        result.error = result.error or tracked
        if result.error:
            now.failed.add(item.name)
            self.record(now.run_id, item, fp, inputs, result, "failed")
            now.on_event("failed", item.name, {"error": result.error, "seconds": result.seconds})
        else:
            now.available.update(result.outputs)
            now.done.add(item.name)
            self.record(now.run_id, item, fp, inputs, result, "ran")
            now.on_event("ran", item.name, {"seconds": result.seconds})

    def track(self, run_id: str, step_name: str, result: StepResult) -> str | None:
        """Write what a step logged (metrics, params, tags in one batch, then its child runs);
        the error when tracking refuses it (a param logged again with another value)."""
        try:
            self.meta.tracking.log_batch(
                run_id, result.metrics, result.params, result.tags, step_name=step_name
            )
            self.meta.tracking.record_child_runs(run_id, result.children, step_name=step_name)
        except LooplineError as exc:
            result.outputs = {}  # a failed step records no outputs
            return f"{type(exc).__name__}: {exc.render()}"
        return None

    def baseline(self, item: Step, inputs: dict[str, Artifact]) -> dict[str, Artifact]:
        """An evaluate step's `no_regression: ALIAS` baseline, found in the registry (see
        loopline.wiring.evaluate.baseline_input): {} or {"baseline": the model artifact}."""
        found = self.find_baseline(self.meta, item.uses, dict(item.params), inputs, dict(item.args))
        return dict([found]) if found else {}

    def sealed_inputs(
        self, pipeline: Pipeline, names: Sequence[str], available: dict[str, Artifact]
    ) -> set[str]:
        """The artifact names that are sealed test sets (a step of the pipeline seals them, or the
        stored artifact was sealed when made); ConfigError when a step that may not read one does."""
        declared = {a: s.name for s in pipeline.steps.values() for a in s.sealed}
        stored = self.meta.sealed_artifacts(sorted({a.id for a in available.values()}))
        sealed = set(declared) | {n for n, art in available.items() if art.id in stored}
        for name in names:
            item = pipeline.steps[name]
            for slot in item.inputs:
                if item.ref(slot) in sealed and not item.reads_sealed:
                    maker = f"step {declared[slot]!r}" if slot in declared else "a split"
                    raise ConfigError(
                        f"step {name!r} reads {slot!r}, the sealed test set made by {maker}",
                        where=item.where or pipeline.declared_in,
                        hint="only the final evaluation may read it (`uses: loopline.evaluate:evaluate`, "
                        "or `reads_sealed: true` on that one step); train and tune on train and validation",
                    )
        return sealed

    def record_reads(
        self,
        run_id: str,
        step_name: str,
        inputs: dict[str, Artifact],
        is_sealed: Callable[[str, Artifact], bool],
    ) -> None:
        """A step about to execute reads its sealed inputs: count it (a cache hit reads nothing)."""
        for slot, art in sorted(inputs.items()):
            if is_sealed(slot, art):
                self.meta.record_test_read(art.id, run_id, step_name)

    def task(self, run_id: str, item: Step, inputs: dict[str, Artifact], fp: str, blobs_url: str) -> StepTask:
        return StepTask(
            run_id,
            item.name,
            item.uses,
            item.code_hash,
            dict(item.params),
            inputs,
            item.outputs,
            fp,
            blobs_url,
            str(self.root),
            dict(item.args),
            dict(item.keys),
        )

    def record(
        self,
        run_id: str,
        item: Step,
        fp: str,
        inputs: dict[str, Artifact],
        result: StepResult,
        status: StepStatus,
        *,
        version: bool = True,
        source_state: tuple[str, dict[str, Any]] | None = None,
        rows: dict[str, int | None] | None = None,
    ) -> None:
        """Record a step run, then its figures (rows from the artifact records it read and
        wrote, the gates it checked) for `run` and `show` to print."""
        self.meta.record_step_run(
            StepRun(
                id=None,
                run_id=run_id,
                name=item.name,
                status=status,
                fingerprint=fp,
                code_hash=item.code_hash,
                params=dict(item.params),
                uses=item.uses,
                inputs={k: v.id for k, v in inputs.items()},
                outputs={k: v.id for k, v in result.outputs.items()},
                seconds=result.seconds,
                error=result.error,
                bindings=item.bindings() | versions_read(inputs),
            ),
            list(result.outputs.values()) if status == "ran" else [],
            version=version,
            source_state=source_state,
        )
        if rows is None:
            kept = getattr(item.fn, QUARANTINE_ATTR, ())
            quarantine = {o for o in item.outputs if item.keys.get(o, o) in kept}
            rows = row_counts(inputs, result.outputs, quarantine)
        tags = figures_tag(item.name, rows, result.gates)
        if tags:
            self.meta.tracking.set_tags(run_id, tags)
