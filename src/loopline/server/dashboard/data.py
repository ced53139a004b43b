"""Dashboard pages: data — datasets, a dataset's versions, one version (schema, a page of its
rows, its quarantined rows with their reasons), a diff of two versions, and lineage as layers of
boxes (each a link) with a row traced back to the raw file and line.

Each page builds the same loopline.api shapes as its /api/v1 endpoint, through the same helpers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from loopline.api.data import ArtifactOut, LineageNodeOut, LineageOut, VersionOut
from loopline.serve.access import Key, Rule, need
from loopline.server.api.data import (
    datasets,
    diff,
    items_page,
    lineage,
    quarantine_page,
    versions,
)
from loopline.server.api.params import PageToken
from loopline.server.dashboard.common import page
from loopline.server.deps import project_of

router = APIRouter(include_in_schema=False)

Dataset = Annotated[str, Path(max_length=300)]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
PREVIEW = 25


@router.get("/data")
def data_page(request: Request) -> Response:
    found = sorted(datasets(project_of(request)), key=lambda d: d.name or "")
    return page(request, "data_datasets.html", datasets=found)


@router.get("/data/{dataset}")
def dataset_page(request: Request, dataset: Dataset) -> Response:
    found = versions(project_of(request), dataset)
    return page(request, "data_versions.html", dataset=dataset, versions=list(reversed(found)))


@router.get("/data/{dataset}/versions/{version}")
def version_page(
    request: Request,
    dataset: Dataset,
    version: VersionPath,
    page_token: PageToken = None,
    q_token: PageToken = None,
) -> Response:
    project = project_of(request)
    info = VersionOut.of(project.version_info(dataset, version))
    art = info.artifact
    rows = items_page(project, art.id, PREVIEW, page_token) if art.kind in ("table", "blobs") else None
    quarantine = quarantine_page(project, dataset, version, PREVIEW, q_token)[1] if info.quarantine else None
    columns = list(rows.items[0]) if rows and rows.items else list(art.columns or {})
    return page(
        request,
        "data_version.html",
        dataset=dataset,
        info=info,
        art=art,
        rows=rows,
        columns=columns,
        quarantine=quarantine,
        page_token=page_token,
        q_token=q_token,
    )


@router.get("/data/{dataset}/diff")
def diff_page(
    request: Request,
    dataset: Dataset,
    a: Annotated[int, Query(ge=1, le=2**31 - 1)],
    b: Annotated[int, Query(ge=1, le=2**31 - 1)],
    key: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> Response:
    result = diff(project_of(request), dataset, a, b, key)
    columns = {
        kind: sorted({c for row in rows if isinstance(row, dict) for c in row})
        for kind, rows in result.sample.items()
    }
    return page(request, "data_diff.html", dataset=dataset, d=result, sample_columns=columns)


def layers(nodes: list[LineageNodeOut]) -> list[list[LineageNodeOut]]:
    """Nodes grouped by depth (1 first)."""
    by_depth: dict[int, list[LineageNodeOut]] = defaultdict(list)
    for node in nodes:
        by_depth[node.depth].append(node)
    return [by_depth[d] for d in sorted(by_depth)]


@router.get("/lineage")
def lineage_page(
    request: Request,
    ref: Annotated[str, Query(min_length=1, max_length=300)],
    item: Annotated[str | None, Query(max_length=200)] = None,
    row: Annotated[int | None, Query(ge=0, le=2**40)] = None,
) -> Response:
    found: LineageOut = lineage(project_of(request), ref, item, row)
    return page(
        request,
        "data_lineage.html",
        ref=ref,
        lin=found,
        # left to right: the furthest ancestors first, the artifact, then its descendants
        ancestor_layers=list(reversed(layers(found.ancestors))),
        descendant_layers=layers(found.descendants),
        label=label,
    )


def label(node: ArtifactOut | LineageNodeOut) -> str:
    return f"{node.name}@{node.version}" if node.name else node.id[:12]


RULES: dict[Key, Rule] = {
    ("GET", "/data"): need("dataset", "read"),
    ("GET", "/data/{dataset}"): need("dataset", "read", "dataset"),
    ("GET", "/data/{dataset}/versions/{version}"): need("dataset", "read", "dataset"),
    ("GET", "/data/{dataset}/diff"): need("dataset", "read", "dataset"),
    ("GET", "/lineage"): need("dataset", "read"),
}
