"""MLflow's proxied artifact API on loopline's blob store, `server-info`, and the 404 with
`ENDPOINT_NOT_FOUND` for every other route under the MLflow prefixes.

Artifacts are handed out as `mlflow-artifacts:/EXPERIMENT/RUN/artifacts/...` (runs) and
`mlflow-artifacts:/EXPERIMENT/models/MODEL/artifacts/...` (logged models); an upload's bytes go
to the content-addressed blob store and its path into `mlflow_artifacts`, so equal files are
stored once and every read is checked against its hash.
"""

from __future__ import annotations

import posixpath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from loopline.core.errors import InvalidInput, NotFound, Unauthorized
from loopline.core.identity import current
from loopline.serve.access import PUBLIC, Key, Rule
from loopline.server.mlflow.experiments import mlflow_store
from loopline.server.mlflow.protocol import (
    API,
    ARTIFACTS_API,
    EXP_EDIT,
    EXP_READ,
    MLFLOW_PREFIXES,
    AlreadyExists,
    Call,
    endpoint,
    error_response,
    text_in,
)
from loopline.store.metadata.mlflow import check_path

router = APIRouter()
fallback = APIRouter()

_FILES = f"{ARTIFACTS_API}/artifacts"
_BYTES = "application/octet-stream"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

RULES: dict[Key, Rule] = {
    # the handler checks the run or logged model exists and edit on its experiment
    ("PUT", f"{_FILES}/{{artifact_path:path}}"): EXP_EDIT,
    ("GET", f"{_FILES}/{{artifact_path:path}}"): EXP_READ,
    ("GET", _FILES): EXP_READ,
    ("GET", f"{API}/artifacts/list"): EXP_READ,
    ("GET", "/api/3.0/mlflow/server-info"): PUBLIC,
    # every other path under the MLflow prefixes: 404 ENDPOINT_NOT_FOUND, whoever asks
    **{
        (method, f"{prefix}{{rest:path}}"): PUBLIC
        for prefix in MLFLOW_PREFIXES
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    },
}


def listing(call: Call, folder: str) -> list[dict[str, Any]]:
    """The immediate children of folder: files with their size, then sub-folders."""
    files: dict[str, int] = {}
    folders: set[str] = set()
    for relative, _blob, size in mlflow_store(call).files_under(folder):
        head, _, rest = relative.partition("/")
        if rest:
            folders.add(head)
        else:
            files[head] = size
    out: list[dict[str, Any]] = [  # an empty file's size left out, as protobuf JSON (MLflow's) does
        {"path": name, "is_dir": False, **({"file_size": size} if size else {})}
        for name, size in sorted(files.items())
    ]
    return out + [{"path": name, "is_dir": True} for name in sorted(folders - set(files))]


def write_once(call: Call, path: str) -> bool:
    """Check that path is a file of a run (`EXP/RUN/artifacts/...`) or a logged model
    (`EXP/models/ID/artifacts/...`) that exists in EXP, which the caller may edit; True when a
    registered model version comes from it (its files are then never overwritten)."""
    parts = path.split("/")
    store = mlflow_store(call)
    run_id: str | None
    model_id: str | None = None
    if len(parts) >= 4 and parts[2] == "artifacts":
        experiment, run_id = str(store.run(parts[1]).experiment_id), parts[1]
    elif len(parts) >= 5 and parts[1] == "models" and parts[3] == "artifacts":
        model = store.logged_model(parts[2])
        experiment, run_id, model_id = str(model.experiment_id), model.source_run_id, model.model_id
    else:
        raise NotFound(f"no run or logged model holds {path!r}", hint="upload to a run's artifact_uri")
    if experiment != parts[0]:
        raise NotFound(f"{parts[1]} is not in experiment {parts[0]}")
    principal = current()
    if principal is None:
        raise Unauthorized("an upload needs a token")
    principal.require("experiment", "edit", experiment)
    return store.backs_version(run_id, model_id)


def check_writable(call: Call, path: str) -> str:
    """path, once checked that the caller may write it now (write_once) and that it is not a
    file a registered model version comes from; an upload, single or multipart, checks this
    before it reads a byte."""
    if not path:
        raise InvalidInput("an upload needs a file path")
    if write_once(call, path):
        try:
            mlflow_store(call).file(path)
        except NotFound:
            pass
        else:
            raise AlreadyExists(
                f"{path} exists and a registered model version comes from it: its files are write-once",
                hint="log a new run or model and register that",
            )
    return path


@endpoint(router, "PUT", f"{_FILES}/{{artifact_path:path}}", None)
def upload(call: Call) -> dict[str, Any]:
    """Streamed to the blob store as it arrives (bounded memory, whatever the size); a body cut
    off or over its limit leaves no blob and no file."""
    path = check_writable(call, check_path(call.path["artifact_path"]))
    blob, size = call.project.blobs.put_stream(call.chunks)
    mlflow_store(call).put_file(path, blob, size)
    return {}


@endpoint(router, "GET", f"{_FILES}/{{artifact_path:path}}", ())
def download(call: Call) -> Response:
    """Streamed from the blob store, verified before the first byte (and hashed again as sent)."""
    blob, size = mlflow_store(call).file(check_path(call.path["artifact_path"]))
    chunks = call.project.blobs.iter_bytes(blob)  # a sync iterator: read in the thread pool
    return StreamingResponse(chunks, media_type=_BYTES, headers={"Content-Length": str(size)})


@endpoint(router, "GET", _FILES, {"path"})
def list_files(call: Call) -> dict[str, Any]:
    folder = check_path(text_in(call.data.get("path"), "path", required=False, limit=1000))
    found = listing(call, folder)
    return {"files": found} if found else {}


@endpoint(router, "GET", f"{API}/artifacts/list", {"run_id", "run_uuid", "path", "page_token"})
def list_run_artifacts(call: Call) -> dict[str, Any]:
    """The tracking API's listing of a run's artifacts (paths relative to the run's root)."""
    run = mlflow_store(call).run(text_in(call.data.get("run_id") or call.data.get("run_uuid"), "run_id"))
    root = f"{run.experiment_id}/{run.id}/artifacts"
    sub = check_path(text_in(call.data.get("path"), "path", required=False, limit=1000))
    found = listing(call, posixpath.join(root, sub) if sub else root)
    for entry in found:
        entry["path"] = posixpath.join(sub, entry["path"]) if sub else entry["path"]
    return {"root_uri": f"mlflow-artifacts:/{root}", "files": found}


@endpoint(router, "GET", "/api/3.0/mlflow/server-info", ())
def server_info(call: Call) -> dict[str, Any]:
    return {
        "store_type": "loopline",
        "workspaces_enabled": False,
        "multipart_uploads_enabled": True,  # multipart.py
        "multipart_downloads_enabled": False,
    }


async def not_found(request: Request) -> Response:
    return error_response(
        404, "ENDPOINT_NOT_FOUND", f"{request.method} {request.url.path} is not an endpoint of this server"
    )


for _prefix in MLFLOW_PREFIXES:
    fallback.add_route(_prefix + "{rest:path}", not_found, methods=_ALL_METHODS, include_in_schema=False)
