"""The shortcuts clean takes for speed change no result: duplicates found through fingerprints are
confirmed on the real values, columns no rule touches come straight from the input, and a cast to
the type a column has already is no cast."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.clean import _checks, apply
from loopline.clean._base import ROW


def naive_duplicates(frame: pl.DataFrame, keys: list[str]) -> list[tuple[int, int]]:
    """(row, first row with the same key) for every repeat, the way a person would find them."""
    first: dict[tuple, int] = {}
    found = []
    for row, values in enumerate(frame.select(keys).iter_rows()):
        # floats as Polars compares them: -0.0 equals 0.0, NaN equals NaN
        key = tuple(("nan",) if isinstance(v, float) and v != v else (0.0 if v == 0 else v) for v in values)
        if key in first:
            found.append((row, first[key]))
        else:
            first[key] = row
    return found


def found(frame: pl.DataFrame, keys: list[str]) -> list[tuple[int, int]]:
    rows = frame.with_columns(pl.int_range(frame.height, dtype=pl.Int64).alias(ROW))
    return list(_checks.duplicates(rows, keys, "first").iter_rows())


KEYS = {
    "i": st.one_of(st.none(), st.integers(-3, 3)),
    "f": st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, float("nan"), -2.0])),
    "s": st.one_of(st.none(), st.sampled_from(["", "a", "b", "A", "a "])),
}


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    n=st.integers(0, 30),
    keys=st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=3, unique=True),
)
def test_duplicates_are_exactly_the_repeats(data: st.DataObject, n: int, keys: list[str]) -> None:
    frame = pl.DataFrame(
        {k: data.draw(st.lists(KEYS[k], min_size=n, max_size=n)) for k in keys},
        schema={k: {"i": pl.Int64, "f": pl.Float64, "s": pl.String}[k] for k in keys},
    )
    assert found(frame, keys) == naive_duplicates(frame, keys)


def test_a_fingerprint_collision_never_makes_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row gets the same fingerprint (the worst hash there is): only real repeats remain."""
    monkeypatch.setattr(_checks, "_fingerprint", lambda rows, keys: pl.int_range(pl.len()) * 0)
    frame = pl.DataFrame({"id": [5, 7, 5, None, 9, None, 7], "s": ["a", "b", "a", "c", "d", "c", "x"]})
    assert found(frame, ["id"]) == [(2, 0), (5, 3), (6, 1)]
    assert found(frame, ["id", "s"]) == [(2, 0), (5, 3)]
    out = apply(frame, [{"rule": "dedupe"}])
    assert out["quarantine"]["_row"].to_list() == [2, 5]
    assert out["quarantine"]["_reason"].to_list() == ["duplicate of row 0", "duplicate of row 3"]


def test_untouched_columns_pass_as_they_are_and_rewritten_ones_as_rewritten() -> None:
    frame = pl.DataFrame(
        {
            "name": ["  a ", "b", " c", "d  "],
            "age": [1.0, 2.5, 3.0, None],
            "x": [10, 20, 30, 40],
            "note": ["p", "q", "r", "s"],
        }
    )
    rules = [
        {"rule": "trim", "columns": ["name"]},
        {"rule": "cast", "columns": {"age": "Int64", "x": "Int64"}},  # x is Int64 already
        {"rule": "missing", "column": "age", "action": "flag"},
        {"rule": "range", "column": "x", "max": 35},
    ]
    out = apply(frame, rules, partition_rows=3)
    assert out["clean"].columns == ["name", "age", "x", "note", "age_missing"]
    assert out["clean"].rows() == [("a", 1, 10, "p", False), ("c", 3, 30, "r", False)]
    assert out["quarantine"].select("_row", "_reason").rows() == [
        (1, "age: 2.5 is not an Int64"),
        (3, "x 40 is above max 35"),
    ]
    assert out["quarantine"].drop("_row", "_rule", "_reason").equals(frame[[1, 3]])


def test_a_cast_to_the_type_a_column_has_rejects_nothing() -> None:
    frame = pl.DataFrame({"a": [1, None, 3]}, schema={"a": pl.Int64})
    out = apply(frame, [{"rule": "cast", "columns": {"a": "Int64"}}])
    assert out["clean"].equals(frame) and out["quarantine"].height == 0


def test_a_table_chunked_unevenly_gives_the_same_tables() -> None:
    """Polars frames from Parquet come in many chunks; clean lines its own columns up with them."""
    whole = pl.DataFrame({"id": [1, 2, 2, 4, 5, 1, 7], "v": ["a", "b", "c", "", "e", "f", None]})
    pieces = pl.concat([whole.slice(0, 2), whole.slice(2, 3), whole.slice(5, 2)], rechunk=False)
    assert pieces.n_chunks() == 3
    rules = [{"rule": "regex", "column": "v", "pattern": "^[a-e]$"}, {"rule": "dedupe", "key": "id"}]
    for size in (1, 2, 4, 100):
        one, many = apply(whole, rules, partition_rows=size), apply(pieces, rules, partition_rows=size)
        assert many["clean"].equals(one["clean"]) and many["quarantine"].equals(one["quarantine"])
    assert one["quarantine"].select("_row", "_reason").rows() == [
        (2, "duplicate of row 1"),
        (3, "v '' does not match '^[a-e]$'"),
        (5, "v 'f' does not match '^[a-e]$'"),  # rejected first by the regex: not a duplicate
    ]


def test_a_rename_gives_what_polars_rename_gives_whatever_the_partitions() -> None:
    """The oracle: filter the rows by hand, then DataFrame.rename; clean carries only the renamed
    columns through its passes and takes the others straight from the input."""
    frame = pl.DataFrame(
        {"Id": [1, 2, 3, 4, 5], "v": ["a", "b", "c", "d", "e"], "w": [0.5, 9.0, 1.5, 2.0, 9.5]}
    )
    rules = [
        {"rule": "rename", "columns": {"Id": "id", "w": "weight"}},
        {"rule": "range", "column": "weight", "max": 5},
    ]
    expected = frame.filter(pl.col("w") <= 5).rename({"Id": "id", "w": "weight"})
    for size in (1, 2, 3, 100):
        out = apply(frame, rules, partition_rows=size)
        assert out["clean"].equals(expected)
        assert out["quarantine"].drop("_row", "_rule", "_reason").equals(frame[[1, 4]])
