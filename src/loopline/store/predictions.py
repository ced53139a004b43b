"""The prediction log: what a served model was asked and what it answered, and the ground truth
that arrives later. Serve writes it (in batches, from a background writer), monitor reads it.

Storage: each written batch of one model version becomes a Parquet blob (zstd) in the blob store,
indexed by one row in `prediction_batches` (store/metadata/predictions.py). Reading a model's
window is one index query plus a few columnar reads, so the fleet target (1,000 models x 10,000
rows) reads Parquet, not ten million SQL rows. Ground truth is one SQL row per request id.

A record passed to `write` is a mapping with:
    request_id  str
    model       str
    version     int
    variant     "primary" | "canary" | "shadow"
    at          datetime (naive means UTC) or float seconds since the epoch
    latency_ms  float
    prediction  the model's output (a number or a string)
    confidence  float | None (the top class probability for a classifier with predict_proba)
    features    mapping feature name -> value (the signature's inputs)
or, instead of `features` (what the server writes: no dict per request), `feature_names` (a
tuple shared by the records) and `feature_values` (a sequence or NumPy row aligned with it).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_text
from loopline.store.blobs import BlobStore
from loopline.store.metadata.predictions import BatchRow, SqlPredictionIndex
from loopline.store.metadata.times import as_utc

if TYPE_CHECKING:
    import polars as pl

    from loopline.store.metadata import MetadataStore

VARIANTS = ("primary", "canary", "shadow")
FIXED = ("request_id", "model", "version", "variant", "at", "latency_ms", "prediction", "confidence")
_FEATURE = "feature."  # stored prefix: a feature named like a fixed column cannot clash with it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: Any) -> int:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        delta = value - _EPOCH
        return int((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1_000_000)
    raise InvalidInput(f"a prediction record's `at` must be a datetime or epoch seconds, got {value!r}")


def _fixed_schema() -> dict[str, Any]:
    import polars as pl

    return {
        "request_id": pl.Utf8,
        "model": pl.Utf8,
        "version": pl.Int64,
        "variant": pl.Utf8,
        "at": pl.Datetime("us", "UTC"),
        "latency_ms": pl.Float64,
        "prediction": pl.Null,
        "confidence": pl.Float64,
    }


def _column(records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    try:
        return [r[key] for r in records]
    except KeyError as exc:
        i = next(n for n, r in enumerate(records) if key not in r)
        raise InvalidInput(
            f"prediction record {i} has no {key!r}", hint=f"a record holds {', '.join(FIXED)}"
        ) from exc


def batch_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Records of one model version as the stored frame (features under the `feature.` prefix).
    Built column by column (one comprehension each): the serving writer calls this for
    thousands of records a second, beside the request path, in the same interpreter."""
    import polars as pl

    variants = {r.get("variant", "primary") for r in records}
    if not variants <= set(VARIANTS):
        bad = sorted(variants - set(VARIANTS), key=str)[0]
        raise InvalidInput(f"variant {bad!r} is not one of {', '.join(VARIANTS)}")
    at = _column(records, "at")
    if all(type(v) is float or type(v) is int for v in at):
        at_series = (pl.Series("at", at, dtype=pl.Float64) * 1_000_000).round().cast(pl.Int64)
    else:
        at_series = pl.Series("at", [_micros(v) for v in at], dtype=pl.Int64)
    aligned = _aligned_features(records)
    if aligned is not None:
        names_in_order, matrix = aligned
        frame = pl.DataFrame(_fixed_columns(records, at_series))
        return frame.with_columns(
            pl.Series(_FEATURE + name, matrix[:, i], strict=False) for i, name in enumerate(names_in_order)
        )
    no_features: dict[str, Any] = {}
    features = [_features_of(r) or no_features for r in records]
    names: dict[str, None] = {}
    for values in features:
        if values.keys() != names.keys():
            names.update(dict.fromkeys(values))
    columns = _fixed_columns(records, at_series)
    for name in names:
        key = _FEATURE + name
        columns[key] = pl.Series(key, [values.get(name) for values in features], strict=False)
    return pl.DataFrame(columns)


def _features_of(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    names = record.get("feature_names")
    if names is not None:
        return dict(zip(names, record["feature_values"], strict=True))
    return record.get("features")


def _aligned_features(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], Any] | None:
    """Records from the server carry `feature_names` (one tuple) and `feature_values` (a row of
    numbers) instead of a dict: then all rows stack into one array, column by column."""
    import numpy as np

    first = records[0].get("feature_names") if records else None
    if first is None or any(r.get("feature_names") != first for r in records):
        return None
    matrix = np.asarray([r["feature_values"] for r in records])
    if matrix.ndim != 2 or matrix.shape[1] != len(first):
        return None
    return list(first), matrix


