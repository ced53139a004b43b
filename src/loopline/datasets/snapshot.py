"""`loopline add`: snapshot a file (table) or folder (blob set) as the next version of a name.

Unchanged files are recognised by the stat cache without being read, so re-adding an unchanged
folder costs a directory walk and one query.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_file, hash_manifest
from loopline.core.ids import check_name
from loopline.core.types import Artifact
from loopline.store.artifacts import BlobEntry, BlobSet, save_blobset, save_table, scan_folder
from loopline.store.blobs import BlobStore
from loopline.store.metadata import MetadataStore
from loopline.store.statcache import StatCache, stat_key

if TYPE_CHECKING:
    import polars as pl

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
}


@dataclass(frozen=True)
class AddResult:
    name: str
    version: int  # the version now current
    created: bool  # False when nothing changed
    artifact: Artifact
    files: int
    hashed: int  # files actually read (not answered by the stat cache)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "artifact_id": self.artifact.id,
            "kind": self.artifact.kind,
            "files": self.files,
            "hashed": self.hashed,
        }


def _hash_all(files: list[tuple[str, Path]], cache: StatCache, root: Path) -> tuple[list[BlobEntry], int]:
    """Entries for files, hashing only those the stat cache cannot vouch for."""
    known = cache.lookup_under(str(root))
    keys = {rel: stat_key(full.stat()) for rel, full in files}
    digests: dict[str, str] = {}
    todo: list[tuple[str, Path]] = []
    for rel, full in files:
        hit = known.get(str(full))
        if hit is not None and hit[0] == keys[rel]:
            digests[rel] = hit[1]
        else:
            todo.append((rel, full))
    if todo:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for (rel, _), digest in zip(todo, pool.map(lambda t: hash_file(t[1]), todo), strict=True):
                digests[rel] = digest
        cache.update((str(full), keys[rel], digests[rel]) for rel, full in todo)
    entries = [BlobEntry(rel, keys[rel][1], digests[rel], _media_type(rel)) for rel, _ in files]
    return entries, len(todo)


def _media_type(path: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(path)[0]


def read_table(path: Path) -> pl.DataFrame:
    import polars as pl

    fmt = TABLE_SUFFIXES[path.suffix.lower()]
    try:
        if fmt == "csv":
            return pl.read_csv(path, infer_schema_length=10_000)
        if fmt == "parquet":
            return pl.read_parquet(path)
        return pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidInput(
            f"cannot read {path.name} as {fmt}: {exc}",
            where=str(path),
            hint="fix the file or give it the right extension",
        ) from exc


def add_path(path: Path, name: str, meta: MetadataStore, blobs: BlobStore, cache: StatCache) -> AddResult:
    check_name(name, "dataset name")
    path = path.absolute()
    if not path.exists():
        raise InvalidInput(f"{path} does not exist", hint="give the path of a file or folder to add")
    latest = meta.latest_version(name)
    if path.is_dir():
        files = scan_folder(path)
        if not files:
            raise InvalidInput(f"folder {path} holds no files", hint="add a folder with files in it")
        entries, hashed = _hash_all(files, cache, path)
        manifest_id = hash_manifest((e.path, e.size, e.blob) for e in entries)
        if latest is not None and latest.id == manifest_id:
            return AddResult(name, latest.version or 0, False, latest, len(files), hashed)
        blobs.put_files((str(path / e.path), e.blob) for e in entries)
        artifact = save_blobset(blobs, BlobSet(entries, store=blobs))
        version = meta.add_version(name, artifact, source=str(path))
        return _result(name, version, latest, artifact, len(files), hashed)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InvalidInput(
            f"{path.name} is not a table file",
            where=str(path),
            hint=f"tables are {', '.join(sorted(TABLE_SUFFIXES))}; to version any other file, add its folder",
        )
    (entry,), hashed = _hash_all([(path.name, path)], cache, path)
    if latest is not None and latest.original_blob == entry.blob:
        return AddResult(name, latest.version or 0, False, latest, 1, hashed)
    artifact = save_table(blobs, read_table(path))
    blobs.put_file(path, entry.blob)
    version = meta.add_version(
        name, artifact, source=str(path), original_blob=entry.blob, original_name=path.name
    )
    return _result(name, version, latest, artifact, 1, hashed)


def _result(
    name: str,
    version: int | None,
    latest: Artifact | None,
    artifact: Artifact,
    files: int,
    hashed: int,
) -> AddResult:
    current = version if version is not None else (latest.version or 0 if latest else 0)
    return AddResult(name, current, version is not None, artifact, files, hashed)
