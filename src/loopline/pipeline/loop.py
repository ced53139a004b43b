"""One turn of the loop, by the policy in loopline.yaml's `loop:` section.

watch production (monitor the deployed model) -> collect and clean what is new -> queue the new
items for annotation, the production model's least certain first (drifted items are the ones it
is unsure of) -> take the crowd's labels -> when enough new labels arrived, or drift fired and
some did -> retrain, evaluate, gate -> register -> promote (staging, then production if the gates
passed and the registry's policy allows) -> a service following the alias swaps models itself.

Each turn is a tracked run in the experiment `loop` (metrics and a `retrained` tag), so the next
turn knows how many labels the last retraining saw: the loop keeps no state of its own.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from loopline.collect.spec import SOURCE_TYPES
from loopline.core.errors import ConfigError, Conflict, InvalidInput, LooplineError, NotFound

log = logging.getLogger(__name__)
EXPERIMENT = "loop"
_KEYS = {"model", "collect", "labeling", "retrain", "promote", "monitor", "watch"}


class LoopHost(Protocol):
    """What a turn needs of the project (the Project facade is one)."""

    def run(self, *, targets: Sequence[str] = ()) -> Any: ...
    def resolve(self, ref: str) -> Any: ...
    def model(self, name: str, ref: Any = None) -> Any: ...
    def monitor(self, model: str, *, alias: str = ..., since: datetime | None = ...) -> dict[str, Any]: ...
    def annotate_projects(self) -> list[Any]: ...
    def annotate_extend(self, name: str, dataset_ref: str) -> int: ...
    def annotate_prioritize(self, name: str, model: Any = None, features: Any = None, **o: Any) -> Any: ...
    def annotate_status(self, name: str) -> dict[str, Any]: ...
    def aggregate(self, name: str, method: str = ..., policy: Any = None) -> dict[str, Any]: ...
    def agreement(self, name: str) -> dict[str, Any]: ...
    def register(self, name: str, artifact_ref: str, **details: Any) -> Any: ...
    def promote(self, name: str, version: int, alias: str, reason: str = "") -> dict[str, Any]: ...
    def start_run(self, experiment: str | None = None, name: str | None = None, **o: Any) -> Any: ...
    def search_runs(
        self,
        filters: Sequence[str] = (),
        *,
        order_by: str | None = ...,
        experiment: str | None = ...,
        limit: int = ...,
    ) -> list[Any]: ...


@dataclass(frozen=True)
class LoopPolicy:
    model: str
    train: str  # the pipeline target that trains, evaluates and gates
    collect: tuple[str, ...] = ()  # targets that collect and clean (and compute features)
    artifact: str = "model"  # what `train` names the fitted model
    labeling: str | None = None  # the labeling project whose dataset collection grows
    features: str | None = None  # a table (item_id + features) for active learning
    method: str = "dawid_skene"
    label_policy: Mapping[str, Any] = field(default_factory=dict)
    batch: int | None = None  # how many open tasks active learning ranks to the front
    min_new_labels: int = 100
    on_drift: bool = True
    promote: tuple[str, ...] = ("staging", "production")
    monitor: bool = True
    interval: float = 300.0

    @classmethod
    def parse(cls, section: Mapping[str, Any], where: Callable[[str], str]) -> LoopPolicy:
        if not section:
            raise ConfigError(
                "the project declares no loop",
                where=where("loop"),
                hint="add a `loop:` section with at least `model:` and `retrain: {target: STEP}`",
            )
        unknown = set(section) - _KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(
                f"unknown key {key!r} in loop",
                where=where(f"loop.{key}"),
                hint=f"keys are: {', '.join(sorted(_KEYS))}",
            )

        def mapping(key: str) -> dict[str, Any]:
            value = section.get(key) or {}
            if not isinstance(value, dict):
                raise ConfigError(f"`loop.{key}` must be a mapping", where=where(f"loop.{key}"))
            return value

        def names(value: Any, key: str) -> tuple[str, ...]:
            value = [value] if isinstance(value, str) else value or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"`{key}` must be a list of names", where=where(key))
            return tuple(value)

        labeling, retrain, watch = mapping("labeling"), mapping("retrain"), mapping("watch")
        model, target = section.get("model"), retrain.get("target")
        if not isinstance(model, str) or not isinstance(target, str):
            raise ConfigError(
                "the loop needs `model:` (a registered model name) and `retrain: {target: STEP}`",
                where=where("loop"),
            )
        try:
            return cls(
                model=model,
                train=target,
                collect=names(section.get("collect"), "loop.collect"),
                artifact=str(retrain.get("artifact", "model")),
                labeling=labeling.get("project"),
                features=labeling.get("features"),
                method=str(labeling.get("method", "dawid_skene")),
                label_policy=dict(labeling.get("policy") or {}),
                batch=None if labeling.get("batch") is None else int(labeling["batch"]),
                min_new_labels=int(retrain.get("min_new_labels", 100)),
                on_drift=bool(retrain.get("on_drift", True)),
                promote=names(section.get("promote", ["staging", "production"]), "loop.promote"),
                monitor=bool(section.get("monitor", True)),
                interval=float(watch.get("interval", 300)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"a number in `loop` is not a number: {exc}", where=where("loop")) from exc


def _last_turn(host: LoopHost, *filters: str) -> Any:
    try:
        runs = host.search_runs(filters, experiment=EXPERIMENT, order_by="start_time DESC", limit=1)
    except NotFound:  # no turn has run yet
        return None
    return runs[0] if runs else None


def _labels_at_last_retrain(host: LoopHost) -> int:
    last = _last_turn(host, "tags.retrained = 'yes'")
    return int(last.metrics.get("labels", 0)) if last else 0


def _latest(host: LoopHost, model: str) -> Any:
    try:
        return host.model(model)
    except NotFound:
        return None


def _deployed(host: LoopHost, model: str) -> Any:
    try:
        return host.model(model, "production")
    except NotFound:
        return None


def _watch(host: LoopHost, policy: LoopPolicy, since: datetime | None) -> dict[str, Any] | None:
    if not policy.monitor or _deployed(host, policy.model) is None:
        return None
    try:
        report = host.monitor(policy.model, alias="production", since=since)
    except NotFound as exc:  # nothing served yet
        return {"note": exc.message}
    drift = report.get("drift") or {}
    return {
        "version": report.get("version"),
        "rows": (report.get("window") or {}).get("rows", 0),
        "drifted": bool(drift.get("drifted")),
        "drift_share": drift.get("share"),
        "alerts": report.get("alerts", []),
        "performance": report.get("performance"),
        "estimated_performance": report.get("estimated_performance"),
        "report_id": report.get("report_id"),
    }


def _queue(host: LoopHost, policy: LoopPolicy) -> dict[str, Any]:
    """New items into the labeling queue, ranked by the production model's uncertainty."""
    name = policy.labeling
    assert name is not None
    spec = next((p for p in host.annotate_projects() if p.name == name), None)
    if spec is None:
        raise NotFound(
            f"the loop labels with project {name!r}, which does not exist",
            hint=f"create it: loopline annotate create {name} --dataset DATASET --labels …",
        )
    queued = host.annotate_extend(name, spec.dataset)
    ranked = 0
    if policy.features and _deployed(host, policy.model) is not None:
        result = host.annotate_prioritize(name, f"{policy.model}@production", policy.features, k=policy.batch)
        ranked = int(result.get("prioritized", 0))
    return {"project": name, "queued": queued, "ranked": ranked}


