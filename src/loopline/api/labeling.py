"""Shapes of labeling (REST API and CLI --json), and the client's calls for them.

`LabelingStatus` is `loopline annotate status --json` (one project's progress and gold scores),
`Agreement` is `loopline annotate agreement --json`, `LabelError` a row of the label-error queue
(`loopline annotate label-errors --json`): items that `loopline annotate errors` found likely
mislabelled, worst first, with the model's suggested label.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loopline.api.paging import Page
from loopline.api.transport import Transport

TaskTypeName = Literal["classification", "multilabel", "spans", "boxes"]
Duplicates = Literal["keep", "first", "last", "error"]
SourceName = Literal["human", "rule", "model"]
MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_TEXT = 8_000_000  # characters of a labels file sent whole (`loopline annotate import` remotely)


class LabelProjectOut(BaseModel):
    """A labeling project's settings (what `annotate create` set)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    dataset: str
    dataset_version: int
    artifact_id: str
    task_type: str
    labels: list[str]
    instructions: str
    overlap: int
    gold_share: float
    annotator_limit: int | None
    lease_seconds: int
    text_field: str | None
    created_at: str | None = Field(description="ISO 8601")


class GoldScore(BaseModel):
    """One annotator's answers on gold tasks (accuracy None without any)."""

    model_config = ConfigDict(extra="forbid")

    annotator: str
    gold_answers: int
    gold_correct: int
    gold_accuracy: float | None


class LabelingStatus(BaseModel):
    """Progress of a project: tasks (gold ones apart), complete, answers per annotator."""

    model_config = ConfigDict(extra="forbid")

    project: LabelProjectOut
    tasks: int = Field(description="regular tasks (gold tasks are counted in `gold`)")
    complete: int = Field(description="tasks with all their answers (overlap, plus reopenings)")
    annotations: int
    per_annotator: dict[str, int]
    gold: int
    remaining: int
    gold_accuracy: list[GoldScore]

    @classmethod
    def of(cls, status: dict[str, Any]) -> LabelingStatus:
        return cls.model_validate(status)


class AgreementPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    kappa: float | None = Field(description="Cohen's kappa on the tasks both answered")
    n: int


class ConfusionCell(BaseModel):
    """Answers `given` on tasks whose majority-vote consensus is `true`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    true: str
    given: str
    n: int


class Agreement(BaseModel):
    """Inter-annotator agreement (None where a figure is undefined)."""

    model_config = ConfigDict(extra="forbid")

    project: str
    annotations: int
    tasks: int
    pairable_tasks: int = Field(description="tasks with two answers or more")
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    pairs: list[AgreementPair]
    confusion: list[ConfusionCell]
    note: str | None = Field(None, description="why nothing was measured")

    @classmethod
    def of(cls, report: dict[str, Any]) -> Agreement:
        return cls.model_validate(report)


class AnnotatorRow(BaseModel):
    """An annotator of a project: answers, gold scores, and whether the default gold policy
    (min_gold_accuracy 0.7) flags them."""

    model_config = ConfigDict(extra="forbid")

    name: str
    answers: int
    gold_answers: int
    gold_accuracy: float | None
    flagged: bool


class LabelingReport(BaseModel):
    """One project for its managers: status, annotators, agreement, the label-error queue's size."""

    model_config = ConfigDict(extra="forbid")

    status: LabelingStatus
    annotators: list[AnnotatorRow]
    min_gold_accuracy: float
    agreement: Agreement | None = Field(description="None when it cannot be measured (see note)")
    note: str | None = None
    label_errors: int = Field(description="items in the label-error queue")


class LabelError(BaseModel):
    """An item whose label looks wrong (`annotate errors`), first in the queue for review."""

    model_config = ConfigDict(extra="forbid")

    task_id: int
    item_id: str
    text: str = Field(description="what the annotator sees of the item, as text")
    given: Any = Field(description="the label most answers gave (the one that looks wrong)")
    votes: dict[str, int] = Field(description="answers per label")
    suggested: Any = Field(description="the model's label, None if it suggested none")
    quality: float = Field(description="label quality, 0 (surely wrong) to 1, lowest first")
    answers: int
    reopened: bool = Field(description="the queue asks one more answer of it")


