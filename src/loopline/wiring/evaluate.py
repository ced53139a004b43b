"""Gathering what a model card needs from the records: the evaluation step run that tested a
model, its report, the data the model was trained on, the test set and how often it was read,
and the run's environment. The card itself is a pure function in loopline.evaluate.card."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, NotFound
from loopline.core.types import Artifact, StepRun

# The card and the report reader bring Polars and NumPy: `loopline status` asks baseline_input
# about every step and must not pay for them.
if TYPE_CHECKING:
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


def baseline_input(
    meta: MetadataStore,
    uses: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, Artifact],
    args: Mapping[str, str],
) -> tuple[str, Artifact] | None:
    """The model an evaluate step's `no_regression: ALIAS` gate compares with, when no `baseline`
    input is bound: the version of the registered model `model_name` (a param of the step) at
    that alias, as the (slot, artifact) to add to the step's inputs. None when the step has no
    such gate, binds a baseline itself, names no model, or nothing is at the alias yet (the gate
    then passes and says so)."""
    if not uses.startswith(EVALUATE_USES) or any(args.get(s, s) == "baseline" for s in inputs):
        return None
    name = params.get("model_name")
    gates = params.get("gates") or []
    aliases = [g["no_regression"] for g in gates if isinstance(g, Mapping) and "no_regression" in g]
    if not isinstance(name, str) or not aliases:
        return None
    from loopline.store.metadata.registry import SqlRegistryRepository

    repo = SqlRegistryRepository(meta)
    try:
        version = repo.get_alias(name, str(aliases[0]))
    except NotFound:
        return None
    art = meta.get_artifacts([version.artifact_id]).get(version.artifact_id)
    if art is None or art.kind != "model":
        return None
    return "baseline", art


def gate_result(
    meta: MetadataStore, blobs: BlobStore, model: Artifact, evaluation: Artifact | None = None
) -> tuple[bool, dict[str, Any]] | None:
    """Whether a model passed its gates, and the gate report, for the registry: from the given
    evaluation report, else from the latest evaluate step run that read the model (a run whose
    gates failed records no report: its CheckFailed is the report). None when never evaluated."""
    if evaluation is not None:
        step, _ = _evaluation_of(meta, evaluation)
        if _argument(step, "model") != model.id:
            raise InvalidInput(
                f"evaluation {evaluation.name or evaluation.id[:12]} evaluated model "
                f"{(_argument(step, 'model') or '?')[:12]}, not {model.id[:12]}",
                hint="give the report of the evaluate step that read this model",
            )
        steps = [step]
    else:
        steps = [
            s
            for s in meta.consumers(model.id, statuses=("ran", "failed"))
            if s.uses.startswith(EVALUATE_USES) and _argument(s, "model") == model.id
        ]
        steps = [s for s in steps if s.status == "ran" or "CheckFailed" in (s.error or "")]
        if not steps:
            return None
    step = steps[-1]
    where = {"run_id": step.run_id, "step": step.name}
    if step.status != "ran" or not step.outputs:
        return False, where | {"passed": False, "failure": step.error or "the gates failed"}
    from loopline.store.artifacts import load_value

    report = load_value(blobs, meta.get_artifact(next(iter(step.outputs.values()))))
    gates = [
        {"name": g["gate"], "passed": g["passed"], "value": g["value"], "note": g.get("note")}
        for g in report.get("gates", [])
    ]
    passed = bool(report.get("passed", all(g["passed"] for g in gates)))
    return passed, where | {"passed": passed, "gates": gates}


def registration_details(
    meta: MetadataStore,
    blobs: BlobStore,
    model: Artifact,
    evaluation: Artifact | None,
    run_id: str | None,
    details: Mapping[str, Any],
) -> tuple[str | None, list[StepRun], dict[str, Any]]:
    """What the registry records with a new version, beyond what the caller gave: the source run
    (the run whose step made the artifact), the gate result (gate_result), the metrics the
    steps that made or read the model logged in that run, and the schema of the tables it was
    trained on. Returns (run id, the step runs that made the model, the details)."""
    found = dict(details)
    if "gates_passed" not in found:
        gated = gate_result(meta, blobs, model, evaluation)
        if gated is not None:
            found["gates_passed"], found["gate_report"] = gated
    made_by = meta.producers(model.id)
    run_id = meta.get_run(run_id).id if run_id else (made_by[0].run_id if made_by else None)
    if "metrics" not in found and run_id:  # what the steps that made or read the model logged
        about = {s.name for s in made_by} | {s.name for s in meta.consumers(model.id)}
        found["metrics"] = {m["key"]: m["value"] for m in meta.metrics(run_id) if m["step_name"] in about}
    if "signature" not in found and made_by:
        tables = meta.get_artifacts(list(made_by[0].inputs.values())).values()
        found["table_schema"] = {
            k: v for t in tables if t.kind == "table" for k, v in (t.schema or {}).items()
        }
    return run_id, made_by, found


def _described(meta: MetadataStore, art_id: str, role: str) -> dict[str, Any]:
    art = meta.get_artifact(art_id)
    return {"role": role, "name": art.name, "version": art.version, "id": art.id, "rows": art.rows}


def gather_card(meta: MetadataStore, blobs: BlobStore, art: Artifact) -> dict[str, Any]:
    from loopline.evaluate.card import model_card
    from loopline.store.artifacts import load_value

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
