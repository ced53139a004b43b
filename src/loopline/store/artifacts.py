"""Turning step values into stored artifacts and back: tables as Parquet, blob sets as a manifest
plus content-addressed files, JSON reports as canonical JSON."""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput
from loopline.core.hashing import canonical_json, hash_bytes, hash_manifest, hash_parquet, hash_table
from loopline.core.types import Artifact, TableFile
from loopline.store.blobs import BlobStore
from loopline.store.models import is_model, read_model, save_model

if TYPE_CHECKING:
    import polars as pl

JSON_TYPES = (dict, list, str, int, float, bool, type(None))


@dataclass(frozen=True)
class BlobEntry:
    path: str
    size: int
    blob: str
    media_type: str | None = None


MANIFEST_COLUMNS = ("path", "size", "blob", "media_type")


class BlobSet:
    """A set of files (images, texts…) kept by content, with a manifest of relative paths.

    A step receives one as input and can return one built with `from_bytes`. `attributes` is an
    optional table with a `path` column and one row per file (provenance, image size…); it joins
    the manifest and so the id.
    """

    def __init__(
        self,
        entries: list[BlobEntry],
        store: BlobStore | None = None,
        staged: Mapping[str, bytes] | None = None,
        attributes: pl.DataFrame | None = None,
    ) -> None:
        self.entries = sorted(entries, key=lambda e: e.path)
        self._store = store
        self._staged = dict(staged or {})
        self._by_path = {e.path: e for e in self.entries}
        if attributes is not None:
            clash = set(attributes.columns) & set(MANIFEST_COLUMNS[1:])
            if "path" not in attributes.columns or clash:
                raise InvalidInput(
                    "blob set attributes need a `path` column and no size, blob or media_type column"
                )
        self.attributes = attributes

    @classmethod
    def from_bytes(cls, files: Mapping[str, bytes]) -> BlobSet:
        entries = [
            BlobEntry(path, len(data), hash_bytes(data), mimetypes.guess_type(path)[0])
            for path, data in files.items()
        ]
        return cls(entries, staged={e.blob: files[e.path] for e in entries})

    @property
    def id(self) -> str:
        if self.attributes is None:
            return hash_manifest((e.path, e.size, e.blob) for e in self.entries)
        return hash_table(self.manifest())

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[BlobEntry]:
        return iter(self.entries)

    def read(self, path: str) -> bytes:
        entry = self._by_path.get(path)
        if entry is None:
            raise InvalidInput(f"no file {path!r} in this blob set")
        if entry.blob in self._staged:
            return self._staged[entry.blob]
        assert self._store is not None
        return self._store.get_bytes(entry.blob)

    def manifest(self) -> pl.DataFrame:
        base = self._base_manifest()
        if self.attributes is None:
            return base
        return base.join(self.attributes, on="path", how="left", maintain_order="left")

    def _base_manifest(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(
            {
                "path": [e.path for e in self.entries],
                "size": [e.size for e in self.entries],
                "blob": [e.blob for e in self.entries],
                "media_type": [e.media_type for e in self.entries],
            },
            schema={
                "path": pl.String,
                "size": pl.Int64,
                "blob": pl.String,
                "media_type": pl.String,
            },
        )


def _schema(frame: pl.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.schema.items()}


def _put_parquet(store: BlobStore, frame: pl.DataFrame) -> tuple[str, int]:
    fd, tmp = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        return store.put_file(tmp), os.path.getsize(tmp)
    finally:
        os.unlink(tmp)


def save_table(store: BlobStore, frame: pl.DataFrame) -> Artifact:
    blob, size = _put_parquet(store, frame)
    return Artifact(
        id=hash_table(frame),
        kind="table",
        blob=blob,
        size=size,
        rows=frame.height,
        schema=_schema(frame),
    )


def save_table_file(store: BlobStore, table: TableFile) -> Artifact:
    """Store a Parquet file a step wrote, as it is: hashed and described one column at a time."""
    import polars as pl

    return Artifact(
        id=table.known_id or hash_parquet(table.path),
        kind="table",
        blob=store.put_file(table.path),
        size=os.path.getsize(table.path),
        rows=table.scan().select(pl.len()).collect().item(),
        schema=_schema(pl.read_parquet(table.path, n_rows=0)),
    )


def save_blobset(store: BlobStore, blobset: BlobSet, *, stored: bool = False) -> Artifact:
    """Store a blob set's manifest (and its staged bytes). `stored`: the caller has just stored
    every entry's blob itself, so they are not looked up one by one (10,000 stats for a folder)."""
    for entry in blobset.entries:
        if entry.blob in blobset._staged:
            store.put_bytes(blobset._staged[entry.blob])
        elif not stored and not store.exists(entry.blob):
            raise InvalidInput(f"blob set entry {entry.path!r} has no stored bytes")
    manifest = blobset.manifest()
    blob, _ = _put_parquet(store, manifest)
    return Artifact(
        id=blobset.id,
        kind="blobs",
        blob=blob,
        size=sum(e.size for e in blobset.entries),
        rows=len(blobset),
        schema=_schema(manifest),
    )


def save_json(store: BlobStore, value: Any) -> Artifact:
    text = canonical_json(value)
    blob = store.put_bytes(text.encode())
    return Artifact(
        id=hash_bytes(b"loopline-json-v1\0" + text.encode()), kind="json", blob=blob, size=len(text)
    )


def save_value(store: BlobStore, value: Any, *, output: str) -> Artifact:
    """Store whatever a step returned for one output."""
    import polars as pl
    import pyarrow as pa

    if isinstance(value, pa.Table):
        value = pl.from_arrow(value)
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if isinstance(value, pl.DataFrame):
        return save_table(store, value)
    if isinstance(value, TableFile):
        return save_table_file(store, value)
    if isinstance(value, BlobSet):
        return save_blobset(store, value)
    if is_model(value):
        return save_model(store, value)
    if isinstance(value, JSON_TYPES):
        try:
            json.dumps(value, allow_nan=True, default=_refuse)
        except TypeError as exc:
            raise InvalidInput(f"output {output!r} is not JSON-serialisable: {exc}") from exc
        return save_json(store, value)
    raise InvalidInput(
        f"output {output!r} is a {type(value).__name__}, which loopline cannot store",
        hint="return a Polars DataFrame, a pyarrow Table, a TableFile, a loopline.BlobSet, a scikit-learn "
        "estimator or JSON-like data",
    )


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON data")


def load_blobset(store: BlobStore, artifact: Artifact) -> BlobSet:
    frame = load_table(store, artifact)
    entries = [
        BlobEntry(path, size, blob, media)
        for path, size, blob, media in frame.select(MANIFEST_COLUMNS).iter_rows()
    ]
    extra = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    attributes = frame.select(["path", *extra]) if extra else None
    return BlobSet(entries, store=store, attributes=attributes)


def load_manifest(store: BlobStore, artifact: Artifact) -> list[BlobEntry]:
    return load_blobset(store, artifact).entries


def load_table(store: BlobStore, artifact: Artifact) -> pl.DataFrame:
    import polars as pl

    return pl.read_parquet(store.checked_path(artifact.blob))


def scan_table(store: BlobStore, artifact: Artifact) -> pl.LazyFrame:
    """A lazy scan of a table artifact: read partition by partition by whoever collects it."""
    import polars as pl

    return pl.scan_parquet(store.checked_path(artifact.blob))


def load_value(store: BlobStore, artifact: Artifact, *, lazy: bool = False) -> Any:
    """The artifact as a step receives it; a table as a lazy scan when `lazy`."""
    if artifact.kind == "table":
        return scan_table(store, artifact) if lazy else load_table(store, artifact)
    if artifact.kind == "blobs":
        return load_blobset(store, artifact)
    if artifact.kind == "model":
        return read_model(store, artifact)
    return json.loads(store.get_bytes(artifact.blob))


def scan_folder(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, absolute path) of every regular file under root, sorted."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            found.append((full.relative_to(root).as_posix(), full))
    found.sort()
    return found