def _labels(host: LoopHost, policy: LoopPolicy) -> dict[str, Any]:
    name = policy.labeling
    assert name is not None
    try:
        result = host.aggregate(name, policy.method, policy.label_policy or None)
    except InvalidInput as exc:  # no answers yet
        return {"labels": 0, "note": exc.message}
    try:
        kappa = host.agreement(name).get("fleiss_kappa")
    except InvalidInput:  # too few answers per item to measure
        kappa = None
    return {
        "labels": int(result["items"]),
        "artifact": f"{result['labels']['name']}@{result['labels']['version']}",
        "flagged": result.get("flagged", []),
        "fleiss_kappa": kappa,
    }


def _retrain(host: LoopHost, policy: LoopPolicy, reason: str) -> dict[str, Any]:
    run = host.run(targets=[policy.train])
    out: dict[str, Any] = {"run_id": run.id, "status": run.status, "promoted": []}
    if run.status != "succeeded":
        out["error"] = next((s.error for s in run.steps if s.error), None)
        return out
    latest = _latest(host, policy.model)
    if latest is not None and latest.artifact_id == host.resolve(policy.artifact).id:
        out["unchanged"] = latest.version  # the same model again: nothing to register or promote
        return out
    version = host.register(policy.model, policy.artifact, reason=reason)
    out |= {"version": version.version, "gates_passed": version.gates_passed, "metrics": version.metrics}
    for alias in policy.promote:
        if alias != "staging" and not version.gates_passed:
            out["refused"] = f"{alias}: the gates did not pass"
            break
        try:
            host.promote(policy.model, version.version, alias, reason=f"loop: {reason}")
        except (Conflict, InvalidInput) as exc:  # the registry's policy says no (approvals…)
            out["refused"] = f"{alias}: {exc.message}"
            break
        out["promoted"].append(alias)
    return out


