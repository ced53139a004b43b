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
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
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


def batch_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Records of one model version as the stored frame (features under the `feature.` prefix)."""
    import polars as pl

    columns: dict[str, list[Any]] = {name: [] for name in FIXED}
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.get("features") or ()))
    features: dict[str, list[Any]] = {name: [] for name in names}
    for i, record in enumerate(records):
        try:
            columns["request_id"].append(str(record["request_id"]))
            columns["model"].append(str(record["model"]))
            columns["version"].append(int(record["version"]))
            variant = record.get("variant", "primary")
            if variant not in VARIANTS:
                raise InvalidInput(f"variant {variant!r} is not one of {', '.join(VARIANTS)}")
            columns["variant"].append(variant)
            columns["at"].append(_micros(record["at"]))
            columns["latency_ms"].append(float(record.get("latency_ms") or 0.0))
            columns["prediction"].append(record.get("prediction"))
            confidence = record.get("confidence")
            columns["confidence"].append(None if confidence is None else float(confidence))
        except KeyError as exc:
            raise InvalidInput(
                f"prediction record {i} has no {exc.args[0]!r}", hint=f"a record holds {', '.join(FIXED)}"
            ) from exc
        values = record.get("features") or {}
        for name, column in features.items():
            column.append(values.get(name))
    frame = pl.DataFrame(
        {
            **{k: v for k, v in columns.items() if k not in ("at", "prediction")},
            "at": pl.Series("at", columns["at"], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "prediction": pl.Series("prediction", columns["prediction"], strict=False),
            **{
                _FEATURE + name: pl.Series(_FEATURE + name, values, strict=False)
                for name, values in features.items()
            },
        },
        schema_overrides={"version": pl.Int64, "latency_ms": pl.Float64, "confidence": pl.Float64},
        strict=False,
    )
    return frame.select(*FIXED, *(_FEATURE + n for n in features))


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
            rows.append(BatchRow(key, model, version, at.min(), at.max(), frame.height, blob))  # type: ignore[arg-type]
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
            source: Any = path if path is not None else io.BytesIO(self.blobs.get_bytes(batch.blob))
            frames.append(pl.read_parquet(source))
        if not frames:
            return pl.DataFrame(schema=_fixed_schema())
        frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        conditions = [pl.col("variant").is_in(list(variants))]
        if since is not None:
            conditions.append(pl.col("at") >= _aware(since))
        if until is not None:
            conditions.append(pl.col("at") < _aware(until))
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


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so json can write them."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, list | dict | str) else value
