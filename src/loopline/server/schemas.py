"""Request and response bodies of the REST API (pydantic v2), and their builders from records.

What an annotator sees of a task is shaped here: never the gold answer, and the item reduced to
one of three views (text, image, row) that the page renders as text, never as HTML.
"""

from __future__ import annotations

import math
import mimetypes
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from loopline.core.labeling import Annotation, LabelProject, Lease, Task

ItemKind = Literal["text", "image", "row", "blob"]


class SubmitBody(BaseModel):
    label: Any = Field(description="a label of the project's set; a list for multilabel")
    seconds: float = Field(0.0, ge=0, le=86_400, description="time spent on the task")

    @field_validator("seconds")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("seconds must be a finite number")
        return value


class ProjectOut(BaseModel):
    name: str
    dataset: str
    dataset_version: int
    task_type: str
    labels: list[str]
    instructions: str
    overlap: int
    lease_seconds: int

    @classmethod
    def of(cls, project: LabelProject) -> ProjectOut:
        return cls(
            name=project.name,
            dataset=project.dataset,
            dataset_version=project.dataset_version,
            task_type=project.task_type,
            labels=list(project.labels),
            instructions=project.instructions,
            overlap=project.overlap,
            lease_seconds=project.lease_seconds,
        )


class ItemOut(BaseModel):
    kind: ItemKind
    text: str | None = None  # kind text: the field to read (None: the text is the blob at blob_url)
    blob_url: str | None = None  # kind image or blob: where the bytes are
    media_type: str | None = None
    path: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)  # the row (or the other fields), as text


class TaskOut(BaseModel):
    id: int
    item_id: str
    item: ItemOut
    suggestion: Any = None
    suggestion_source: str | None = None


class LeaseOut(BaseModel):
    project: str
    task: TaskOut | None
    expires_at: datetime | None = None
    progress: dict[str, int] = Field(default_factory=dict)


class AnnotationOut(BaseModel):
    id: int | None
    task_id: int
    annotator: str
    label: Any
    seconds: float
    source: str
    created_at: datetime | None = None
    suggestion: Any = None  # the suggestion shown with the answer: {"label", "source"}


class AnnotatorOut(BaseModel):
    name: str
    role: str


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def item_view(task: Task, text_field: str | None) -> ItemOut:
    data = dict(task.data)
    if "blob" in data and isinstance(data.get("blob"), str):
        path = _as_text(data.get("path"))
        media = (
            _as_text(data.get("media_type")) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        )
        kind: ItemKind = (
            "image" if media.startswith("image/") else "text" if media.startswith("text/") else "blob"
        )
        return ItemOut(
            kind=kind,
            blob_url=f"/blobs/{data['blob']}",
            media_type=media,
            path=path or None,
            fields={k: _as_text(v) for k, v in data.items() if k not in ("blob", "media_type", "path")},
        )
    if text_field and text_field in data:
        return ItemOut(
            kind="text",
            text=_as_text(data[text_field]),
            fields={k: _as_text(v) for k, v in data.items() if k != text_field},
        )
    return ItemOut(kind="row", fields={k: _as_text(v) for k, v in data.items()})


def lease_out(project: str, lease: Lease | None, text_field: str | None) -> LeaseOut:
    if lease is None:
        return LeaseOut(project=project, task=None)
    task = lease.task
    return LeaseOut(
        project=project,
        task=TaskOut(
            id=task.id,
            item_id=task.item_id,
            item=item_view(task, text_field),
            suggestion=task.suggestion,
            suggestion_source=task.suggestion_source if task.suggestion is not None else None,
        ),
        expires_at=lease.expires_at,
        progress=dict(lease.progress),
    )


def annotation_out(annotation: Annotation) -> AnnotationOut:
    return AnnotationOut(
        id=annotation.id,
        task_id=annotation.task_id,
        annotator=annotation.annotator,
        label=annotation.label,
        seconds=annotation.seconds,
        source=annotation.source,
        created_at=annotation.created_at,
        suggestion=annotation.suggestion,
    )
