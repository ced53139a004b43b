"""`loopline add`: snapshot a file (table) or folder (blob set) as the next version of a name.

Unchanged files are recognised by the stat cache without being read, so re-adding an unchanged
folder costs a directory walk and one query (store/filescan.py, shared with the folder source),
and media types are looked up only when a new version is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_manifest
from loopline.core.ids import check_name
from loopline.core.types import Artifact, TableFile
from loopline.store.filescan import FileInfo, hash_files, scan_files
from loopline.store.statcache import StatCache, stat_key

if TYPE_CHECKING:
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore

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

    def summary(self) -> str:
        """The line `loopline add` prints."""
        if self.created:
            return (
                f"added {self.name}@{self.version}: {self.artifact.kind} {self.artifact.id[:12]}, "
                f"{self.files} file(s), {self.hashed} hashed"
            )
        return (
            f"nothing changed: {self.name}@{self.version} is current "
            f"({self.files} file(s), {self.hashed} hashed)"
        )


def manifest_id(files: list[FileInfo], digests: list[str]) -> str:
    """The id a folder of these files with these digests has as a blob set."""
    return hash_manifest((rel, key[1], digest) for (rel, _, key), digest in zip(files, digests, strict=True))


def _media_type(path: str) -> str | None:
    """mimetypes' guess for a relative path, looked up once per chain of extensions: but for
    data: URLs the guess depends on nothing else (10,000 guesses cost ~30 ms, a lookup ~1 µs)."""
    if ":" in path:
        import mimetypes

        return mimetypes.guess_type(path)[0]
    name = path.rpartition("/")[2].lstrip(".")
    dot = name.find(".")
    return _media_type_of(name[dot:] if dot >= 0 else "")


@cache
def _media_type_of(extensions: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(f"x{extensions}")[0]


def _save_table(blobs: BlobStore, path: Path) -> Artifact:
    """A table file as a table artifact, never loaded whole: a Parquet file is stored as it is
    (its bytes are what `checkout` gives back); CSV and JSON Lines are streamed to a Parquet
    file first. Either is hashed a batch at a time."""
    import polars as pl
    import pyarrow as pa

    from loopline.store.artifacts import save_table_file

    fmt = TABLE_SUFFIXES[path.suffix.lower()]
    try:
        if fmt == "parquet":
            return save_table_file(blobs, TableFile(path))
        scan = pl.scan_csv(path, infer_schema_length=10_000) if fmt == "csv" else pl.scan_ndjson(path)
        bad = [c for c in scan.collect_schema().names() if "\x00" in c]
        if bad:  # Arrow cannot name a column so: polars would panic converting it
            raise InvalidInput(
                f"{path.name}: column name {bad[0]!r} holds a NUL character",
                where=str(path),
                hint="is it a text file in UTF-8? fix its header",
            )
        with tempfile.TemporaryDirectory(prefix="loopline-add-") as tmp:
            converted = Path(tmp) / "table.parquet"
            scan.sink_parquet(converted, compression="zstd", statistics=True)
            return save_table_file(blobs, TableFile(converted))
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"cannot read {path.name} as {fmt}: {exc}",
            where=str(path),
            hint="fix the file or give it the right extension",
        ) from exc


@dataclass(frozen=True)
class StoredFiles:
    """A path's files stored in the blob store, not yet recorded as a version (store_files)."""

    path: Path
    name: str
    files: list[FileInfo]
    digests: list[str]
    hashed: int
    folder: bool


def add_path(path: Path, name: str, meta: MetadataStore, blobs: BlobStore, cache: StatCache) -> AddResult:
    return record_version(store_files(path, name, blobs, cache), meta, blobs)


def store_files(path: Path, name: str, blobs: BlobStore, cache: StatCache) -> StoredFiles:
    """add_path's first half, which needs no metadata store: check the path and store its files.
    Project.add opens the store only after it, so that its import (SQLAlchemy) need not come
    before the copy."""
    check_name(name, "dataset name")
    path = path.absolute()
    if not path.exists():
        raise InvalidInput(f"{path} does not exist", hint="give the path of a file or folder to add")
    if path.is_dir():
        files = scan_files(str(path))
        if not files:
            raise InvalidInput(f"folder {path} holds no files", hint="add a folder with files in it")
        # Files read are stored by that same read (once only), even if nothing turns out changed.
        digests, hashed = hash_files(files, cache, str(path), store=blobs)
        return StoredFiles(path, name, files, digests, hashed, folder=True)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InvalidInput(
            f"{path.name} is not a table file",
            where=str(path),
            hint=f"tables are {', '.join(sorted(TABLE_SUFFIXES))}; to version any other file, add its folder",
        )
    files = [(path.name, str(path), stat_key(path.stat()))]
    digests, hashed = hash_files(files, cache, str(path))
    return StoredFiles(path, name, files, digests, hashed, folder=False)


def record_version(
    stored: StoredFiles, meta: MetadataStore, blobs: BlobStore, source: str | None = None
) -> AddResult:
    """add_path's second half: the next version of the name, unless its latest holds the same.
    `source` is what the version says it was read from (default the path; an upload names its
    file, not the server's temp folder)."""
    # Imported here, not at the top: datasets/unchanged.py imports this module and must stay light.
    from loopline.store.artifacts import BlobEntry, BlobSet, save_blobset

    path, name, files, digests, hashed = stored.path, stored.name, stored.files, stored.digests, stored.hashed
    latest = meta.latest_version(name)
    if stored.folder:
        if latest is not None and latest.id == manifest_id(files, digests):
            return AddResult(name, latest.version or 0, False, latest, len(files), hashed)
        entries = [
            BlobEntry(rel, key[1], digest, _media_type(rel))
            for (rel, _, key), digest in zip(files, digests, strict=True)
        ]
        if hashed < len(files):  # the stat cache vouched for some: their blobs may be elsewhere
            blobs.put_files((full, digest) for (_, full, _), digest in zip(files, digests, strict=True))
        artifact = save_blobset(blobs, BlobSet(entries, store=blobs), stored=True)
        version = meta.add_version(name, artifact, source=source or str(path))
        return _result(name, version, latest, artifact, len(files), hashed)
    (digest,) = digests
    if latest is not None and latest.original_blob == digest:
        return AddResult(name, latest.version or 0, False, latest, 1, hashed)
    artifact = _save_table(blobs, path)
    if artifact.blob != digest:
        blobs.put_file(path, digest)  # the file as added, for `checkout`
    version = meta.add_version(
        name, artifact, source=source or str(path), original_blob=digest, original_name=path.name
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
