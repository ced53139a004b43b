"""What a user reads per step after a run: rows in / out / quarantined, the metrics it logged and
its gate table, recorded while the run runs so `run` and `show RUN` print the same figures
without reading any data again.

Rows come from the artifact records a step read and wrote (their row counts are stored with
them) and gates from what the evaluate step checked, even when a gate failed the step (its report
is then never stored). Both go to one run tag per step, `loopline.step.NAME`, as JSON: tags
already belong to a run, need no schema of their own, and stay out of the metric columns that
`runs --metric` searches. A cached step reports the metrics and gates of the step run that made
its outputs, and says which run that was.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopline.core.types import Artifact, Run

if TYPE_CHECKING:
    from loopline.store.metadata import MetadataStore

TAG_PREFIX = "loopline.step."
# A step function may carry this: the returned keys that hold rejected rows (clean's "quarantine").
QUARANTINE_ATTR = "quarantine_outputs"


def _rows(arts: Sequence[Artifact]) -> int | None:
    counted = [a.rows for a in arts if a.kind == "table" and a.rows is not None]
    return sum(counted) if counted else None


def row_counts(
    inputs: Mapping[str, Artifact],
    outputs: Mapping[str, Artifact],
    quarantine: Collection[str] = (),
) -> dict[str, int | None] | None:
    """{"in", "out", "quarantined"} from the tables a step read and wrote (None for a side with
    no table); None when the step touched no table at all (a train step's model has no rows)."""
    counts = {
        "in": _rows(list(inputs.values())),
        "out": _rows([a for slot, a in outputs.items() if slot not in quarantine]),
        "quarantined": _rows([a for slot, a in outputs.items() if slot in quarantine])
        if quarantine
        else None,
    }
    return counts if any(v is not None for v in counts.values()) else None


def collect_counts(report: Mapping[str, float]) -> dict[str, int | None]:
    """A collect source's rows: what it read (when the reader counts it), added and quarantined;
    its output versions hold every item collected so far, not what this run brought."""
    read = report.get("rows_read")
    return {
        "in": None if read is None else int(read),
        "out": int(report.get("added", 0)),
        "quarantined": int(report.get("quarantined", 0)),
    }


def collect_details_tag(source: str) -> str:
    """The run tag a collection's per-file report is kept under (JSON)."""
    return f"loopline.collect.{source}"


def figures_tag(
    step_name: str, rows: Mapping[str, int | None] | None, gates: Sequence[Mapping[str, Any]] = ()
) -> dict[str, str]:
    """The run tag holding a step's rows and gates ({} when there is nothing to say)."""
    if rows is None and not gates:
        return {}
    return {TAG_PREFIX + step_name: json.dumps({"rows": rows, "gates": list(gates)}, default=str)}


def _gate(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": result.get("gate") or result.get("name"),
        "metric": result.get("metric"),
        "value": result.get("value"),
        "threshold": result.get("threshold"),
        "passed": bool(result.get("passed")),
        "note": result.get("note"),
    }


def _by_step(meta: MetadataStore, run_id: str) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    metrics: dict[str, dict[str, float]] = {}
    for point in meta.metrics(run_id):  # in logging order: the last value of a key wins
        metrics.setdefault(point["step_name"], {})[point["key"]] = point["value"]
    tags = meta.tracking.get_run(run_id).tags
    recorded = {
        k.removeprefix(TAG_PREFIX): json.loads(v) for k, v in tags.items() if k.startswith(TAG_PREFIX)
    }
    return metrics, recorded


def run_figures(meta: MetadataStore, run: Run) -> dict[str, dict[str, Any]]:
    """Per step name: {"rows", "metrics", "gates", "recorded_in"} (the run whose step run logged
    the metrics and gates: this one, or for a cached step the one that made its outputs)."""
    metrics, recorded = _by_step(meta, run.id)
    others: dict[str, tuple[dict[str, dict[str, float]], dict[str, Any]]] = {}
    out: dict[str, dict[str, Any]] = {}
    for step in run.steps:
        rows = (recorded.get(step.name) or {}).get("rows")
        source, name = run.id, step.name
        if step.status == "cached" and step.outputs:
            made = meta.producers(next(iter(step.outputs.values())))
            if made:
                source, name = made[0].run_id, made[0].name
        if source not in others:
            others[source] = (metrics, recorded) if source == run.id else _by_step(meta, source)
        step_metrics, step_recorded = others[source]
        out[step.name] = {
            "rows": rows,
            "metrics": step_metrics.get(name, {}),
            "gates": [_gate(g) for g in (step_recorded.get(name) or {}).get("gates", [])],
            "recorded_in": source,
        }
    return out


def run_report(meta: MetadataStore, run: Run) -> dict[str, Any]:
    """`run --json` / `show RUN --json`: the run's JSON with each step's rows, metrics and gates."""
    data = run.to_json()
    figures = run_figures(meta, run)
    for step in data["steps"]:
        step |= figures.get(step["name"], {"rows": None, "metrics": {}, "gates": [], "recorded_in": run.id})
    return data
