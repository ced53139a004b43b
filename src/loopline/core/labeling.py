"""Records of labeling: projects, tasks, annotations, leases (who annotates: core/users.py).

They live in core/ because two floors need them and neither may import the other's: the annotate
stage (aggregation, agreement, active learning, labeling functions) works on these records or on
frames built from them, and store/metadata/annotations.py (SQLAlchemy, SQLite and PostgreSQL)
implements `store.contracts.AnnotationRepository` and builds them. The CLI and the server reach
the queue through the Project facade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

TaskType = Literal["classification", "multilabel", "spans", "boxes"]
Source = Literal["human", "rule", "model"]


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


@dataclass
class Lease:
    task: Task
    annotator: str
    expires_at: datetime
    progress: dict[str, int] = field(default_factory=dict)  # {"done": n, "total": m} for this annotator
