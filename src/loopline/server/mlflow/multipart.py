"""MLflow's multipart artifact upload on loopline's blob store: what the MLflow client does for a
large file when `server-info` says `multipart_uploads_enabled` (or the client sets
MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true), from MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE up.

1. `POST mlflow-artifacts/mpu/create/FOLDER` {path: the client's local file, num_parts}: the
   file will be FOLDER/basename(path); edit on the run's experiment is checked as for a single
   upload. The answer holds one URL per part, served by this server.
2. The client PUTs each part (in parallel, any order) to its URL with plain `requests.put`: no
   tracking token goes with it, so the URL carries its own, as a presigned URL does: an expiry
   and an HMAC of (upload, part, expiry) under a secret of that upload alone. The creator's
   role is checked again on every part (a disabled user's upload stops).
3. `POST mpu/complete/FOLDER` {path, upload_id, parts}: every part 1..num_parts, each with the
   ETag its PUT returned, is streamed in order into one content-addressed blob, and the file
   row written; `POST mpu/abort/FOLDER` drops the upload. Unfinished uploads are swept after
   24 hours. Parts are staged on disk (store/blobs_multipart.py): memory stays a chunk per
   request, whatever the file's size.
"""

from __future__ import annotations

import posixpath
from typing import Any, cast

from fastapi import APIRouter, Response

from loopline.core.errors import Forbidden, InvalidInput, NotFound
from loopline.core.identity import Auth, Principal, acting, current, local_principal
from loopline.serve.access import PUBLIC, Key, Rule
from loopline.server.mlflow.artifacts import check_writable, write_once
from loopline.server.mlflow.experiments import mlflow_store
from loopline.server.mlflow.protocol import (
    ARTIFACTS_API,
    EXP_EDIT,
    Call,
    endpoint,
    integer_in,
    list_in,
    text_in,
)
from loopline.store.blobs_multipart import MAX_PARTS, PartStaging, Upload
from loopline.store.metadata.mlflow import check_path

router = APIRouter()

_MPU = f"{ARTIFACTS_API}/mpu"
PARTS = f"{_MPU}/parts"
PART_URL_TTL = 3600  # seconds a part URL may be used, from create
STAGING_DIR = (".loopline", "multipart")  # under the project's root

RULES: dict[Key, Rule] = {
    # the handlers check the run or logged model exists and edit on its experiment
    ("POST", f"{_MPU}/create/{{artifact_path:path}}"): EXP_EDIT,
    ("POST", f"{_MPU}/complete/{{artifact_path:path}}"): EXP_EDIT,
    ("POST", f"{_MPU}/abort/{{artifact_path:path}}"): EXP_EDIT,
    # no token comes with a part: its URL's signature is checked, then the creator's role
    ("PUT", f"{PARTS}/{{upload_id}}/{{part_number}}"): PUBLIC,
}


def staging(call: Call) -> PartStaging:
    return PartStaging(call.project.root.joinpath(*STAGING_DIR))


def target(call: Call) -> str:
    """The artifact path an mpu call names: its URL's folder and the base name of `path` (the
    client's local file, as MLflow's own server takes it)."""
    folder = check_path(call.path["artifact_path"])
    local = text_in(call.data.get("path"), "path", limit=4096)
    name = local.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return check_path(posixpath.join(folder, name) if folder else name)


def _open(call: Call) -> tuple[PartStaging, Upload]:
    """The upload a complete or abort names, once checked it is the one for this path."""
    store = staging(call)
    path = target(call)
    upload = store.get(text_in(call.data.get("upload_id"), "upload_id", limit=100))
    if upload.path != path:
        raise InvalidInput(f"upload {upload.id} is of {upload.path}, not {path}")
    return store, upload


@endpoint(router, "POST", f"{_MPU}/create/{{artifact_path:path}}", {"path", "num_parts"})
def create(call: Call) -> dict[str, Any]:
    path = check_writable(call, target(call))
    parts = integer_in(call.data.get("num_parts"), "num_parts", 1)
    if not 1 <= parts <= MAX_PARTS:
        raise InvalidInput(f"num_parts must be 1 to {MAX_PARTS}, not {parts}")
    principal = current()
    assert principal is not None  # check_writable refused an anonymous caller
    store = staging(call)
    store.sweep()
    upload = store.create(path, parts, principal.name, principal.auth)
    expires = int(store.clock()) + PART_URL_TTL
    base = f"{call.base_url.rstrip('/')}{PARTS}/{upload.id}"
    credentials = [
        {
            "url": f"{base}/{n}?expires={expires}&signature={store.sign(upload, n, expires)}",
            "part_number": n,
            "headers": {},
        }
        for n in range(1, parts + 1)
    ]
    return {"upload_id": upload.id, "credentials": credentials}


