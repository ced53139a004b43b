"""`loopline status`: each step fresh (its outputs for today's code, params and inputs are stored)
or stale, and why. It reads only what a peek.Snapshot answers as well (latest_step_runs,
find_cached, get_artifacts), so the Project can run it without opening the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopline.core.hashing import canonical_json
from loopline.pipeline.inputs import stored_inputs
from loopline.pipeline.runner import step_fingerprint

if TYPE_CHECKING:
    from loopline.core.types import Artifact, StepRun
    from loopline.pipeline.dag import Pipeline
    from loopline.pipeline.runner import Runner
    from loopline.pipeline.step import Step


@dataclass
class StepState:
    name: str
    state: str  # "fresh" | "stale"
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reasons": self.reasons}


def status(runner: Runner, pipeline: Pipeline) -> list[StepState]:
    """Fresh or stale, step by step in pipeline order; a step whose outputs are cached makes
    them available to the steps after it, as a run would."""
    latest = runner.meta.latest_step_runs()
    available: dict[str, Artifact] = stored_inputs(runner.meta, pipeline, pipeline.order, strict=False)
    states: list[StepState] = []
    for name in pipeline.order:
        item = pipeline.steps[name]
        state = StepState(name, "fresh")
        missing = [i for i in item.inputs if item.ref(i) not in available]
        if missing:
            state.reasons = [_missing(pipeline, item, slot) for slot in missing]
        else:
            inputs = {i: available[item.ref(i)] for i in item.inputs}
            inputs |= runner.baseline(item, inputs)
            cached = runner.cached(step_fingerprint(item, inputs))
            if cached is not None:
                available.update(cached)
            else:
                state.reasons = why_stale(item, inputs, latest.get(name))
        if state.reasons:
            state.state = "stale"
        states.append(state)
    return states


def _missing(pipeline: Pipeline, item: Step, slot: str) -> str:
    producer = pipeline.producer.get(slot)
    if producer:
        return f"input {slot}: upstream step {producer} will run"
    if slot in item.pins:
        return f"input {slot}: no version {item.pins[slot]} of {slot}"
    return f"input {slot}: no dataset of that name yet"


def why_stale(item: Step, inputs: dict[str, Artifact], last: StepRun | None) -> list[str]:
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
