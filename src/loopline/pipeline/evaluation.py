"""Gathering what a model card needs from the records: the evaluation step run that tested a
model, its report, the data the model was trained on, the test set and how often it was read,
and the run's environment. The card itself is a pure function in loopline.evaluate.card."""

from __future__ import annotations

from typing import Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.types import Artifact, StepRun
from loopline.evaluate.card import model_card
from loopline.store.artifacts import load_value
from loopline.store.blobs import BlobStore
from loopline.store.metadata import MetadataStore

EVALUATE_USES = "loopline.evaluate:"


def _argument(step: StepRun, argument: str) -> str | None:
    """The artifact id a step run passed as a function argument (through its renames)."""
    args = step.bindings.get("args", {})
    for slot, art_id in step.inputs.items():
        if args.get(slot, slot) == argument:
            return art_id
    return None


def _evaluation_of(meta: MetadataStore, art: Artifact) -> tuple[StepRun, str]:
    """The evaluation step run behind an artifact (its report, or the model it evaluated, the
    latest such run) and the id of its report."""
    if art.kind == "model":
        found = [
            s
            for s in meta.consumers(art.id)
            if s.uses.startswith(EVALUATE_USES) and _argument(s, "model") == art.id and s.outputs
        ]
        if not found:
            raise NotFound(
                f"model {art.id[:12]} has no successful evaluation",
                hint="add a `loopline.evaluate:evaluate` step reading it, and run the pipeline",
            )
        step = found[-1]
        return step, next(iter(step.outputs.values()))
    if art.kind == "json":
        made = [s for s in meta.producers(art.id) if s.uses.startswith(EVALUATE_USES)]
        if made:
            return made[-1], art.id
    raise InvalidInput(
        f"{art.name or art.id[:12]} is a {art.kind}, neither a model nor an evaluation report",
        hint="give the model artifact or the evaluation step's output",
    )


def _described(meta: MetadataStore, art_id: str, role: str) -> dict[str, Any]:
    art = meta.get_artifact(art_id)
    return {"role": role, "name": art.name, "version": art.version, "id": art.id, "rows": art.rows}


def gather_card(meta: MetadataStore, blobs: BlobStore, art: Artifact) -> dict[str, Any]:
    step, report_id = _evaluation_of(meta, art)
    report = load_value(blobs, meta.get_artifact(report_id))
    model_id = _argument(step, "model")
    data: list[dict[str, Any]] = []
    model: dict[str, Any] = {"id": model_id}
    if model_id:
        model |= {k: v for k, v in _described(meta, model_id, "model").items() if k in ("name", "version")}
        trained = meta.producers(model_id)
        if trained:
            data += [_described(meta, a, f"training input {slot}") for slot, a in trained[0].inputs.items()]
            model["made_by"] = {"run_id": trained[0].run_id, "step": trained[0].name}
    test_id = _argument(step, "test")
    if test_id:
        data.append(_described(meta, test_id, "test") | {"reads": meta.test_reads(test_id)})
    run = meta.get_run(step.run_id)
    environment = meta.get_environment(run.environment_id).to_json() if run.environment_id else None
    return model_card(
        report,
        model=model,
        data=data,
        environment=environment,
        run={"run_id": run.id, "step": step.name, "git_commit": run.git_commit, "git_dirty": run.git_dirty},
        intended_use=step.params.get("intended_use"),
    )


def sealed_reads(meta: MetadataStore, steps: list[StepRun]) -> list[dict[str, Any]]:
    """For a run's steps: each sealed input read, with how many times it has been read in all."""
    ids = sorted({a for s in steps for a in s.inputs.values()})
    sealed = meta.sealed_artifacts(ids)
    out = []
    for step in steps:
        for slot, art_id in sorted(step.inputs.items()):
            if art_id in sealed:
                art = meta.get_artifact(art_id)
                out.append(
                    {
                        "step": step.name,
                        "input": slot,
                        "artifact_id": art_id,
                        "name": art.name,
                        "version": art.version,
                        "reads": meta.test_reads(art_id),
                    }
                )
    return out
