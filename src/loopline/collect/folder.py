"""`type: folder`: one item per file under a root (images, texts, audio…), each blob stored once.

A file's item id is its content hash. The stat cache answers for files unchanged since they
were last hashed, so collecting an unchanged folder reads no file content: one directory walk,
one stat-cache query, and nothing new to store. Only new contents are copied into the blob
store and have their image header read (width and height, without decoding pixels).
"""

from __future__ import annotations

import logging
import mimetypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.collect import Batch, CollectContext
from loopline.collect.file_options import check_versions, mirrors
from loopline.collect.merge import ITEM_ID
from loopline.collect.roots import check_declaration, resolve_root, select_files
from loopline.collect.spec import SourceSpec
from loopline.collect.tablerows import quarantine_frame
from loopline.store.artifacts import BlobEntry, BlobSet
from loopline.store.filescan import hash_files

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

OPTIONS = ("root", "glob", "media", "versions")
MEDIA = ("image", "text", "audio", "video", "application", "font", "model")
DEFAULT_GLOB = "**"
_IMAGE_WORKERS = 4


def validate(spec: SourceSpec) -> None:
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        raise spec.fail(f"unknown option {unknown[0]!r}", hint=f"folder sources take {', '.join(OPTIONS)}")
    check_declaration(spec, DEFAULT_GLOB)
    check_versions(spec)
    media = spec.option("media")
    kinds = [media] if isinstance(media, str) else media
    if media is not None and (not isinstance(kinds, list) or not kinds or any(k not in MEDIA for k in kinds)):
        raise spec.fail(
            f"media {media!r} is not a list of media kinds",
            hint=f"e.g. media: [image, text]; kinds: {', '.join(MEDIA)}",
        )


def _media_type(path: str) -> str | None:
    return mimetypes.guess_type(path, strict=False)[0]


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    root = resolve_root(spec, ctx.root)
    project = Path(os.path.realpath(ctx.root))
    prefix = "" if root == project else root.relative_to(project).as_posix() + "/"
    selection = select_files(root, str(spec.option("glob", DEFAULT_GLOB)))
    files = selection.files
    media = spec.option("media")
    if media is not None:
        kinds = {media} if isinstance(media, str) else set(media)
        files = [f for f in files if (_media_type(f[0]) or "/").split("/")[0] in kinds]
    digests, hashed = hash_files(files, ctx.stat_cache, str(root))
    fresh = [(f, d) for f, d in zip(files, digests, strict=True) if d not in ctx.seen]
    report = {
        "files_seen": len(files),
        "files_hashed": hashed,
        "files_new": len(fresh),
        "files_refused": len(selection.refused),
        "images_unreadable": 0,
    }
    for rel, reason in selection.refused:
        log.warning("source %s: %s%s: %s", spec.name, prefix, rel, reason)
    quarantine = _refusals(selection.refused, prefix)
    ctx.blobs.put_files((full, digest) for (_, full, _), digest in fresh)
    entries = [BlobEntry(rel, key[1], digest, _media_type(rel)) for (rel, _, key), digest in fresh]
    sizes = _image_sizes([(full, e.media_type) for ((_, full, _), _), e in zip(fresh, entries, strict=True)])
    unreadable = [e.path for e, size in zip(entries, sizes, strict=True) if size is False]
    for path in unreadable:
        log.warning(
            "source %s: %s%s is not a readable image; collected without width and height",
            spec.name,
            prefix,
            path,
        )
    report["images_unreadable"] = len(unreadable)
    attributes = _attributes(spec, ctx, prefix, entries, sizes)
    blobs = BlobSet(entries, store=ctx.blobs, attributes=attributes)
    absent = sorted(ctx.paths - {rel for rel, _, _ in files})  # in the version, gone from the folder
    removed = sorted(set(absent) - set(ctx.state.get("absent", [])))  # reported once
    report["files_removed"] = len(removed)
    mirror = mirrors(spec)
    details = {"removed": [f"{prefix}{r}" for r in removed[:100]], "mirror": mirror} if removed else {}
    return Batch(
        blobs=blobs,
        quarantine=quarantine,
        state={"files_seen": len(files), "absent": [] if mirror else absent},
        report=report,
        details=details,
        replaces=tuple(absent) if mirror else (),
    )


def _refusals(refused: list[tuple[str, str]], prefix: str) -> pl.DataFrame | None:
    import polars as pl

    if not refused:
        return None
    return pl.concat(
        [quarantine_frame(f"{prefix}{rel}", [None], [f"refused: {why}"], [""]) for rel, why in refused]
    )


def _image_size(path: str) -> tuple[int, int] | bool:
    """(width, height) from the image header; False when the file is not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            return int(width), int(height)
    except Exception:  # Pillow raises many kinds for a damaged or foreign file
        return False


def _image_sizes(files: list[tuple[str, str | None]]) -> list[tuple[int, int] | bool | None]:
    """Per file: its size if an image, False if an unreadable image, None if not an image."""
    images = [i for i, (_, media) in enumerate(files) if media and media.startswith("image/")]
    sizes: list[tuple[int, int] | bool | None] = [None] * len(files)
    if images:
        with ThreadPoolExecutor(max_workers=_IMAGE_WORKERS) as pool:
            for i, size in zip(images, pool.map(lambda i: _image_size(files[i][0]), images), strict=True):
                sizes[i] = size
    return sizes


def _attributes(
    spec: SourceSpec,
    ctx: CollectContext,
    prefix: str,
    entries: list[BlobEntry],
    sizes: list[tuple[int, int] | bool | None],
) -> pl.DataFrame:
    import polars as pl

    dims = [s if isinstance(s, tuple) else (None, None) for s in sizes]
    return pl.DataFrame(
        {
            "path": [e.path for e in entries],
            ITEM_ID: [e.blob for e in entries],
            "_source": [spec.name] * len(entries),
            "_origin": [f"{prefix}{e.path}" for e in entries],
            "_collected_at": [ctx.collected_at] * len(entries),
            "_run_id": [ctx.run_id] * len(entries),
            "width": [d[0] for d in dims],
            "height": [d[1] for d in dims],
        },
        schema={
            "path": pl.String,
            ITEM_ID: pl.String,
            "_source": pl.String,
            "_origin": pl.String,
            "_collected_at": pl.Datetime("us", "UTC"),
            "_run_id": pl.String,
            "width": pl.Int64,
            "height": pl.Int64,
        },
    )
