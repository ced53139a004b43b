"""A Project's labeling: projects, the queue, crowd consensus, label errors,
pre-labels and active learning."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from datetime import datetime

    from loopline.core.labeling import Annotation, LabelProject, Lease, Source
    from loopline.project._stores import Stores
    from loopline.wiring.annotate import Labeling
    from loopline.wiring.annotate_automation import LabelAutomation


class Annotate:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._agreements: dict[tuple[str, int], dict[str, Any]] = {}

    # -- annotate: labeling projects (the queue's contract: store/contracts) ---------------
    @cached_property
    def labeling(self) -> Labeling:
        from loopline.wiring.annotate import Labeling

        return Labeling(self.stores.meta, self.stores.blobs, self.stores.runner)

    def annotate_create(
        self, name: str, dataset_ref: str, labels: Sequence[str], **options: Any
    ) -> tuple[LabelProject, int]:
        """A labeling project on a dataset version, one task per item; options: task_type,
        overlap, gold_share, instructions, annotator_limit, lease_seconds, text_field."""
        return self.labeling.create(name, self.stores.resolve(dataset_ref), labels=list(labels), **options)

    def annotate_extend(self, name: str, dataset_ref: str) -> int:
        """Queue the items of a newer dataset version that have no task yet."""
        return self.labeling.extend(name, self.stores.resolve(dataset_ref))

    def annotate_projects(self) -> list[LabelProject]:
        return self.stores.meta.annotations.list_projects()

    def next_task(self, project: str, annotator: str, now: datetime | None = None) -> Lease | None:
        return self.stores.meta.annotations.next_task(project, annotator, now or _utcnow())

    def submit(
        self,
        project: str,
        task_id: int,
        annotator: str,
        label: Any,
        seconds: float = 0.0,
        *,
        source: Source = "human",
        now: datetime | None = None,
    ) -> Annotation:
        repo = self.stores.meta.annotations
        return repo.submit(project, task_id, annotator, label, seconds, now or _utcnow(), source)

    def skip(self, project: str, task_id: int, annotator: str, now: datetime | None = None) -> None:
        self.stores.meta.annotations.skip(project, task_id, annotator, now or _utcnow())

    def annotate_status(self, name: str) -> dict[str, Any]:
        return self.labeling.status(name)

    def annotate_gold(self, name: str, path: Path, fmt: str | None = None) -> int:
        return self.labeling.gold_file(name, path, fmt)

    def annotate_import(
        self, name: str, path: Path, fmt: str | None = None, duplicates: str = "keep"
    ) -> dict[str, Any]:
        """Answers of a file; duplicates: keep (every repeat counts), first, last or error."""
        return self.labeling.import_file(name, path, fmt, duplicates)

    def annotate_import_text(
        self, name: str, text: str, fmt: str, duplicates: str = "keep"
    ) -> dict[str, Any]:
        """`annotate_import` of a file's text (csv, jsonl or labelstudio)."""
        return self.labeling.import_text(name, text, fmt, duplicates)

    def annotate_export(self, name: str, path: Path, fmt: str | None = None) -> tuple[Path, int]:
        return self.labeling.export_file(name, path, fmt)

    def aggregate(
        self, name: str, method: str = "dawid_skene", policy: dict[str, Any] | None = None, **options: Any
    ) -> dict[str, Any]:
        """Write the labels artifact `<name>_labels` (lineage: dataset and answers snapshot);
        options: ties (random, smallest, abstain), seed, max_iter, tol."""
        return self.labeling.aggregate(name, method, policy, **options)

    def annotate_evaluate(
        self, name: str, gold: Path, fmt: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Accuracy of each aggregation method and annotator on a gold file's items (no
        clamping, nothing stored); options: ties, seed, max_iter, tol."""
        return self.labeling.evaluate(name, gold, fmt, **options)

    def agreement(self, name: str) -> dict[str, Any]:
        return self.labeling.agreement(name)

    def agreement_of(self, name: str, answers: int) -> dict[str, Any]:
        """`agreement` of the project when it holds `answers` answers (its status says how many),
        remembered: answers are never changed or taken back, so their count names the set
        (a list page measures every project on it without reading every answer each time)."""
        key = (name, answers)
        found = self._agreements.get(key)
        if found is None:
            found = self.agreement(name)
            if found["annotations"] == answers:  # none arrived in between
                if len(self._agreements) >= 256:
                    self._agreements.clear()
                self._agreements[key] = found
        return found

    # -- annotate: label errors, pre-labels, active learning (wiring/annotate_automation.py) ----
    def annotate_review(self, name: str, features: Any = None, **options: Any) -> dict[str, Any]:
        """Likely label errors (cleanlab, cross-validated) first in the queue, the model's label
        as their suggestion. features: a table ref, a table or an array (None: the task rows);
        options: columns, method, model, cv, seed, suggest."""
        return self._automation.review(name, self._features(features), **options)

    def annotate_prelabel(
        self, name: str, model: Any, features: Any = None, **options: Any
    ) -> dict[str, Any]:
        """A model's labels as suggestions (source "model"). model: an estimator, a registered
        model `NAME[@VERSION|ALIAS]`, or a .skops file; options: columns, min_confidence."""
        return self._automation.prelabel(name, self._model(model), self._features(features), **options)

    def annotate_prioritize(
        self, name: str, model: Any = None, features: Any = None, **options: Any
    ) -> dict[str, Any]:
        """Active learning: the open tasks ranked by uncertainty (options: proba, strategy,
        diversity, k, seed, columns) so the queue serves the most useful first."""
        model = None if model is None else self._model(model)
        return self._automation.prioritize(name, model, self._features(features), **options)

    @cached_property
    def _automation(self) -> LabelAutomation:
        from loopline.wiring.annotate_automation import LabelAutomation

        meta = self.stores.meta
        return LabelAutomation(meta.annotations, lambda aid: list(meta.get_artifact(aid).schema or {}))

    def _features(self, features: Any) -> Any:
        return self.stores.load(features) if isinstance(features, str) else features

    def _model(self, model: Any) -> Any:
        if not isinstance(model, str | Path):
            return model
        if str(model).endswith(".skops"):  # a file, for now: loaded safely (no pickle)
            from loopline.store.models import load_model

            if not Path(model).is_file():
                raise NotFound(f"no model file {model}")
            return load_model(Path(model).read_bytes())
        name, _, ref = str(model).partition("@")  # a registered model, its latest version by default
        return self.stores.registry.load(name, ref or None)

    # -- for the server: one call per page ----------------------------------------------------
    def annotate_overview(self) -> list[tuple[LabelProject, dict[str, Any]]]:
        """Every labeling project with its progress (the managers' list)."""
        repo = self.stores.meta.annotations
        return [(spec, repo.progress(spec.name)) for spec in repo.list_projects()]

    def annotate_report(self, name: str) -> dict[str, Any]:
        """Status (progress, gold accuracy) and agreement of one project (a manager's page)."""
        status = self.annotate_status(name)
        try:
            agreement: dict[str, Any] | None = self.agreement_of(name, status["annotations"])
        except InvalidInput as exc:  # too few answers to measure yet
            agreement = {"note": exc.message}
        return {"status": status, "agreement": agreement}

    def annotate_label_errors(self, name: str) -> list[dict[str, Any]]:
        """The label-error queue: tasks `annotate_review` flagged (their priority in the review
        band), lowest label quality first, each with the label most of its answers give now,
        the votes, the model's suggestion and what the item shows."""
        from collections import Counter

        from loopline.wiring.annotate_automation import REVIEW_BAND

        repo = self.stores.meta.annotations
        spec = repo.get_project(name)
        flagged = [t for t in repo.tasks(name) if t.priority > REVIEW_BAND and t.gold is None]
        if not flagged:
            return []
        wanted = {t.id for t in flagged}
        votes: dict[int, Counter[str]] = {t.id: Counter() for t in flagged}
        for answer in repo.annotations(name):
            if answer.task_id in wanted:
                votes[answer.task_id][_label_key(answer.label)] += 1
        flagged.sort(key=lambda t: (-t.priority, t.id))
        return [
            {
                "task_id": t.id,
                "item_id": t.item_id,
                "text": _item_text(t.data, spec.text_field),
                "given": _given(votes[t.id]),
                "votes": dict(sorted(votes[t.id].items(), key=lambda kv: (-kv[1], kv[0]))),
                "suggested": t.suggestion,
                "quality": max(0.0, min(1.0, 1.0 - (t.priority - REVIEW_BAND))),
                "answers": t.done,
                "reopened": t.extra > 0,
            }
            for t in flagged
        ]

    def blob(self, digest: str) -> bytes:
        """A blob's bytes, verified against their hash (Integrity if they were changed)."""
        return self.stores.blobs.get_bytes(digest)


def _utcnow() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _label_key(label: Any) -> str:
    import json

    return label if isinstance(label, str) else json.dumps(label, sort_keys=True, ensure_ascii=False)


def _given(votes: Any) -> str | None:
    """The label most answers gave (ties: the name that sorts first); None without answers."""
    if not votes:
        return None
    return str(min(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0])


def _item_text(data: dict[str, Any], text_field: str | None, limit: int = 2000) -> str:
    """What an item shows, as text: its text field, a file's path, or the row."""
    import json

    if text_field and text_field in data:
        value = data[text_field]
    elif "blob" in data and "path" in data:
        value = data["path"]
    else:
        value = json.dumps(data, ensure_ascii=False, default=str)
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
