"""A Project's data: artifacts, lineage, cards and sealed reads, data versioning,
validation and export."""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.core.errors import ConfigError, InvalidInput, NotFound
from loopline.core.ids import ArtifactRef
from loopline.project._stores import preload
from loopline.store.metadata import peek

if TYPE_CHECKING:
    from loopline.core.types import Artifact, Run, StepRun
    from loopline.datasets.revert import RevertResult
    from loopline.datasets.snapshot import AddResult
    from loopline.pipeline.lineage import Node
    from loopline.project._stores import Stores
    from loopline.store.fsck import FsckReport
    from loopline.store.statcache import StatCache

# What a first add needs only once its files are stored: the metadata store (SQLAlchemy) and the
# manifest writer (Polars, PyArrow).
ADD_PRELOAD = ("loopline.store.metadata.repository", "loopline.store.artifacts")
DIFF_CACHE = 32  # table diffs kept by a long-lived Project (a server)


class Data:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        # Diffs by (old id, new id, key): artifacts never change, so neither does their diff; a
        # server shows a diff again (the page, its API, a reload) without hashing every row again.
        self._diffs: OrderedDict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = OrderedDict()
        self._diffs_lock = threading.Lock()

    # -- artifacts ----------------------------------------------------------------------------
    def head(self, ref: str, n: int = 10, offset: int = 0) -> tuple[Artifact, list[dict[str, Any]]]:
        """n rows of a table version from row `offset` (read lazily: only those rows), or n
        entries of a blob set's manifest, as JSON-ready dicts (dates as ISO text)."""
        from loopline.datasets.compare import json_rows
        from loopline.store.artifacts import load_manifest, scan_table

        if n < 0:
            raise InvalidInput(f"-n must be 0 or more, got {n}", hint="e.g. `loopline head NAME -n 20`")
        if offset < 0:
            raise InvalidInput(f"the offset must be 0 or more, got {offset}")
        art = self.stores.resolve(ref)
        if art.kind == "table":
            return art, json_rows(scan_table(self.stores.blobs, art).slice(offset, n).collect())
        if art.kind == "blobs":
            entries = load_manifest(self.stores.blobs, art)[offset : offset + n]
            return art, [
                {"path": e.path, "size": e.size, "media_type": e.media_type, "blob": e.blob} for e in entries
            ]
        raise InvalidInput(
            f"{ref} is a {art.kind}, not a table or a blob set: it has no rows",
            hint="`loopline show` describes a model; `loopline datasets` lists the tables",
        )

    def lineage(self, ref: str) -> tuple[Artifact, Node, Node]:
        from loopline.pipeline.lineage import lineage

        artifact = self.stores.resolve(ref)
        ancestors, descendants = lineage(self.stores.meta, artifact)
        return artifact, ancestors, descendants

    def version_info(self, name: str, version: int) -> dict[str, Any]:
        """One version of a dataset: the artifact, the version before it, the step run that
        made it (none for `add`) and the quarantine tables that step wrote beside it."""
        art = self.stores.meta.get_version(name, version)
        parent = self.stores.meta.get_version(name, version - 1) if version > 1 else None
        producer = next(iter(self.stores.meta.producers(art.id)), None)
        return {
            "artifact": art,
            "parent": parent,
            "producer": producer,
            "quarantine": self._quarantines(art, producer),
        }

    def _quarantines(self, art: Artifact, producer: StepRun | None) -> list[Artifact]:
        """Where the rows kept out of `art` went: the tables with a `_reason` column its step run
        wrote beside it (a collect source's `NAME_quarantine`, a clean step's `quarantine`), or
        `art` itself when it is such a table."""
        if _is_quarantine(art):
            return [art]
        if producer is None:
            return []
        meta = self.stores.meta
        found = meta.get_artifacts([i for i in producer.outputs.values() if i != art.id])
        out: list[Artifact] = []
        for slot, art_id in producer.outputs.items():
            if art_id in found and _is_quarantine(found[art_id]):  # seen as its version of `slot`
                out.append(next((a for a in meta.versions(slot) if a.id == art_id), found[art_id]))
        return out

    def quarantine(
        self, name: str, version: int, offset: int = 0, limit: int = 50
    ) -> tuple[Artifact | None, list[dict[str, Any]]]:
        """Rows [offset, offset+limit) of the quarantine of NAME@VERSION (see version_info),
        read lazily, and the quarantine table they come from (None: nothing was quarantined)."""
        info = self.version_info(name, version)
        found: list[Artifact] = info["quarantine"]
        if not found:
            return None, []
        source = found[0]
        return source, self.head(source.id, limit, offset)[1]

    def trace(self, ref: str, item: str | None = None, row: int | None = None) -> list[dict[str, Any]]:
        """One row of a table (by `_item_id`, or by its position) followed back through its
        ancestors: per table on the way, the row it came from, and its `_origin` (the raw file
        and line that collect recorded) when it has one. A scored row (`loopline score`) leads to
        the input row it scores, by its key columns or its row number."""
        import polars as pl

        from loopline.datasets.compare import json_rows
        from loopline.store.artifacts import scan_table

        if (item is None) == (row is None):
            raise InvalidInput("say which row to trace: an item id or a row number, one of them")
        art = self.stores.resolve(ref)
        if art.kind != "table":
            raise InvalidInput(f"{ref} is a {art.kind}, not a table: it has no rows to trace")
        meta, steps = self.stores.meta, []
        seen: set[str] = set()
        where: pl.Expr | None = pl.col("_item_id").cast(pl.String) == item if item is not None else None
        position = row
        while art.id not in seen:
            seen.add(art.id)
            scan = scan_table(self.stores.blobs, art)
            if where is not None and not set(where.meta.root_names()) <= set(art.schema or {}):
                break
            picked = scan.filter(where) if where is not None else scan.slice(position or 0, 1)
            try:
                found = json_rows(picked.head(1).collect())
            except pl.exceptions.PolarsError:  # a key whose types differ between the tables
                break
            if not found:
                break
            hit = found[0]
            origin = hit.get("_origin")
            file, _, line = str(origin).rpartition(":") if origin is not None else ("", "", "")
            steps.append(
                {
                    "id": art.id,
                    "name": art.name,
                    "version": art.version,
                    "row": hit,
                    "origin": origin,
                    "file": file if line.isdigit() else origin,
                    "line": int(line) if line.isdigit() else None,
                }
            )
            producer = next(iter(meta.producers(art.id)), None)
            if producer is None or not producer.inputs:
                break
            scored = producer.name.startswith("score.")  # params: the key columns it kept
            named = producer.params.get("keys") if scored else None
            keys = [k for k in named if k in hit] if isinstance(named, list) else []
            if "_item_id" in hit and not keys:
                where, position = pl.col("_item_id").cast(pl.String) == str(hit["_item_id"]), None
            elif keys:
                where = pl.all_horizontal([pl.col(k) == hit[k] for k in keys])
            elif "row" in hit and scored:
                where, position = None, int(hit["row"])
            else:
                break
            needed = set(where.meta.root_names()) if where is not None else set()
            inputs = meta.get_artifacts(sorted(set(producer.inputs.values())))
            nxt = [a for a in inputs.values() if a.kind == "table" and needed <= set(a.schema or {})]
            if not nxt:
                break
            slot = next(k for k, v in producer.inputs.items() if v == nxt[0].id)
            art = next((a for a in meta.versions(slot) if a.id == nxt[0].id), nxt[0])
        return steps

    # -- evaluate: model cards and sealed test sets (wiring/evaluate.py) --------------------
    def model_card(self, ref: str) -> dict[str, Any]:
        """The card of a model artifact (its latest evaluation) or of an evaluation report."""
        from loopline.wiring.evaluate import gather_card

        return gather_card(self.stores.meta, self.stores.blobs, self.stores.resolve(ref))

    def sealed_reads(self, run: Run) -> list[dict[str, Any]]:
        """The sealed test sets a run's steps read, each with its read count in all runs."""
        from loopline.wiring.evaluate import sealed_reads

        return sealed_reads(self.stores.meta, run.steps)

    def test_reads(self, ref: str) -> int:
        return self.stores.meta.test_reads(self.stores.resolve(ref).id)

    # -- data versioning ----------------------------------------------------------------------
    def add(self, path: Path, name: str, *, source: str | None = None) -> AddResult:
        from loopline.datasets.snapshot import record_version, store_files
        from loopline.store.statcache import StatCache

        cache = StatCache(self.stores.settings.stat_cache)
        try:
            found = self._unchanged(path, name, cache) if self.stores.peeking() else None
            if found is not None:
                return found
            if self.stores.peeking():  # the store's libraries load while the files are copied
                preload(*ADD_PRELOAD)
            stored = store_files(path, name, self.stores.blobs, cache)
            return record_version(stored, self.stores.meta, self.stores.blobs, source)
        finally:
            cache.close()

    def _unchanged(self, path: Path, name: str, cache: StatCache) -> AddResult | None:
        """add's answer when path still holds the latest version of name, found without opening
        the store (re-adding an unchanged folder then costs about what starting the CLI costs);
        None whenever add_path must answer: a change, a store peek cannot read, a blob folder
        add_path would create, a path it cannot read (add_path then says what is wrong)."""
        from loopline.datasets.unchanged import unchanged

        if not self.stores.settings.fast_path:
            return None
        latest = peek.latest_version(self.stores.settings.store_url, name)
        blobs = self.stores.settings.blobs_url.removeprefix("file://")
        if latest is None or not os.path.isdir(f"{blobs}/tmp"):
            return None
        try:
            return unchanged(path, name, latest, cache)
        except OSError:
            return None

    def datasets(self) -> list[tuple[Artifact, int]]:
        found = peek.datasets(self.stores.settings.store_url) if self.stores.peeking() else None
        return self.stores.meta.datasets() if found is None else found

    def versions(self, name: str) -> list[Artifact]:
        found = self.stores.meta.versions(name)
        if not found:
            raise NotFound(f"no dataset named {name!r}", hint="`loopline datasets` lists them")
        return found

    def revert(self, name: str, version: int) -> RevertResult:
        """Make the content of NAME@VERSION the next version of NAME (see MetadataStore.revert);
        nothing is made when it is the latest content already."""
        known = self.versions(name)  # NotFound: no such dataset
        if not any(a.version == version for a in known):
            raise NotFound(
                f"{name} has no version {version}",
                hint=f"its versions are 1 to {known[-1].version}; `loopline versions {name}` lists them",
            )
        from loopline.datasets.revert import RevertResult

        made, latest, reset = self.stores.meta.revert(name, version)
        target = next(a for a in known if a.version == version)
        return RevertResult(name, made or latest, made is not None, latest, version, target.id, reset)

    def diff(self, a: str, b: str, key: Sequence[str] = ()) -> dict[str, Any]:
        from loopline.datasets.compare import diff_blobsets, diff_tables
        from loopline.store.artifacts import load_manifest, load_table

        old, new = self.stores.resolve(a), self.stores.resolve(b)
        if old.name != new.name:
            raise InvalidInput(
                f"{a} and {b} are versions of different datasets ({old.name} and {new.name})",
                hint=f"compare two versions of one name, e.g. {old.name}@1 {old.name}@2",
            )
        if old.kind != new.kind or old.kind == "json":
            raise InvalidInput(
                f"cannot diff a {old.kind} with a {new.kind}",
                hint="diff works on tables and blob sets",
            )
        header = {
            "name": old.name,
            "old": {"version": old.version, "id": old.id},
            "new": {"version": new.version, "id": new.id},
        }
        if old.kind == "blobs":
            return header | diff_blobsets(
                load_manifest(self.stores.blobs, old), load_manifest(self.stores.blobs, new)
            )
        cache_key = (old.id, new.id, tuple(key))
        with self._diffs_lock:
            cached = self._diffs.get(cache_key)
            if cached is not None:
                self._diffs.move_to_end(cache_key)
        if cached is not None:
            return copy.deepcopy(header | cached)
        old_types, new_types = old.schema or {}, new.schema or {}
        retyped = {
            c: {"old": t, "new": new_types[c]}
            for c, t in old_types.items()
            if c in new_types and new_types[c] != t
        }
        found = diff_tables(
            load_table(self.stores.blobs, old), load_table(self.stores.blobs, new), list(key) or None
        ) | {"columns_retyped": retyped}
        with self._diffs_lock:
            self._diffs[cache_key] = found
            while len(self._diffs) > DIFF_CACHE:
                self._diffs.popitem(last=False)
        return copy.deepcopy(header | found)

    def checkout(self, ref: str, directory: Path) -> list[Path]:
        """Write a version out: the bytes as added for a file, every file for a folder."""
        from loopline.store.artifacts import load_manifest

        art = self.stores.resolve(ref)
        directory = directory.absolute()
        written: list[Path] = []
        if art.kind == "blobs":
            for entry in load_manifest(self.stores.blobs, art):
                target = (directory / entry.path).resolve()
                if not target.is_relative_to(directory.resolve()):
                    raise InvalidInput(f"manifest path {entry.path!r} escapes the target folder")
                self.stores.blobs.export(entry.blob, target)
                written.append(target)
        elif art.original_blob and art.original_name:
            target = directory / art.original_name
            self.stores.blobs.export(art.original_blob, target)
            written.append(target)
        else:
            suffix = {"table": ".parquet", "model": ".skops"}.get(art.kind, ".json")
            target = directory / f"{art.name or art.id[:12]}{suffix}"
            self.stores.blobs.export(art.blob, target)
            written.append(target)
        return written

    def fsck(self, *, repair: bool = False) -> FsckReport:
        from loopline.store.fsck import fsck

        return fsck(self.stores.meta, self.stores.blobs, repair=repair)

    # -- clean: validation and export -------------------------------------------------------
    def validate(self, ref: str) -> dict[str, Any]:
        """Check a table against its `expectations:` in loopline.yaml; the report says if it
        passed. Mistakes in the expectations are found on the recorded schema, before any read."""
        from loopline.clean import evaluate, parse_expectations

        art = self.stores.resolve(ref)
        name = art.name or ArtifactRef.parse(ref).name or ref
        where = self.stores.file.where(f"expectations.{name}")
        spec = self.stores.file.expectations.get(name)
        if spec is None:
            raise ConfigError(
                f"no expectations for dataset {name!r}",
                where=str(self.stores.file.path),
                hint=f"add `expectations: {{{name}: {{threshold: 0.0, checks: [...]}}}}` (see docs/clean.md)",
            )
        if not isinstance(spec, dict) or not set(spec) <= {"threshold", "checks"} or "checks" not in spec:
            raise ConfigError(
                f"expectations of {name!r} must be {{threshold: SHARE, checks: [...]}}", where=where
            )
        if art.kind != "table":
            raise InvalidInput(f"{ref} is a {art.kind}, not a table", hint="expectations check tables")
        threshold = spec.get("threshold", 0.0)
        try:
            parse_expectations(spec["checks"], art.schema)
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not 0 <= threshold <= 1
            ):
                raise ConfigError(f"threshold must be a share between 0 and 1, got {threshold!r}")
        except ConfigError as exc:
            raise ConfigError(f"expectations of {name!r}: {exc.message}", where=where, hint=exc.hint) from exc
        from loopline.store.artifacts import scan_table

        report = evaluate(
            scan_table(self.stores.blobs, art), spec["checks"], threshold
        )  # a partition at a time
        return {"dataset": name, "version": art.version, "id": art.id} | report

    def export(self, ref: str, path: Path, fmt: str | None = None) -> tuple[Artifact, Path]:
        """Write a table to Parquet, CSV or JSON Lines (from the suffix unless `fmt` says),
        atomically: a temp file beside the target, fsync, rename."""
        from loopline.store.files import atomic_write

        formats = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
        fmt = fmt or formats.get(path.suffix.lower())
        if fmt not in ("parquet", "csv", "jsonl"):
            raise InvalidInput(
                f"cannot tell the format of {path}", hint="use a .parquet, .csv or .jsonl name, or --format"
            )
        art = self.stores.resolve(ref)
        if art.kind != "table":
            raise InvalidInput(
                f"{ref} is a {art.kind}, not a table", hint="`loopline checkout` writes blob sets"
            )
        frame = self.stores.load(art.id)
        writers = {
            "parquet": lambda handle: frame.write_parquet(handle, compression="zstd"),
            "csv": frame.write_csv,
            "jsonl": frame.write_ndjson,
        }
        return art, atomic_write(path, writers[fmt])


def _is_quarantine(art: Artifact) -> bool:
    return art.kind == "table" and "_reason" in (art.schema or {})
