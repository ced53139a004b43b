"""Collect: sources that bring new data into versioned artifacts, incrementally, with provenance.

A reader turns a SourceSpec and the source's saved state into a Batch of *new* items; the
pipeline layer merges it into the previous version (each item once; a table is streamed, neither
version held whole), stores it and saves the state in one transaction. Readers: files (CSV,
Parquet, JSON Lines by glob), folder (one item per file), http (JSON APIs), sql (a query with a
watermark).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopline.collect.spec import SOURCE_TYPES, SourceSpec, SourceType, parse_source

if TYPE_CHECKING:
    import polars as pl

    from loopline.core.types import TableFile
    from loopline.store.artifacts import BlobSet
    from loopline.store.blobs import BlobStore
    from loopline.store.statcache import StatCache


@dataclass
class CollectContext:
    """What a reader may use: where the project is, the source's state, the stores."""

    root: Path
    state: dict[str, Any]
    blobs: BlobStore
    stat_cache: StatCache
    run_id: str
    collected_at: datetime
    seen: set[str] = field(default_factory=set)  # blob digests already in a folder source's set
    paths: set[str] = field(default_factory=set)  # the paths in a folder source's current set
    previous: pl.LazyFrame | None = None  # a table source's current version, scanned (never loaded whole)
    scratch: Path | None = None  # a folder a reader may stream to, for as long as the collection runs


@dataclass
class Batch:
    """What one collection found. `table` for table sources (a TableFile when the reader
    streamed it to its scratch folder), `blobs` for folder sources; only new items are required,
    already-seen ones are dropped by the merge."""

    table: pl.DataFrame | TableFile | None = None
    blobs: BlobSet | None = None
    quarantine: pl.DataFrame | None = None  # rejected raw records with `_origin`, `_line`, `_reason`
    state: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)  # figures, recorded as the step's metrics
    details: dict[str, Any] = field(default_factory=dict)  # per file: rows read, kept, schema changes
    replaces: tuple[str, ...] = ()  # origins (files) whose rows in the previous version are dropped


class Reader(Protocol):
    def validate(self, spec: SourceSpec) -> None:
        """Raise ConfigError for a bad declaration, before anything is read."""

    def read(self, spec: SourceSpec, ctx: CollectContext) -> Batch: ...


def reader_for(spec: SourceSpec) -> Reader:
    return importlib.import_module(SOURCE_TYPES[spec.type].reader)


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    return reader_for(spec).read(spec, ctx)


__all__ = [
    "SOURCE_TYPES",
    "Batch",
    "CollectContext",
    "Reader",
    "SourceSpec",
    "SourceType",
    "parse_source",
    "read",
    "reader_for",
]
