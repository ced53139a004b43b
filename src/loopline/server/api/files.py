"""The REST API under /api/v1: a dataset version's files in and out, what `loopline add` and
`loopline checkout` send and fetch on a remote project (docs/remote.md).

An upload is one table file (CSV, Parquet, JSON Lines) as the raw request body, streamed to a
temp file one chunk at a time and bounded before and while it is read (BodyLimit's rule for
this route: `loopline server --max-upload-bytes`), then added exactly as `loopline add` adds a
file; the version's source says `upload:FILE`, never the server's temp folder. A download is the
bytes as added (a table), the stored file (a step's output), or one file of a blob set (`path`),
streamed in bounded memory and verified against its hash by the blob store as it is read; the
`X-Loopline-Blob` header carries that hash so the client checks it again on arrival.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from loopline.api.data import AddedOut
from loopline.core.errors import InvalidInput, LooplineError, NotFound
from loopline.serve.access import Key, Rule, need
from loopline.server.api.data import Dataset, VersionPath
from loopline.server.deps import project_of
from loopline.server.mlflow.protocol import body_chunks

router = APIRouter(prefix="/api/v1", tags=["data"])

FileName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=255,
        pattern=r"^[^/\\\x00-\x1f\x7f]+$",
        description="the uploaded file's name; its suffix says its format (.csv, .parquet, .jsonl)",
    ),
]
MemberPath = Annotated[
    str | None, Query(max_length=4096, pattern=r"^[^\x00]*$", description="a blob set's file: its path")
]

RULES: dict[Key, Rule] = {
    ("POST", "/api/v1/datasets/{dataset}/versions"): need("dataset", "edit", "dataset"),
    ("GET", "/api/v1/datasets/{dataset}/versions/{version}/file"): need("dataset", "read", "dataset"),
}


@router.post("/datasets/{dataset}/versions", response_model=AddedOut)
def upload_version(request: Request, dataset: Dataset, filename: FileName) -> AddedOut:
    """Add the body (one table file named `filename`) as the next version of the dataset, as
    `loopline add FILE --name DATASET`; nothing new, no new version (`created: false`)."""
    if filename in (".", ".."):
        raise InvalidInput(f"{filename!r} is not a file name", hint="e.g. ?filename=people.csv")
    project = project_of(request)
    with tempfile.TemporaryDirectory(prefix="loopline-upload-") as folder:
        target = Path(folder) / filename
        with target.open("wb") as out:
            for chunk in body_chunks(request):
                out.write(chunk)
        try:
            result = project.add(target, dataset, source=f"upload:{filename}")
        except LooplineError as exc:  # where: the upload, not this server's temp folder
            if exc.where and folder in exc.where:
                raise type(exc)(exc.message, where=f"upload:{filename}", hint=exc.hint) from exc
            raise
    return AddedOut.model_validate(result.to_json())


def _file_of(project: Any, dataset: str, version: int, path: str | None) -> tuple[str, str]:
    """(blob digest, file name) of what checkout writes for this version (or this member)."""
    from loopline.store.artifacts import load_manifest

    art = project.version_info(dataset, version)["artifact"]
    if art.kind == "blobs":
        if path is None:
            raise InvalidInput(
                f"{dataset}@{version} is a blob set: ask for one of its files",
                hint=f"?path=FILE; GET /api/v1/datasets/{dataset}/versions/{version}/items lists them",
            )
        entry = next((e for e in load_manifest(project.blobs, art) if e.path == path), None)
        if entry is None:
            raise NotFound(f"{dataset}@{version} has no file {path[:200]!r}", hint="its items list them")
        return entry.blob, Path(entry.path).name
    if path is not None:
        raise InvalidInput(f"{dataset}@{version} is a {art.kind}, one file: drop ?path")
    if art.original_blob and art.original_name:
        return art.original_blob, art.original_name
    suffix = {"table": ".parquet", "model": ".skops"}.get(art.kind, ".json")
    return art.blob, f"{art.name or art.id[:12]}{suffix}"


@router.get("/datasets/{dataset}/versions/{version}/file", response_class=StreamingResponse)
def download_version(
    request: Request, dataset: Dataset, version: VersionPath, path: MemberPath = None
) -> StreamingResponse:
    """The version's file as `loopline checkout` writes it: a table's bytes as added, a step
    output's stored file, or one file (`path`) of a blob set; verified while it is read."""
    project = project_of(request)
    digest, name = _file_of(project, dataset, version, path)
    chunks = project.blobs.iter_bytes(digest)  # raises NotFound / Integrity before a byte is sent
    plain = "".join("_" if c in '\\"' or not c.isprintable() or not c.isascii() else c for c in name)
    headers = {  # an ASCII name for every client, the real one (RFC 6266) for those that read it
        "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Loopline-Blob": digest,
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)
