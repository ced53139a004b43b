"""The REST API under /api/v1: data (datasets, versions, items, quarantine, diffs, lineage).

Items and quarantined rows are read a page at a time from the stored table (a lazy scan sliced
at the offset), never the whole version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from loopline.api.data import (
    ArtifactOut,
    DatasetOut,
    DiffOut,
    LineageOut,
    QuarantinedRow,
    Row,
    VersionOut,
)
from loopline.api.paging import Page, clamp_limit, decode_token, page_of
from loopline.serve.access import Key, Rule, need
from loopline.server.api.params import DEFAULT_LIMIT, Limit, PageToken
from loopline.server.deps import project_of

router = APIRouter(prefix="/api/v1", tags=["data"])

VersionNo = Annotated[int, Query(ge=1, le=2**31 - 1)]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
Dataset = Annotated[str, Path(max_length=300)]
KeyColumns = Annotated[list[str] | None, Query(max_length=20, description="key column(s) identifying a row")]


def _paged(items: list[Any], limit: int | None, token: str | None) -> tuple[list[Any], int, int]:
    offset, size = decode_token(token), clamp_limit(limit)
    return items[offset : offset + size + 1], offset, size


def datasets(project: Any) -> list[DatasetOut]:
    return [DatasetOut.of_latest(art, n) for art, n in project.datasets()]


def versions(project: Any, dataset: str) -> list[ArtifactOut]:
    return [ArtifactOut.of(a) for a in project.versions(dataset)]


def diff(project: Any, dataset: str, a: int, b: int, key: list[str] | None = None) -> DiffOut:
    return DiffOut.model_validate(project.diff(f"{dataset}@{a}", f"{dataset}@{b}", key or []))


def lineage(project: Any, ref: str, item: str | None = None, row: int | None = None) -> LineageOut:
    art, ancestors, descendants = project.lineage(ref)
    trace = project.trace(art.id, item, row) if item is not None or row is not None else []
    return LineageOut.of(art, ancestors, descendants, trace)


def items_page(project: Any, ref: str, limit: int | None, token: str | None) -> Page[Row]:
    offset, size = decode_token(token), clamp_limit(limit)
    _, rows = project.head(ref, size + 1, offset)
    return page_of(rows, offset, size)


def quarantine_page(
    project: Any, dataset: Dataset, version: VersionPath, limit: int | None, token: str | None
) -> tuple[ArtifactOut | None, Page[QuarantinedRow]]:
    offset, size = decode_token(token), clamp_limit(limit)
    source, rows = project.quarantine(dataset, version, offset, size + 1)
    page = page_of([QuarantinedRow.of(r) for r in rows], offset, size)
    return (ArtifactOut.of(source) if source is not None else None), page


@router.get("/datasets", response_model=Page[DatasetOut])
def list_datasets(
    request: Request, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[DatasetOut]:
    """Every dataset (and other named artifact) with its latest version, as `loopline datasets --json`."""
    found, offset, size = _paged(datasets(project_of(request)), limit, page_token)
    return page_of(found, offset, size)


@router.get("/datasets/{dataset}/versions", response_model=Page[ArtifactOut])
def list_versions(
    request: Request, dataset: Dataset, limit: Limit = DEFAULT_LIMIT, page_token: PageToken = None
) -> Page[ArtifactOut]:
    """The versions of one name, oldest first, as `loopline versions NAME --json`."""
    found, offset, size = _paged(versions(project_of(request), dataset), limit, page_token)
    return page_of(found, offset, size)


@router.get("/datasets/{dataset}/versions/{version}", response_model=VersionOut)
def get_version(request: Request, dataset: Dataset, version: VersionPath) -> VersionOut:
    """One version: schema, rows, source, the version before it, the step run that made it and
    its quarantine tables."""
    return VersionOut.of(project_of(request).version_info(dataset, version))


@router.get("/datasets/{dataset}/versions/{version}/items", response_model=Page[Row])
def list_items(
    request: Request,
    dataset: Dataset,
    version: VersionPath,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[Row]:
    """A page of the version's rows (a blob set: its files), read from the stored table."""
    return items_page(project_of(request), f"{dataset}@{version}", limit, page_token)


@router.get("/datasets/{dataset}/versions/{version}/quarantine", response_model=Page[QuarantinedRow])
def list_quarantine(
    request: Request,
    dataset: Dataset,
    version: VersionPath,
    limit: Limit = DEFAULT_LIMIT,
    page_token: PageToken = None,
) -> Page[QuarantinedRow]:
    """The rows kept out of this version, each with its reason: the quarantine table the step
    run that made the version wrote beside it (collect: NAME_quarantine; clean: its
    `quarantine` output). Empty for a version `loopline add` made."""
    return quarantine_page(project_of(request), dataset, version, limit, page_token)[1]


@router.get("/datasets/{dataset}/diff", response_model=DiffOut)
def get_diff(
    request: Request, dataset: Dataset, a: VersionNo, b: VersionNo, key: KeyColumns = None
) -> DiffOut:
    """Items added, removed and changed from version a to b, as `loopline diff NAME@A NAME@B --json`."""
    return diff(project_of(request), dataset, a, b, key)


@router.get("/lineage", response_model=LineageOut)
def get_lineage(
    request: Request,
    ref: Annotated[str, Query(min_length=1, max_length=300, description="NAME, NAME@VERSION or an id")],
    item: Annotated[str | None, Query(max_length=200, description="trace this _item_id back")] = None,
    row: Annotated[int | None, Query(ge=0, le=2**40, description="trace this row number back")] = None,
) -> LineageOut:
    """Ancestors and descendants of an artifact, as `loopline lineage --json`; with `item` or
    `row`, that row of it (a prediction of a scores table) traced back to the raw file and line."""
    return lineage(project_of(request), ref, item, row)


RULES: dict[Key, Rule] = {
    ("GET", "/api/v1/datasets"): need("dataset", "read"),
    ("GET", "/api/v1/datasets/{dataset}/versions"): need("dataset", "read", "dataset"),
    ("GET", "/api/v1/datasets/{dataset}/versions/{version}"): need("dataset", "read", "dataset"),
    ("GET", "/api/v1/datasets/{dataset}/versions/{version}/items"): need("dataset", "read", "dataset"),
    ("GET", "/api/v1/datasets/{dataset}/versions/{version}/quarantine"): need("dataset", "read", "dataset"),
    ("GET", "/api/v1/datasets/{dataset}/diff"): need("dataset", "read", "dataset"),
    ("GET", "/api/v1/lineage"): need("dataset", "read"),
}