def _fixed_columns(records: Sequence[Mapping[str, Any]], at_series: pl.Series) -> dict[str, pl.Series]:
    import polars as pl

    return {
        "request_id": pl.Series("request_id", [str(v) for v in _column(records, "request_id")], pl.Utf8),
        "model": pl.Series("model", [str(v) for v in _column(records, "model")], pl.Utf8),
        "version": pl.Series("version", _column(records, "version"), pl.Int64, strict=False),
        "variant": pl.Series("variant", [r.get("variant", "primary") for r in records], pl.Utf8),
        "at": at_series.cast(pl.Datetime("us", "UTC")),
        "latency_ms": pl.Series(
            "latency_ms", [r.get("latency_ms") for r in records], pl.Float64, strict=False
        ),
        "prediction": pl.Series("prediction", [r.get("prediction") for r in records], strict=False),
        "confidence": pl.Series(
            "confidence", [r.get("confidence") for r in records], pl.Float64, strict=False
        ),
    }


class PredictionLog:
    """The log of served predictions and their ground truth, on the project's stores."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.index = SqlPredictionIndex(meta)

    # -- predictions ---------------------------------------------------------------------------
    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """One batch, atomic: its Parquet blobs first (content-addressed, harmless if orphaned),
        then every index row in one transaction. Writing the same batch again adds nothing."""
        groups: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
        for record in records:
            groups[(str(record.get("model")), int(record.get("version") or 0))].append(record)
        rows: list[BatchRow] = []
        for (model, version), group in groups.items():
            frame = batch_frame(group)
            key = hash_text(
                f"{model}\0{version}\0"
                + "\0".join(f"{r}\0{v}" for r, v in zip(frame["request_id"], frame["variant"], strict=True))
            )
            buffer = io.BytesIO()
            frame.write_parquet(buffer, compression="zstd", statistics=False)
            blob = self.blobs.put_bytes(buffer.getvalue())
            at = frame["at"]
            # Polars types a Series' min/max as any Python scalar; `at` is a Datetime column.
            first, last = at.min(), at.max()
            rows.append(BatchRow(key, model, version, first, last, frame.height, blob))  # type: ignore[arg-type]
        self.index.add_batches(rows)

    def read(
        self,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        version: int | None = None,
        variants: Sequence[str] = ("primary", "canary"),
    ) -> pl.DataFrame:
        """Rows of a model in [since, until), ordered by `at`: the fixed columns, then one
        column per feature named as the feature."""
        import polars as pl

        frames = []
        for batch in self.index.batches(model, since=since, until=until, version=version):
            path = self.blobs.local_path(batch.blob)
            frames.append(pl.read_parquet(path if path is not None else self.blobs.checked_path(batch.blob)))
        if not frames:
            return pl.DataFrame(schema=_fixed_schema())
        frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        conditions = [pl.col("variant").is_in(list(variants))]
        if since is not None:
            conditions.append(pl.col("at") >= as_utc(since))
        if until is not None:
            conditions.append(pl.col("at") < as_utc(until))
        if version is not None:
            conditions.append(pl.col("version") == version)
        frame = frame.filter(*conditions).sort("at", maintain_order=True)
        features = [c for c in frame.columns if c.startswith(_FEATURE)]
        renamed = {c: c[len(_FEATURE) :] for c in features if c[len(_FEATURE) :] not in FIXED}
        return frame.select(*FIXED, *features).rename(renamed)

    def models(self) -> list[str]:
        return self.index.models()

    # -- ground truth --------------------------------------------------------------------------
    def post_truth(self, model: str, truths: Mapping[str, Any], at: datetime | None = None) -> int:
        """Ground truth by request id (a later post for the same id replaces it); returns how
        many were stored."""
        try:
            encoded = {str(rid): json.dumps(_plain(value), allow_nan=False) for rid, value in truths.items()}
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"a truth must be a JSON value (no NaN): {exc}") from exc
        return self.index.put_truths(model, encoded, at or datetime.now(UTC))

    def read_truth(
        self, model: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> pl.DataFrame:
        """Columns request_id, truth, at (Datetime µs UTC), ordered by `at`."""
        import polars as pl

        rows = self.index.truths(model, since=since, until=until)
        return pl.DataFrame(
            {
                "request_id": pl.Series([r[0] for r in rows], dtype=pl.Utf8),
                "truth": pl.Series([json.loads(r[1]) for r in rows], strict=False),
                "at": pl.Series([r[2] for r in rows], dtype=pl.Datetime("us", "UTC")),
            }
        )


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so json can write them."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, list | dict | str) else value
