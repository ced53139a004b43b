"""Differences between two versions of a dataset, by item: added, removed, changed."""

from __future__ import annotations

from typing import Any

import polars as pl

from loopline.core.errors import InvalidInput
from loopline.core.hashing import item_ids
from loopline.store.artifacts import BlobEntry

SAMPLE = 5


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts: dates, times and datetimes as ISO 8601 text, durations as
    seconds, bytes as hex, so `diff` and `head` print what `--json` writes."""
    temporal = [c for c, t in frame.schema.items() if t.is_temporal()]
    binary = [c for c, t in frame.schema.items() if t == pl.Binary]
    rows = frame.to_dicts()
    for row in rows:
        for column in temporal:
            value = row[column]
            if hasattr(value, "isoformat"):
                row[column] = value.isoformat()
            elif hasattr(value, "total_seconds"):
                row[column] = value.total_seconds()
        for column in binary:
            if row[column] is not None:
                row[column] = row[column].hex()
    return rows


def diff_tables(old: pl.DataFrame, new: pl.DataFrame, key: list[str] | None = None) -> dict[str, Any]:
    """Items are rows identified by `key` columns (then same key, other content = changed), or by
    their whole content when no key is given (then a change shows as one removed, one added)."""
    for frame, label in ((old, "old"), (new, "new")):
        missing = [k for k in key or [] if k not in frame.columns]
        if missing:
            raise InvalidInput(
                f"key column {missing[0]!r} is not in the {label} version",
                hint=f"columns are {', '.join(frame.columns)}",
            )
    old_ids = old.with_columns(_k=item_ids(old, key), _c=item_ids(old))
    new_ids = new.with_columns(_k=item_ids(new, key), _c=item_ids(new))
    added = new_ids.join(old_ids.select("_k"), on="_k", how="anti")
    removed = old_ids.join(new_ids.select("_k"), on="_k", how="anti")
    both = new_ids.join(old_ids.select("_k", _c_old="_c"), on="_k", how="inner")
    changed = both.filter(pl.col("_c") != pl.col("_c_old"))
    drop = ["_k", "_c"]
    return {
        "kind": "table",
        "key": key,
        "columns_added": [c for c in new.columns if c not in old.columns],
        "columns_removed": [c for c in old.columns if c not in new.columns],
        "rows": {"old": old.height, "new": new.height},
        "added": added.height,
        "removed": removed.height,
        "changed": changed.height,
        "unchanged": both.height - changed.height,
        "sample": {
            "added": json_rows(added.drop(drop).head(SAMPLE)),
            "removed": json_rows(removed.drop(drop).head(SAMPLE)),
            "changed": json_rows(changed.drop([*drop, "_c_old"]).head(SAMPLE)),
        },
    }


def diff_blobsets(old: list[BlobEntry], new: list[BlobEntry]) -> dict[str, Any]:
    """Items are files identified by their relative path."""
    before = {e.path: e for e in old}
    after = {e.path: e for e in new}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(after) & set(before) if after[p].blob != before[p].blob)
    return {
        "kind": "blobs",
        "rows": {"old": len(old), "new": len(new)},
        "added": len(added),
        "removed": len(removed),
        "changed": len(changed),
        "unchanged": len(set(after) & set(before)) - len(changed),
        "sample": {
            "added": added[:SAMPLE],
            "removed": removed[:SAMPLE],
            "changed": changed[:SAMPLE],
        },
    }
