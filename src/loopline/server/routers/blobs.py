"""Blob bytes for the annotator page (the image of a task), to those who may read an object that
holds the blob: a labeling project whose task shows it, a dataset or registered model whose
artifact it is, an experiment whose MLflow files include it. Nothing holds it: 404.

The bytes are verified against their hash by the blob store before they leave. The media type is
sniffed from the bytes and only raster images are served inline: anything else (SVG, HTML, text)
goes out as an attachment, so no file in a dataset can run script in the page's origin.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from loopline.core.errors import Forbidden, InvalidInput, NotFound
from loopline.server.deps import Who, project_of

router = APIRouter(tags=["blobs"])

_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def sniff(data: bytes) -> str | None:
    for magic, media in _MAGIC:
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.get("/blobs/{digest}")
def blob(request: Request, digest: str, who: Who) -> Response:
    if not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"{digest[:80]!r} is not a blob digest", hint="64 lowercase hex characters")
    project = project_of(request)
    holders = project.meta.blob_holders(digest)
    if not holders:
        raise NotFound(f"no blob {digest}")
    if not any(who.allows(kind, "read", name) for kind, name in holders):
        kinds = sorted({kind for kind, _ in holders})
        raise Forbidden(f"{who.name} may read none of the objects that hold this blob ({', '.join(kinds)})")
    data: bytes = project.blob(digest)
    media = sniff(data)
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}
    if media is None:
        headers["Content-Disposition"] = f'attachment; filename="{digest[:12]}"'
        media = "application/octet-stream"
    return Response(data, media_type=media, headers=headers)
