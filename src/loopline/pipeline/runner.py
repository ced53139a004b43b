"""Running a pipeline: fingerprint each step before it runs, reuse cached outputs, execute the
rest on an executor, and record runs, step runs and lineage as each step finishes.

Each finished step is committed on its own, so a run killed half-way keeps what it finished and
the next run resumes from the cache.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopline.core.errors import ConfigError, LooplineError, NotFound
from loopline.core.hashing import canonical_json, fingerprint
from loopline.core.ids import new_run_id
from loopline.core.settings import STATE_DIR
from loopline.core.types import Artifact, Run, StepRun, StepStatus
from loopline.pipeline.dag import Pipeline
from loopline.pipeline.environment import capture_environment, declared_versions, git_state
from loopline.pipeline.execute import StepResult, StepTask
from loopline.pipeline.executors import Executor
from loopline.pipeline.figures import (
    QUARANTINE_ATTR,
    collect_counts,
    collect_details_tag,
    figures_tag,
    row_counts,
)
from loopline.pipeline.inputs import stored_inputs, versions_read
from loopline.pipeline.reproduce import Comparison, check_tolerance, explain
from loopline.pipeline.step import Step, code_hash, preflight, resolve
from loopline.store.blobs import BlobStore
from loopline.store.metadata.peek import alive

if TYPE_CHECKING:  # status also runs on peek.Snapshot, without SQLAlchemy
    from loopline.collect.spec import SourceSpec
    from loopline.store.metadata import MetadataStore

# on_event(kind, step name, details): kinds are "start", "cached", "ran", "failed", "skipped".
EventHandler = Callable[[str, str, dict[str, Any]], None]


COLLECT_USES = "loopline.collect:"


# The two stages the engine must ask while it runs, handed in by whoever builds the Runner (the
# Project, from loopline.wiring): the wiring sits above the engine, so the engine never imports it.
class CollectSource(Protocol):
    """Collect one source: (values per output, new source state, report figures, details);
    loopline.wiring.collect.run_source."""

    def __call__(
        self,
        spec: SourceSpec,
        meta: MetadataStore,
        blobs: BlobStore,
        root: Path,
        stat_cache: Path,
        run_id: str,
        scratch: Path,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, float], dict[str, Any]]: ...


class FindBaseline(Protocol):
    """An evaluate step's `no_regression` baseline as (slot, model artifact), or None;
    loopline.wiring.evaluate.baseline_input."""

    def __call__(
        self,
        meta: MetadataStore,
        uses: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Artifact],
        args: Mapping[str, str],
    ) -> tuple[str, Artifact] | None: ...


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
class StepState:
    name: str
    state: str  # "fresh" | "stale"
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reasons": self.reasons}


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

    def _cached(self, fp: str) -> dict[str, Artifact] | None:
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
        done: set[str] = set()
        failed: set[str] = set()
        running: dict[Any, tuple[Step, dict[str, Artifact], str]] = {}
        waiting = list(names)
        status = "failed"
        try:
            while waiting or running:
                for name in list(waiting):
                    item = pipeline.steps[name]
                    ups = pipeline.upstream(name)
                    if any(u in failed for u in ups):
                        waiting.remove(name)
                        failed.add(name)
                        self._record(run_id, item, "", {}, StepResult(name), "skipped")
                        on_event("skipped", name, {"reason": "an upstream step failed"})
                        continue
                    if not all(u in done for u in ups):
                        continue
                    waiting.remove(name)
                    if item.collects is not None:
                        on_event("start", name, {})
                        result = self._collect(run_id, item)
                        kind = "failed" if result.error else "ran"
                        (failed if result.error else done).add(name)
                        available.update(result.outputs)
                        on_event(kind, name, {"seconds": result.seconds, "error": result.error})
                        continue
                    inputs = {i: available[item.ref(i)] for i in item.inputs}
                    try:
                        preflight(item, {i: art.schema for i, art in inputs.items()})
                    except ConfigError as exc:
                        self._record(run_id, item, "", inputs, StepResult(name, error=exc.render()), "failed")
                        raise
                    inputs |= self._baseline(item, inputs)
                    fp = step_fingerprint(item, inputs)
                    cached = self._cached(fp) if use_cache else None
                    if cached is not None:
                        available.update(cached)
                        done.add(name)
                        result = StepResult(name, outputs=cached)
                        self._record(run_id, item, fp, inputs, result, "cached")
                        on_event("cached", name, {"fingerprint": fp})
                        continue
                    task = self._task(run_id, item, inputs, fp, blobs_url)
                    self._record_reads(run_id, item.name, inputs, lambda slot, art: slot in sealed)
                    on_event("start", name, {"fingerprint": fp})
                    running[executor.submit(task, item.fn)] = (item, inputs, fp)
                if not running:
                    continue
                for handle, result in executor.wait(list(running)):
                    item, inputs, fp = running.pop(handle)
                    tracked = self._track(run_id, item.name, result)  # a failed step's figures too
                    result.error = result.error or tracked
                    if result.error:
                        failed.add(item.name)
                        self._record(run_id, item, fp, inputs, result, "failed")
                        on_event("failed", item.name, {"error": result.error, "seconds": result.seconds})
                    else:
                        available.update(result.outputs)
                        done.add(item.name)
                        self._record(run_id, item, fp, inputs, result, "ran")
                        on_event("ran", item.name, {"seconds": result.seconds})
            status = "failed" if failed else "succeeded"
        finally:
            self.meta.finish_run(run_id, status)
        return self.meta.get_run(run_id)

    def _track(self, run_id: str, step_name: str, result: StepResult) -> str | None:
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

    def _collect(self, run_id: str, item: Step) -> StepResult:
        """Run a collect source here and record it; a failure leaves the previous version current.
        What the source streams (its new version among it) goes to a scratch folder under the
        project's state folder, removed once the version is stored."""
        import shutil
        import tempfile
        import time

        from loopline.store.artifacts import save_value

        assert item.collects is not None
        started = time.perf_counter()
        scratch: Path | None = None
        try:
            (self.root / STATE_DIR / "tmp").mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f"{item.name}-", dir=self.root / STATE_DIR / "tmp"))
            values, state, report, details = self.collect_source(
                item.collects, self.meta, self.blobs, self.root, self.stat_cache, run_id, scratch
            )
            outputs = {
                name: value if isinstance(value, Artifact) else save_value(self.blobs, value, output=name)
                for name, value in values.items()
            }
        except Exception as exc:  # a source may fail in any way; the run reports it
            import traceback

            result = StepResult(item.name, error="".join(traceback.format_exception(exc)))
            result.seconds = time.perf_counter() - started
            self._record(run_id, item, "", {}, result, "failed")
            return result
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        result = StepResult(item.name, outputs=outputs, seconds=time.perf_counter() - started)
        fp = fingerprint(
            {"collect": item.collects.to_json(), "outputs": {k: v.id for k, v in outputs.items()}}
        )
        self._record(
            run_id,
            item,
            fp,
            {},
            result,
            "ran",
            source_state=(item.collects.name, state),
            rows=collect_counts(report),
        )
        now = time.time()
        figures = [(k, v, 0, now) for k, v in sorted(report.items())]
        tags = {collect_details_tag(item.collects.name): json.dumps(details, sort_keys=True, default=str)}
        self.meta.tracking.log_batch(run_id, figures, {}, tags if details else {}, step_name=item.name)
        return result

    def _baseline(self, item: Step, inputs: dict[str, Artifact]) -> dict[str, Artifact]:
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

    def _record_reads(
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

    def _task(
        self, run_id: str, item: Step, inputs: dict[str, Artifact], fp: str, blobs_url: str
    ) -> StepTask:
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

    def _record(
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

    # -- status -------------------------------------------------------------------------------
    def status(self, pipeline: Pipeline) -> list[StepState]:
        latest = self.meta.latest_step_runs()
        available: dict[str, Artifact] = stored_inputs(self.meta, pipeline, pipeline.order, strict=False)
        states: list[StepState] = []
        for name in pipeline.order:
            item = pipeline.steps[name]
            state = StepState(name, "fresh")
            missing = [i for i in item.inputs if item.ref(i) not in available]
            if missing:
                for slot in missing:
                    producer = pipeline.producer.get(slot)
                    state.reasons.append(
                        f"input {slot}: upstream step {producer} will run"
                        if producer
                        else f"input {slot}: no version {item.pins[slot]} of {slot}"
                        if slot in item.pins
                        else f"input {slot}: no dataset of that name yet"
                    )
            else:
                inputs = {i: available[item.ref(i)] for i in item.inputs}
                inputs |= self._baseline(item, inputs)
                cached = self._cached(step_fingerprint(item, inputs))
                if cached is not None:
                    available.update(cached)
                else:
                    state.reasons = self._why_stale(item, inputs, latest.get(name))
            if state.reasons:
                state.state = "stale"
            states.append(state)
        return states

    @staticmethod
    def _why_stale(item: Step, inputs: dict[str, Artifact], last: StepRun | None) -> list[str]:
        if last is None:
            return ["never run"]
        reasons = []
        if last.code_hash != item.code_hash:
            reasons.append(f"code: {item.uses} changed")
        if canonical_json(last.params) != canonical_json(dict(item.params)):
            changed = sorted(
                k
                for k in {*last.params, *item.params}
                if canonical_json(last.params.get(k)) != canonical_json(item.params.get(k))
            )
            reasons.append(f"params: {', '.join(changed)} changed")
        for slot, art in inputs.items():
            if last.inputs.get(slot) != art.id:
                reasons.append(f"input: {slot} changed")
        return reasons or ["outputs missing from the store, or declared environment changed"]

    # -- reproduce ----------------------------------------------------------------------------
    def reproduce(
        self,
        run_id: str,
        pipeline: Pipeline | None,
        executor: Executor,
        *,
        blobs_url: str,
        on_event: EventHandler = _ignore,
        tolerance: float | None = None,
    ) -> tuple[Run, Run, list[Comparison]]:
        """Re-execute a run's steps and compare each output with the recorded one; each that
        differs says how (and why, where loopline can tell). `tolerance` accepts float noise."""
        check_tolerance(tolerance)
        original = self.meta.get_run(run_id)
        # Collections read the outside world, which moves on: their recorded outputs are the
        # inputs of the steps that are re-executed, not something to re-execute themselves.
        steps = [
            s for s in original.steps if s.status in ("ran", "cached") and not s.uses.startswith(COLLECT_USES)
        ]
        if not steps:
            raise NotFound(f"run {original.id} has no finished steps to reproduce")
        needed = {a for s in steps for a in (*s.inputs.values(), *s.outputs.values())}
        records = self.meta.get_artifacts(sorted(needed))
        stored_sealed = self.meta.sealed_artifacts(sorted(needed))
        new_id = self.start_run(executor.name, reproduce_of=original.id)
        comparisons: list[Comparison] = []
        to_explain: list[tuple[Comparison, tuple[Artifact, Artifact | None], Callable[..., Any]]] = []
        running: dict[Any, tuple[StepRun, Step]] = {}
        status = "failed"
        try:
            for recorded in steps:
                current = pipeline.steps.get(recorded.name) if pipeline else None
                fn = current.fn if current and current.uses == recorded.uses else resolve(recorded.uses)
                # The store keeps params as canonical JSON (keys sorted); a step that walks a
                # mapping in order would see another order. The declared params, when equal,
                # come in the order the original run passed them.
                same = current is not None and canonical_json(dict(current.params)) == canonical_json(
                    recorded.params
                )
                item = Step(
                    recorded.name,
                    fn,
                    recorded.uses,
                    tuple(recorded.inputs),
                    tuple(recorded.outputs),
                    dict(current.params) if same and current is not None else recorded.params,
                    code_hash=code_hash(fn),
                    args=recorded.bindings.get("args", {}),
                    keys=recorded.bindings.get("keys", {}),
                )
                inputs = {slot: records[a] for slot, a in recorded.inputs.items()}
                task = self._task(new_id, item, inputs, recorded.fingerprint, blobs_url)
                self._record_reads(new_id, item.name, inputs, lambda slot, art: art.id in stored_sealed)
                on_event("start", item.name, {"fingerprint": recorded.fingerprint})
                running[executor.submit(task, fn)] = (recorded, item)
            while running:
                for handle, result in executor.wait(list(running)):
                    recorded, item = running.pop(handle)
                    code_note = None if item.code_hash == recorded.code_hash else "code changed since the run"
                    inputs = {slot: records[a] for slot, a in recorded.inputs.items()}
                    fp = step_fingerprint(item, inputs) if code_note else recorded.fingerprint
                    tracked = self._track(new_id, item.name, result)
                    result.error = result.error or tracked
                    kind: StepStatus = "failed" if result.error else "ran"
                    self._record(new_id, item, fp, inputs, result, kind, version=False)
                    on_event(kind, item.name, {"seconds": result.seconds, "error": result.error})
                    for slot, expected in recorded.outputs.items():
                        got = result.outputs.get(slot)
                        note = code_note or ("the step failed" if result.error else None)
                        found = Comparison(slot, expected, got.id if got else None, note, item.name)
                        comparisons.append(found)
                        to_explain.append((found, (records[expected], got), item.fn))
            status = "succeeded"
        finally:
            self.meta.finish_run(new_id, status)
        reproduced = self.meta.get_run(new_id)
        for found, artifacts, fn in to_explain:
            explain(found, self.blobs, artifacts, fn, tolerance, reproduced.started_at)
        comparisons.sort(key=lambda c: c.name)
        return original, reproduced, comparisons
