"""Shapes of data (REST API and CLI --json), and the client's calls for them.

`ArtifactOut` is `Artifact.to_json()` (`loopline versions --json`); `DatasetOut` adds the number of
versions (`loopline datasets --json`); `DiffOut` is `loopline diff --json`, `HeadOut` `loopline
head --json`, `LineageOut` `loopline lineage --json`. Rows are JSON-ready dicts (dates as ISO text).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from loopline.api.paging import Page
from loopline.api.transport import Transport

if TYPE_CHECKING:
    from loopline.core.types import Artifact, StepRun
    from loopline.pipeline.lineage import Node

Row = dict[str, Any]

_CONFIG = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class ArtifactOut(BaseModel):
    """One artifact, as a version of its name when it is seen through one."""

    model_config = _CONFIG

    id: str
    kind: str
    blob: str
    size: int
    rows: int | None = None
    # `schema` on the wire (the CLI's key); not a field name pydantic lets a model have
    columns: dict[str, str] | None = Field(None, alias="schema", description="column -> dtype")
    name: str | None = None
    version: int | None = None
    created_at: str | None = None
    source: str | None = Field(None, description="what `add` read, or step:NAME")
    original_blob: str | None = None
    original_name: str | None = None

    @classmethod
    def of(cls, art: Artifact) -> ArtifactOut:
        return cls.model_validate(_fields(art))


class DatasetOut(ArtifactOut):
    """A name's latest version and how many versions it has."""

    versions: int

    @classmethod
    def of_latest(cls, art: Artifact, versions: int) -> DatasetOut:
        return cls.model_validate(_fields(art) | {"versions": versions})


def _fields(art: Artifact) -> dict[str, Any]:
    """`Artifact.to_json()` without dataclasses.asdict's deep copy (a page lists hundreds)."""
    data = {f.name: getattr(art, f.name) for f in dataclasses.fields(art)}
    data["created_at"] = art.created_at.isoformat() if art.created_at else None
    return data


class ProducerOut(BaseModel):
    """The step run that made an artifact (none for `loopline add`)."""

    model_config = _CONFIG

    step: str
    run_id: str
    uses: str
    status: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    params: dict[str, Any]

    @classmethod
    def of(cls, step: StepRun) -> ProducerOut:
        return cls(
            step=step.name,
            run_id=step.run_id,
            uses=step.uses,
            status=step.status,
            inputs=dict(step.inputs),
            outputs=dict(step.outputs),
            params=dict(step.params),
        )


class VersionOut(BaseModel):
    """One version: its artifact (schema, rows, source), the version before it, the step run
    that made it, and where the rows kept out of it went (quarantine tables)."""

    model_config = _CONFIG

    artifact: ArtifactOut
    parent: ArtifactOut | None
    producer: ProducerOut | None
    quarantine: list[ArtifactOut]

    @classmethod
    def of(cls, info: dict[str, Any]) -> VersionOut:
        return cls(
            artifact=ArtifactOut.of(info["artifact"]),
            parent=ArtifactOut.of(info["parent"]) if info["parent"] is not None else None,
            producer=ProducerOut.of(info["producer"]) if info["producer"] is not None else None,
            quarantine=[ArtifactOut.of(a) for a in info["quarantine"]],
        )


class QuarantinedRow(BaseModel):
    """A row kept out, and why: a collect source's raw record (`_origin` file, `_line`, `_raw`)
    or a clean step's input row (`_row`, `_rule`)."""

    model_config = _CONFIG

    reason: str | None
    rule: str | None = None
    origin: str | None = None
    line: int | None = None
    row: Row

    @classmethod
    def of(cls, row: Row) -> QuarantinedRow:
        line = row.get("_line", row.get("_row"))
        return cls(
            reason=row.get("_reason"),
            rule=row.get("_rule"),
            origin=row.get("_origin"),
            line=line if isinstance(line, int) else None,
            row=row,
        )


class DiffSide(BaseModel):
    model_config = _CONFIG

    version: int | None
    id: str