def _creator(call: Call, upload: Upload) -> Principal:
    """Who the upload acts for, as they are now (a part comes with no token of theirs)."""
    if upload.auth == "local":  # a server without auth: every request is the local admin
        return local_principal(upload.actor)
    users = call.project.meta.users
    try:
        user = users.get_user(upload.actor)
    except NotFound:
        raise Forbidden(f"user {upload.actor} of upload {upload.id} no longer exists") from None
    if not user.active:
        raise Forbidden(f"user {user.name} is disabled", hint="ask an admin (`loopline users`)")
    return Principal(user.name, user.role, user.kind, cast(Auth, upload.auth), grants=users.grants(user.name))


@endpoint(router, "PUT", f"{PARTS}/{{upload_id}}/{{part_number}}", None)
def put_part(call: Call) -> Response:
    """One part, streamed to its staging file; answers its ETag (the part's BLAKE3)."""
    store = staging(call)
    upload = store.get(call.path["upload_id"])
    number = integer_in(call.path["part_number"], "part_number")
    store.check_signature(
        upload, number, str(call.data.get("expires", "")), str(call.data.get("signature", ""))
    )
    with acting(_creator(call, upload)):
        check_writable(call, upload.path)  # the run is still there, still theirs to edit
    etag, _ = store.put_part(upload, number, call.chunks)
    return Response(b"", headers={"ETag": f'"{etag}"'})


def _listed(value: Any, upload: Upload) -> list[tuple[int, str | None]]:
    """complete's `parts`: every part 1..num_parts once, each with the ETag given (or none)."""
    listed: dict[int, str | None] = {}
    for item in list_in(value, "parts"):
        if not isinstance(item, dict) or set(item) - {"part_number", "etag", "url"}:
            raise InvalidInput(f"each of parts must be {{part_number, etag}}, not {str(item)[:100]}")
        number = integer_in(item.get("part_number"), "part_number")
        if number in listed:
            raise InvalidInput(f"part {number} is listed twice")
        etag = text_in(item.get("etag"), "etag", required=False, limit=200).strip('"')
        listed[number] = etag or None
    wanted = set(range(1, upload.parts + 1))
    if set(listed) != wanted:
        missing, extra = sorted(wanted - set(listed))[:10], sorted(set(listed) - wanted)[:10]
        raise InvalidInput(
            f"upload {upload.id} has {upload.parts} parts: complete must list each of 1 to {upload.parts}"
            + (f"; missing {missing}" if missing else "")
            + (f"; not parts of it: {extra}" if extra else "")
        )
    return sorted(listed.items())


@endpoint(router, "POST", f"{_MPU}/complete/{{artifact_path:path}}", {"path", "upload_id", "parts"})
def complete(call: Call) -> dict[str, Any]:
    store, upload = _open(call)
    check_writable(call, upload.path)
    listed = _listed(call.data.get("parts"), upload)
    folder = store.claim(upload)
    try:
        received = store.parts(folder)
        order: list[tuple[int, str]] = []
        for number, etag in listed:
            if number not in received:
                raise InvalidInput(f"part {number} of upload {upload.id} was never received")
            if etag is not None and etag != received[number][0]:
                raise InvalidInput(
                    f"part {number}'s ETag {etag[:70]!r} is not that of the part received",
                    hint="send the part again and list the ETag its PUT answered",
                )
            order.append((number, received[number][0]))
        blob, size = call.project.blobs.put_stream(store.read(folder, order))
        mlflow_store(call).put_file(upload.path, blob, size)
    except BaseException:
        store.release(upload)
        raise
    store.remove(upload.id)
    return {}


@endpoint(router, "POST", f"{_MPU}/abort/{{artifact_path:path}}", {"path", "upload_id"})
def abort(call: Call) -> dict[str, Any]:
    store, upload = _open(call)
    write_once(call, upload.path)  # edit on the run's experiment
    store.remove(upload.id)
    return {}
