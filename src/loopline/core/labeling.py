"""Records and the storage contract of labeling: projects, tasks, annotations, annotators.

They live in core/ because two floors need them and neither may import the other's: the annotate
stage (aggregation, agreement, active learning, labeling functions) works on these records or on
frames built from them, and store/metadata/annotations.py (SQLAlchemy, SQLite and PostgreSQL)
implements `AnnotationRepository` and builds them. The CLI and the server reach the queue through
the Project facade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

TaskType = Literal["classification", "multilabel", "spans", "boxes"]
Source = Literal["human", "rule", "model"]
Role = Literal["annotator", "manager", "admin"]


@dataclass(frozen=True)
class LabelProject:
    name: str
    dataset: str  # artifact name
    dataset_version: int
    artifact_id: str
    task_type: TaskType
    labels: tuple[str, ...]
    instructions: str = ""
    overlap: int = 1  # annotators per item
    gold_share: float = 0.0  # share of gold tasks mixed into each annotator's queue
    annotator_limit: int | None = None  # most tasks one annotator may answer
    lease_seconds: int = 600
    text_field: str | None = None  # which column to show for a table row (None: the whole row)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Task:
    id: int
    project: str
    item_id: str
    data: dict[str, Any]  # what the annotator sees: a table row, or {"path", "blob", "media_type"}
    priority: float = 0.0
    gold: Any = None  # the known answer of a gold task, else None
    suggestion: Any = None  # a pre-label (model-assisted or rule), shown as a suggestion
    suggestion_source: Source | None = None
    done: int = 0  # annotations received
    extra: int = 0  # answers wanted beyond the overlap (reopened for review)


@dataclass(frozen=True)
class Annotation:
    id: int | None
    task_id: int
    annotator: str
    label: Any  # a label name; a list for multilabel; spans/boxes as JSON
    seconds: float = 0.0
    source: Source = "human"
    created_at: datetime | None = None
    item_id: str | None = None
    # the task's suggestion when this answer was given, {"label": ..., "source": ...}, else None
    suggestion: Any = None


@dataclass(frozen=True)
class Annotator:
    name: str
    role: Role = "annotator"
    active: bool = True
    created_at: datetime | None = None


@dataclass
class Lease:
    task: Task
    annotator: str
    expires_at: datetime
    progress: dict[str, int] = field(default_factory=dict)  # {"done": n, "total": m} for this annotator


class AnnotationRepository(Protocol):
    """Storage of labeling. Every method is one transaction; errors are loopline errors:
    NotFound (unknown project/task/annotator/token), InvalidInput (label outside the set),
    Conflict (duplicate submit, expired or foreign lease, overlap already reached)."""

    def create_project(self, project: LabelProject, items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Create the project and one task per (item_id, data); returns the number of tasks."""

    def add_tasks(
        self,
        project: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        *,
        artifact_id: str,
        dataset_version: int,
    ) -> int:
        """Queue the items without a task yet and move the project onto that dataset version."""

    def get_project(self, name: str) -> LabelProject: ...
    def list_projects(self) -> list[LabelProject]: ...

    def add_annotator(self, name: str, role: Role, token_hash: str) -> Annotator: ...
    def annotator_by_token(self, token_hash: str) -> Annotator: ...

    def set_gold(self, project: str, answers: dict[str, Any]) -> int:
        """Mark tasks (by item_id) as gold with their known answer; returns how many."""

    def set_priorities(self, project: str, priorities: dict[str, float]) -> int: ...
    def reopen(self, project: str, item_ids: Sequence[str]) -> int:
        """Ask one more answer of each task (review), so the queue serves it again."""

    def set_suggestions(self, project: str, suggestions: dict[str, Any], source: Source) -> int: ...

    def next_task(self, project: str, annotator: str, now: datetime) -> Lease | None:
        """Lease the next task for this annotator: its own unexpired lease first (resumable),
        else the highest-priority task it has not answered or skipped whose answers plus other
        annotators' live leases are below the overlap. None when nothing is left."""

    def submit(
        self,
        project: str,
        task_id: int,
        annotator: str,
        label: Any,
        seconds: float,
        now: datetime,
        source: Source = "human",
    ) -> Annotation:
        """Store one answer. Needs a live lease of this annotator on the task (source human);
        rule and model answers need none. Never more answers than the overlap."""

    def skip(self, project: str, task_id: int, annotator: str, now: datetime) -> None: ...

    def annotations(self, project: str) -> list[Annotation]: ...
    def tasks(self, project: str) -> list[Task]: ...
    def progress(self, project: str) -> dict[str, Any]:
        """{"tasks", "complete", "annotations", "per_annotator": {name: count}, "gold": n}."""
