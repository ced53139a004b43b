"""Assigning rows to splits by hashing their key with the seed.

An item's place in [0, 1) depends only on its key and the seed, never on the other rows, so
a new dataset version leaves every old item where it was. Stratified splits rank items by that
place within their class to hit the ratios exactly per class; an item then moves only when its
class grows, and only across the boundary with the neighbouring split (train | validation | test
along [0, 1)), so an old test item can reach train only if its class grows by more than about
validation share / train share (21 % at 70/15/15, less an item or two of rounding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import blake3
import numpy as np
import polars as pl

from loopline.core.errors import ConfigError, InvalidInput
from loopline.split._spec import ITEM_ID, SPLITS, SplitSpec, TimeSplit

SPLIT = "__ll_split"


def content_columns(frame: pl.DataFrame) -> list[str]:
    """The columns that say what an item is: all but loopline's underscore bookkeeping."""
    columns = [c for c in frame.columns if not c.startswith("_")]
    if not columns:
        raise InvalidInput("the table has no content columns (all start with `_`)")
    return columns


def _digests(texts: pl.Series) -> np.ndarray:
    """BLAKE3 of each text, its first 64 bits."""
    prefix = b"loopline-split-v1\0"
    joined = b"".join(blake3.blake3(prefix + t.encode()).digest(length=8) for t in texts.to_list())
    return np.frombuffer(joined, dtype=">u8").astype(np.uint64)