def turn(host: LoopHost, policy: LoopPolicy, *, since: datetime | None = None) -> dict[str, Any]:
    """One turn; returns what happened (data versions, labels, drift, retraining, promotion)."""
    if since is None:  # production since the last turn looked
        last = _last_turn(host)
        since = last.started_at if last else None
    started = datetime.now(UTC)
    report: dict[str, Any] = {"started": started.isoformat(), "watch": _watch(host, policy, since)}
    if policy.collect:
        run = host.run(targets=policy.collect)
        made = sorted({name for s in run.steps if s.status == "ran" for name in s.outputs})
        report["collect"] = {
            "run_id": run.id,
            "status": run.status,
            "ran": [s.name for s in run.steps if s.status == "ran"],
            "cached": sum(s.status == "cached" for s in run.steps),
            "versions": {name: host.resolve(name).version for name in made},
        }
        if run.status != "succeeded":
            raise LooplineError(
                f"collection failed in run {run.id}", hint=f"loopline show {run.id} says which step"
            )
    seen = _labels_at_last_retrain(host)
    if policy.labeling:
        report["queue"] = _queue(host, policy)
        report["labels"] = _labels(host, policy)
    labels = int(report.get("labels", {}).get("labels", 0))
    new = max(labels - seen, 0)
    drifted = bool((report["watch"] or {}).get("drifted"))
    reason = None
    if policy.labeling is None:
        reason = "scheduled retraining (no labeling in the loop)"
    elif new >= policy.min_new_labels:
        reason = f"{new} new labels (at least {policy.min_new_labels})"
    elif drifted and policy.on_drift and new > 0:
        reason = f"drift in production and {new} new labels"
    report["new_labels"] = new
    report["retrain"] = _retrain(host, policy, reason) if reason else None
    report["reason"] = reason or f"waiting: {new} new labels of {policy.min_new_labels}" + (
        "" if not drifted else ", drift seen"
    )
    retrained = bool(report["retrain"] and report["retrain"]["status"] == "succeeded")
    with host.start_run(EXPERIMENT, "turn", tags={"retrained": "yes" if retrained else "no"}) as tracked:
        figures = {"labels": labels if retrained else seen, "new_labels": new, "drifted": float(drifted)}
        if report["watch"] and report["watch"].get("drift_share") is not None:
            figures["drift_share"] = float(report["watch"]["drift_share"])
        tracked.log_metrics(figures)
        report["turn_run"] = tracked.id
    return report