class DiffOut(BaseModel):
    """Two versions of one name: columns and items added, removed and changed, with a sample
    (rows of a table; paths of a blob set)."""

    model_config = _CONFIG

    name: str | None
    old: DiffSide
    new: DiffSide
    kind: str
    key: list[str] | None = None
    columns_added: list[str] = []
    columns_removed: list[str] = []
    columns_retyped: dict[str, dict[str, str]] = Field(default_factory=dict, description="column -> old, new")
    rows: dict[str, int]
    added: int
    removed: int
    changed: int
    unchanged: int
    sample: dict[str, list[Any]]


class HeadOut(BaseModel):
    """`loopline head --json`: the artifact and its first rows."""

    model_config = _CONFIG

    artifact: ArtifactOut
    rows: list[Row]


class LineageNodeOut(BaseModel):
    """An ancestor or descendant; `parent` is the node it hangs under, `depth` how far."""

    model_config = _CONFIG

    id: str
    name: str | None
    version: int | None
    kind: str
    step: str | None
    run_id: str | None
    depth: int
    parent: str


class TraceOut(BaseModel):
    """A traced row in one table on the way back: the row, and the raw file and line it was
    read from when collect recorded them (`_origin`)."""

    model_config = _CONFIG

    id: str
    name: str | None
    version: int | None
    row: Row
    origin: str | None
    file: str | None
    line: int | None


class LineageOut(BaseModel):
    """Ancestors and descendants of an artifact; `trace`: one of its rows followed back to the
    raw line (empty unless a row was asked for)."""

    model_config = _CONFIG

    artifact: ArtifactOut
    ancestors: list[LineageNodeOut]
    descendants: list[LineageNodeOut]
    trace: list[TraceOut] = []

    @classmethod
    def of(cls, art: Artifact, ancestors: Node, descendants: Node, trace: list[Row]) -> LineageOut:
        return cls(
            artifact=ArtifactOut.of(art),
            ancestors=[LineageNodeOut.model_validate(n) for n in ancestors.flat()],
            descendants=[LineageNodeOut.model_validate(n) for n in descendants.flat()],
            trace=[TraceOut.model_validate(t) for t in trace],
        )


class AddedOut(BaseModel):
    """`loopline add --json`: the version now current, and whether this add made it."""

    model_config = _CONFIG

    name: str
    version: int
    created: bool = Field(description="False: the latest version held this content already")
    artifact_id: str
    kind: str
    files: int
    hashed: int = Field(description="files read and hashed (not answered by the stat cache)")


class DataCalls(Transport):
    """`loopline.Client`'s calls of /api/v1 for data."""

    def datasets(self) -> Iterator[DatasetOut]:
        return (DatasetOut.model_validate(d) for d in self._pages("/datasets"))

    def versions(self, dataset: str) -> Iterator[ArtifactOut]:
        return (ArtifactOut.model_validate(a) for a in self._pages(f"/datasets/{dataset}/versions"))

    def version(self, dataset: str, version: int) -> VersionOut:
        return VersionOut.model_validate(self._get(f"/datasets/{dataset}/versions/{version}"))

    def items(
        self, dataset: str, version: int, *, limit: int | None = None, page_token: str | None = None
    ) -> Page[Row]:
        """One page of a version's rows (pass next_page_token back for the next)."""
        params = {"limit": limit, "page_token": page_token}
        return Page[Row].model_validate(self._get(f"/datasets/{dataset}/versions/{version}/items", params))

    def quarantine(self, dataset: str, version: int) -> Iterator[QuarantinedRow]:
        path = f"/datasets/{dataset}/versions/{version}/quarantine"
        return (QuarantinedRow.model_validate(r) for r in self._pages(path))

    def diff(self, dataset: str, a: int, b: int, key: list[str] | None = None) -> DiffOut:
        return DiffOut.model_validate(self._get(f"/datasets/{dataset}/diff", {"a": a, "b": b, "key": key}))

    def lineage(self, ref: str, *, item: str | None = None, row: int | None = None) -> LineageOut:
        return LineageOut.model_validate(self._get("/lineage", {"ref": ref, "item": item, "row": row}))