def _hashed(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """A 64-bit hash of each row's values in `columns`, computed once per distinct value."""
    texts = frame.select(pl.struct(columns).struct.json_encode().alias("t"))["t"]
    distinct = texts.unique(maintain_order=True)
    if distinct.len() == texts.len():
        return _digests(texts)
    table = pl.DataFrame({"t": distinct, "h": _digests(distinct)})
    return texts.to_frame().join(table, on="t", how="left", maintain_order="left")["h"].to_numpy()


def key_hashes(frame: pl.DataFrame, spec: SplitSpec) -> np.ndarray:
    """64 bits per row from what identifies it: the group, the declared key, `_item_id` (a hex
    hash already, read as is) or the content; the same whatever else the table holds."""
    columns = [spec.group] if spec.group else list(spec.key) if spec.key else None
    if columns is not None:
        return _hashed(frame, columns)
    if ITEM_ID in frame.columns:
        ids = frame[ITEM_ID].cast(pl.String)
        parsed = ids.str.slice(0, 15).str.to_integer(base=16, strict=False)
        if ids.null_count() == 0 and parsed.null_count() == 0 and bool((ids.str.len_chars() >= 15).all()):
            return parsed.to_numpy().astype(np.uint64)
        return _hashed(frame, [ITEM_ID])
    return _hashed(frame, content_columns(frame))


def _mix(words: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on 64 bits whose every output bit hangs on every input bit."""
    z = words.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def unit_places(hashes: np.ndarray, seed: int) -> np.ndarray:
    """The key's hash mixed with the seed, as a float in [0, 1) (53 bits): the same for a key
    whatever the rest of the data; another seed, an unrelated place."""
    salt = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    return (_mix(hashes ^ salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def by_threshold(places: np.ndarray, ratios: Mapping[str, float]) -> np.ndarray:
    """Split index per place: train below the first edge, then validation, then test."""
    edges = np.cumsum([ratios[s] for s in SPLITS])[:-1]
    return np.searchsorted(edges, places, side="right").astype(np.int8)


def exact_counts(n: int, ratios: Mapping[str, float]) -> list[int]:
    """Largest remainder: counts per split adding up to n, each within one of n * ratio."""
    wanted = [n * ratios[s] for s in SPLITS]
    counts = [math.floor(w + 1e-9) for w in wanted]
    order = sorted(range(len(SPLITS)), key=lambda i: (-(wanted[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def stratified(labels: pl.Series, places: np.ndarray, ratios: Mapping[str, float]) -> np.ndarray:
    """Rank each class's distinct places (one per item: rows of an item share it); the ratios
    cut each class exactly, train lowest, then validation, then test."""
    frame = pl.DataFrame({"label": labels, "place": places}).with_columns(
        rank=pl.col("place").rank("dense").over("label").cast(pl.Int64) - 1
    )
    sizes = frame.group_by("label", maintain_order=True).agg(n=pl.col("rank").max() + 1)
    needed = math.ceil(1 / min(r for r in ratios.values() if r > 0) - 1e-9)
    cuts: dict[str, list[object]] = {"label": [], "first": [], "second": []}
    for label, n in sizes.iter_rows():
        counts = exact_counts(n, ratios)
        empty = [s for s, c in zip(SPLITS, counts, strict=True) if c == 0 and ratios[s] > 0]
        if empty:
            raise InvalidInput(
                f"class {label!r} of {labels.name!r} has {n} item(s): too few to stratify, "
                f"{empty[0]} would get none",
                hint=f"each class needs at least {needed} items at these ratios; collect more, "
                "merge rare classes, or drop `stratify`",
            )
        cuts["label"].append(label)
        cuts["first"].append(counts[0])
        cuts["second"].append(counts[0] + counts[1])
    table = pl.DataFrame(cuts, schema={"label": labels.dtype, "first": pl.Int64, "second": pl.Int64})
    joined = frame.join(table, on="label", how="left", maintain_order="left")
    index = (joined["rank"] >= joined["first"]).cast(pl.Int8) + (joined["rank"] >= joined["second"]).cast(
        pl.Int8
    )
    return index.to_numpy()


def _bound(value: object, dtype: pl.DataType, column: str, name: str) -> pl.Expr:
    temporal = dtype == pl.Date or isinstance(dtype, pl.Datetime)
    try:
        if temporal and isinstance(value, str):
            literal = pl.lit(value).str.to_datetime().cast(dtype)
        else:
            literal = pl.lit(value).cast(dtype, strict=True)
        pl.select(literal)
    except Exception as exc:  # polars raises several error types for a bad cast
        raise ConfigError(
            f"time.{name} {value!r} cannot be compared with column {column!r} of type {dtype}",
            hint="give a date or time in ISO 8601 for a temporal column, a number for a numeric one",
        ) from exc
    return literal


def by_time(frame: pl.DataFrame, spec: TimeSplit) -> np.ndarray:
    """train before validation_from, validation until test_from, test from then on; a row
    without a time is refused (it could fall on either side)."""
    column = frame[spec.column]
    missing = column.null_count()
    if missing:
        raise InvalidInput(f"time column {spec.column!r} has {missing} empty value(s)")
    expr = pl.lit(0, dtype=pl.Int8)
    for index, name, bound in (
        (1, "validation_from", spec.validation_from),
        (2, "test_from", spec.test_from),
    ):
        if bound is not None:
            cut = pl.col(spec.column) >= _bound(bound, column.dtype, spec.column, name)
            expr = pl.when(cut).then(pl.lit(index, dtype=pl.Int8)).otherwise(expr)
    return frame.select(expr.alias(SPLIT))[SPLIT].to_numpy()


def assign(frame: pl.DataFrame, spec: SplitSpec) -> np.ndarray:
    """The split index (0 train, 1 validation, 2 test) of every row."""
    if spec.time is not None:
        return by_time(frame, spec.time)
    keys = key_hashes(frame, spec)
    places = unit_places(keys, spec.seed)
    if spec.stratify is None:
        return by_threshold(places, spec.ratios)
    labels = frame[spec.stratify]
    if labels.null_count():
        raise InvalidInput(
            f"label column {spec.stratify!r} has {labels.null_count()} empty value(s): cannot stratify",
            hint="label or drop those rows first",
        )
    return stratified(labels, places, spec.ratios)