class LabelingCreate(BaseModel):
    """A labeling project on a dataset version (the options of `loopline annotate create`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    dataset: str = Field(min_length=1, max_length=200, description="NAME, NAME@VERSION or an artifact id")
    labels: list[str] = Field(min_length=1, max_length=200)
    task_type: TaskTypeName = "classification"
    overlap: int = Field(1, ge=1, le=100, description="annotators per item")
    gold_share: float = Field(0.0, ge=0.0, le=0.99)
    instructions: str = Field("", max_length=20_000)
    annotator_limit: int | None = Field(None, ge=1, le=10_000_000)
    lease_seconds: int = Field(600, ge=1, le=7 * 86_400)
    text_field: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _labels(self) -> LabelingCreate:
        self.labels = [x.strip() for x in self.labels]
        if any(not x or len(x) > 200 for x in self.labels):
            raise ValueError("labels must be non-empty names of at most 200 characters")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        return self

    def options(self) -> dict[str, Any]:
        """The keyword options of Project.annotate_create."""
        return self.model_dump(exclude={"name", "dataset", "labels"})


class LabelingCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tasks: int
    dataset: str
    version: int


class LabelRow(BaseModel):
    """One answer to import; annotator defaults to who imports."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=500)
    label: str | list[Any] | dict[str, Any]
    annotator: str | None = Field(None, min_length=1, max_length=100)
    seconds: float = Field(0.0, ge=0, le=86_400, allow_inf_nan=False)
    source: SourceName = "human"


class LabelImport(BaseModel):
    """Answers made elsewhere: `rows`, or `labelstudio` (a Label Studio JSON export); all or none."""

    model_config = ConfigDict(extra="forbid")

    rows: list[LabelRow] | None = Field(None, max_length=MAX_IMPORT_ROWS)
    labelstudio: list[dict[str, Any]] | None = Field(None, max_length=MAX_IMPORT_ROWS)
    text: str | None = Field(
        None, max_length=MAX_IMPORT_TEXT, description="a labels file's text, read as `format`"
    )
    format: Literal["csv", "jsonl", "labelstudio"] | None = Field(None, description="the format of `text`")
    duplicates: Duplicates = Field("keep", description="repeats of one annotator on one item")

    @model_validator(mode="after")
    def _one(self) -> LabelImport:
        if sum(x is not None for x in (self.rows, self.labelstudio, self.text)) != 1:
            raise ValueError("give exactly one of rows, labelstudio or text")
        if (self.text is None) != (self.format is None):
            raise ValueError("text needs its format (csv, jsonl or labelstudio), and format needs text")
        return self


class LabelImported(BaseModel):
    """What an import did (`loopline annotate import --json`)."""

    model_config = ConfigDict(extra="forbid")

    added: int
    unchanged: int
    duplicates: Duplicates
    repeated: int
    conflicting: int
    dropped: int


class LabelingCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for labeling."""

    def labeling_projects(self) -> list[LabelingStatus]:
        return [LabelingStatus.model_validate(x) for x in self._pages("/labeling")]

    def labeling_page(self, limit: int | None = None, page_token: str | None = None) -> Page[LabelingStatus]:
        found = self._get("/labeling", {"limit": limit, "page_token": page_token})
        return Page[LabelingStatus].model_validate(found)

    def labeling_report(self, project: str) -> LabelingReport:
        return LabelingReport.model_validate(self._get(f"/labeling/{_quote(project)}"))

    def label_errors(self, project: str) -> list[LabelError]:
        return [
            LabelError.model_validate(x) for x in self._pages(f"/labeling/{_quote(project)}/label-errors")
        ]

    def create_labeling(self, body: LabelingCreate) -> LabelingCreated:
        return LabelingCreated.model_validate(self._post("/labeling", body.model_dump(mode="json")))

    def import_labels(self, project: str, body: LabelImport) -> LabelImported:
        found = self._post(f"/labeling/{_quote(project)}/import", body.model_dump(mode="json"))
        return LabelImported.model_validate(found)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
