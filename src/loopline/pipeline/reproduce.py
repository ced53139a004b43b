"""`loopline reproduce`: re-execute a run's steps on its recorded inputs, and say about each
output the recorded and the new id, and when they differ, how (loopline.datasets.differences) and
why, as far as loopline can tell (loopline.pipeline.nondeterminism).

Ids decide: an output is identical only when its id is. A tolerance never makes an output
identical; it makes one whose only differences are float noise within the tolerance *match*, and
the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.hashing import canonical_json
from loopline.core.types import Artifact, Run, StepRun, StepStatus
from loopline.pipeline.execute import StepResult
from loopline.pipeline.runner import COLLECT_USES as COLLECTS
from loopline.pipeline.runner import EventHandler, Runner, step_fingerprint
from loopline.pipeline.step import Step, code_hash, resolve
from loopline.store.blobs import BlobStore

if TYPE_CHECKING:
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.executors import Executor


@dataclass
class Comparison:
    name: str
    expected: str
    got: str | None
    note: str | None = None
    step: str | None = None
    difference: dict[str, Any] | None = None
    hints: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.expected == self.got

    @property
    def within_tolerance(self) -> bool:
        return not self.identical and bool(self.difference and self.difference.get("within_tolerance"))

    @property
    def matches(self) -> bool:
        return self.identical or self.within_tolerance

    @property
    def match(self) -> str:
        return "identical" if self.identical else "within_tolerance" if self.within_tolerance else "differs"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected": self.expected,
            "got": self.got,
            "identical": self.identical,
            "match": self.match,
            "step": self.step,
            "note": self.note,
            "difference": self.difference,
            "hints": self.hints,
        }


def check_tolerance(tolerance: float | None) -> None:
    if tolerance is not None and (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise InvalidInput(
            f"--tolerance must be a number of at least 0, got {tolerance!r}",
            hint="e.g. --tolerance 1e-9: floats that differ by at most that much, absolutely or "
            "relatively, count as matching",
        )


def difference(
    blobs: BlobStore, expected: Artifact, got: Artifact, tolerance: float | None
) -> dict[str, Any]:
    """How two stored artifacts differ, by kind (the comparers load Polars: imported here, so
    that the commands which import the engine and not this do not)."""
    from loopline.datasets.compare import diff_blobsets
    from loopline.datasets.differences import compare_json, compare_models, compare_tables
    from loopline.store.artifacts import load_manifest, load_table, load_value

    if expected.kind != got.kind:
        return {"kind": "kind", "expected": expected.kind, "got": got.kind, "within_tolerance": False}
    if expected.kind == "table":
        return compare_tables(load_table(blobs, expected), load_table(blobs, got), tolerance)
    if expected.kind == "blobs":
        found = diff_blobsets(load_manifest(blobs, expected), load_manifest(blobs, got))
        return found | {"within_tolerance": False}
    if expected.kind == "model":
        return compare_models(load_value(blobs, expected), load_value(blobs, got), tolerance)
    return compare_json(load_value(blobs, expected), load_value(blobs, got), tolerance)


def explain(
    comparison: Comparison,
    blobs: BlobStore,
    artifacts: tuple[Artifact, Artifact | None],
    fn: Callable[..., Any] | None,
    tolerance: float | None,
    since: datetime,
) -> None:
    """Fill in the difference and the hints of an output whose id changed."""
    from loopline.pipeline.nondeterminism import hints

    expected, got = artifacts
    if comparison.identical:
        return
    if got is not None:
        try:
            comparison.difference = difference(blobs, expected, got, tolerance)
        except Exception as exc:  # diagnostics must not hide the verdict: say what failed
            comparison.difference = {
                "kind": expected.kind,
                "error": f"could not compare: {type(exc).__name__}: {exc}",
                "within_tolerance": False,
            }
    comparison.hints = hints(comparison.step or comparison.name, fn, comparison.difference, since)


# -- re-executing a run ---------------------------------------------------------------------------


def reproduce(
    runner: Runner,
    run_id: str,
    pipeline: Pipeline | None,
    executor: Executor,
    *,
    blobs_url: str,
    on_event: EventHandler | None = None,
    tolerance: float | None = None,
) -> tuple[Run, Run, list[Comparison]]:
    """Re-execute a run's steps and compare each output with the recorded one; each that
    differs says how (and why, where loopline can tell). `tolerance` accepts float noise."""
    check_tolerance(tolerance)
    events = on_event or _ignore
    meta = runner.meta
    original = meta.get_run(run_id)
    # Collections read the outside world, which moves on: their recorded outputs are the
    # inputs of the steps that are re-executed, not something to re-execute themselves.
    steps = [s for s in original.steps if s.status in ("ran", "cached") and not s.uses.startswith(COLLECTS)]
    if not steps:
        raise NotFound(f"run {original.id} has no finished steps to reproduce")
    needed = {a for s in steps for a in (*s.inputs.values(), *s.outputs.values())}
    records = meta.get_artifacts(sorted(needed))
    stored_sealed = meta.sealed_artifacts(sorted(needed))
    new_id = runner.start_run(executor.name, reproduce_of=original.id)
    found: list[tuple[Comparison, tuple[Artifact, Artifact | None], Callable[..., Any]]] = []
    running: dict[Any, tuple[StepRun, Step]] = {}
    status = "failed"
    try:
        for recorded in steps:
            item = _step_of(recorded, pipeline)
            inputs = {slot: records[a] for slot, a in recorded.inputs.items()}
            task = runner.task(new_id, item, inputs, recorded.fingerprint, blobs_url)
            runner.record_reads(new_id, item.name, inputs, lambda slot, art: art.id in stored_sealed)
            events("start", item.name, {"fingerprint": recorded.fingerprint})
            running[executor.submit(task, item.fn)] = (recorded, item)
        while running:
            for handle, result in executor.wait(list(running)):
                recorded, item = running.pop(handle)
                found += _record_again(runner, new_id, recorded, item, result, records, events)
        status = "succeeded"
    finally:
        meta.finish_run(new_id, status)
    reproduced = meta.get_run(new_id)
    for comparison, artifacts, fn in found:
        explain(comparison, runner.blobs, artifacts, fn, tolerance, reproduced.started_at)
    comparisons = sorted((c for c, _, _ in found), key=lambda c: c.name)
    return original, reproduced, comparisons


def _ignore(kind: str, name: str, details: dict[str, Any]) -> None:
    pass


def _step_of(recorded: StepRun, pipeline: Pipeline | None) -> Step:
    """The step as the run ran it: today's function when the pipeline still declares it with the
    same `uses`, else the recorded import path."""
    current = pipeline.steps.get(recorded.name) if pipeline else None
    fn = current.fn if current and current.uses == recorded.uses else resolve(recorded.uses)
    # The store keeps params as canonical JSON (keys sorted); a step that walks a mapping in
    # order would see another order. The declared params, when equal, come in the order the
    # original run passed them.
    same = current is not None and canonical_json(dict(current.params)) == canonical_json(recorded.params)
    return Step(
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


def _record_again(
    runner: Runner,
    run_id: str,
    recorded: StepRun,
    item: Step,
    result: StepResult,
    records: dict[str, Artifact],
    on_event: EventHandler,
) -> list[tuple[Comparison, tuple[Artifact, Artifact | None], Callable[..., Any]]]:
    """Record a re-executed step (its outputs are not new versions) and compare its outputs."""
    code_note = None if item.code_hash == recorded.code_hash else "code changed since the run"
    inputs = {slot: records[a] for slot, a in recorded.inputs.items()}
    fp = step_fingerprint(item, inputs) if code_note else recorded.fingerprint
    tracked = runner.track(run_id, item.name, result)  # a failed step's figures too
    result.error = result.error or tracked
    kind: StepStatus = "failed" if result.error else "ran"
    runner.record(run_id, item, fp, inputs, result, kind, version=False)
    on_event(kind, item.name, {"seconds": result.seconds, "error": result.error})
    found = []
    for slot, expected in recorded.outputs.items():
        got = result.outputs.get(slot)
        note = code_note or ("the step failed" if result.error else None)
        comparison = Comparison(slot, expected, got.id if got else None, note, item.name)
        found.append((comparison, (records[expected], got), item.fn))
    return found