def describe(report: Mapping[str, Any]) -> list[str]:
    """A turn in a few plain lines, for the CLI and the demo."""
    lines = []
    watch = report.get("watch")
    if watch and "rows" in watch:
        share = watch.get("drift_share")
        shown = f" ({share:.0%} of features)" if isinstance(share, float) else ""
        state = "DRIFT" if watch["drifted"] else "no drift"
        lines.append(f"watch: version {watch['version']}, {watch['rows']} predictions, {state}{shown}")
        lines += [f"alert: {a.get('rule', a)}" for a in watch.get("alerts") or []]
    if report.get("collect"):
        ran = ", ".join(report["collect"]["ran"]) or "nothing new"
        lines.append(f"collect: ran {ran}; {report['collect']['cached']} steps cached")
        made = report["collect"].get("versions") or {}
        if made:
            lines.append("data: " + ", ".join(f"{name}@{v}" for name, v in made.items()))
    if report.get("queue"):
        queue = report["queue"]
        lines.append(
            f"queue: {queue['queued']} new tasks in {queue['project']}, "
            f"{queue['ranked']} ranked by uncertainty"
        )
    if report.get("labels"):
        labels = report["labels"]
        quality = ""
        if labels.get("fleiss_kappa") is not None:
            quality = f"; Fleiss' kappa {labels['fleiss_kappa']:.3f}"
        if labels.get("flagged"):
            quality += f"; excluded by the gold policy: {', '.join(labels['flagged'])}"
        lines.append(f"labels: {labels['labels']} items labeled, {report['new_labels']} new{quality}")
    retrain = report.get("retrain")
    if retrain is None:
        return [*lines, f"retrain: no ({report['reason']})"]
    if retrain["status"] != "succeeded":
        return [*lines, f"retrain: FAILED in run {retrain['run_id']}: {retrain.get('error')}"]
    if "unchanged" in retrain:
        return [*lines, f"retrain: {report['reason']} -> the same model as version {retrain['unchanged']}"]
    lines.append(
        f"retrain: {report['reason']} -> version {retrain['version']} "
        f"(gates passed: {retrain['gates_passed']})"
    )
    refused = f"; refused {retrain['refused']}" if retrain.get("refused") else ""
    return [*lines, f"promoted to {', '.join(retrain['promoted']) or 'nowhere'}{refused}"]


# -- loop --watch: a turn on an interval, or as soon as a source folder changes ---------------
def source_signature(sources: Mapping[str, Any], root: Path) -> tuple[int, int]:
    """(files, newest mtime) over the folder and file sources' roots: cheap enough to poll."""
    count = newest = 0
    for spec in sources.values():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if not isinstance(kind, str) or kind not in SOURCE_TYPES or not SOURCE_TYPES[kind].reads_root:
            continue
        base = root / str(spec.get("root", "."))
        pattern = str(spec.get("glob", "*"))
        for folder, _, files in os.walk(base):
            for name in fnmatch.filter(files, pattern.rsplit("/", 1)[-1]):
                count += 1
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return count, newest


def watch(
    step: Callable[[], None],
    changed: Callable[[], object],
    interval: float,
    *,
    poll: float = 2.0,
    turns: int | None = None,
) -> None:
    """Run `step` now, then again after `interval` seconds or as soon as `changed()` differs."""
    done = 0
    while turns is None or done < turns:
        mark = changed()
        step()
        done += 1
        deadline = time.monotonic() + interval
        while (turns is None or done < turns) and time.monotonic() < deadline:
            time.sleep(min(poll, max(deadline - time.monotonic(), 0)))
            if changed() != mark:
                log.info("new data landed: starting a turn")
                break
