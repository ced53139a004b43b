"""Properties of clean on random frames and random rule lists: no row is ever lost or doubled,
the quarantine holds rows exactly as they came in, and neither partitioning nor streaming from a
file changes the result."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.clean import apply
from loopline.core.hashing import hash_parquet, hash_table
from loopline.core.types import TableFile

WORDS = ["", " a ", "b", "B", "1", "2.5", "x@y", "\uff46\uff55\uff4c\uff4c", "a  b", "-3"]
TEXT = st.one_of(st.none(), st.sampled_from(WORDS))
INTS = st.one_of(st.none(), st.integers(-5, 200))
FLOATS = st.one_of(st.none(), st.floats(-1e3, 1e3, allow_nan=False), st.just(1e6))


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 40))
    return pl.DataFrame(
        {
            "i": draw(st.lists(INTS, min_size=n, max_size=n)),
            "f": draw(st.lists(FLOATS, min_size=n, max_size=n)),
            "s": draw(st.lists(TEXT, min_size=n, max_size=n)),
            "t": draw(st.lists(TEXT, min_size=n, max_size=n)),
        },
        schema={"i": pl.Int64, "f": pl.Float64, "s": pl.String, "t": pl.String},
    )


RULE = st.sampled_from(
    [
        {"rule": "trim", "columns": ["s", "t"]},
        {"rule": "lowercase", "columns": ["s"]},
        {"rule": "normalize", "columns": ["t"]},
        {"rule": "missing", "column": "i", "action": "fill", "with": "median"},
        {"rule": "missing", "column": "f", "action": "fill", "with": "mean"},
        {"rule": "missing", "column": "s", "action": "fill", "with": "mode"},
        {"rule": "missing", "column": "t", "action": "drop"},
        {"rule": "range", "column": "i", "min": 0, "max": 120},
        {"rule": "range", "column": "f", "max": 500},
        {"rule": "allowed", "column": "s", "values": ["a", "b", "1"]},
        {"rule": "regex", "column": "t", "pattern": "^[a-z]"},
        {"rule": "outliers", "column": "f", "method": "iqr", "k": 1.5},
        {"rule": "outliers", "column": "i", "method": "zscore", "threshold": 2},
        {"rule": "dedupe"},
        {"rule": "dedupe", "key": ["s"]},
        {"rule": "filter", "keep": "i IS NULL OR i % 7 <> 0"},
        {"rule": "expression", "fail": "f < -900"},
    ]
)
CASTS = st.sampled_from(
    [
        {"rule": "cast", "columns": {"s": "Float64"}},
        {"rule": "cast", "columns": {"t": "Int32"}},
        {"rule": "cast", "columns": {"f": "Int64"}},
    ]
)

# A rename at some point of the list; the rules after it name the columns by their new names.
RENAMES = st.sampled_from([{"i": "n"}, {"s": "t", "t": "s"}, {"f": "g", "s": "u"}])


def renamed(rule: dict, mapping: dict[str, str]) -> dict:
    def name(column: str) -> str:
        return mapping.get(column, column)

    out = dict(rule)
    if "column" in out:
        out["column"] = name(out["column"])
    if isinstance(out.get("columns"), dict):
        out["columns"] = {name(c): t for c, t in out["columns"].items()}
    elif "columns" in out:
        out["columns"] = [name(c) for c in out["columns"]]
    if "key" in out:
        out["key"] = [name(c) for c in out["key"]]
    for key in ("keep", "fail"):
        if key in out:
            out[key] = re.sub(r"\b[a-z]\b", lambda m: name(m.group()), out[key])
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=frames(),
    rules=st.lists(RULE, max_size=7),
    cast=st.one_of(st.none(), CASTS),
    size=st.integers(1, 9),
    rename=st.one_of(st.none(), RENAMES),
    at=st.integers(0, 8),
)
def test_rows_in_equal_rows_clean_plus_quarantined(
    frame: pl.DataFrame, rules: list[dict], cast: dict | None, size: int, rename: dict | None, at: int
) -> None:
    if cast is not None:  # a cast goes first, so the text rules still see text
        kept = [r for r in rules if not set(r.get("columns", [r.get("column")])) & set(cast["columns"])]
        rules = [cast, *[r for r in kept if r.get("rule") not in ("dedupe", "filter", "expression")]]
    if rename is not None:
        rules = [*rules[:at], {"rename": rename}, *(renamed(r, rename) for r in rules[at:])]
    out = apply(frame, rules)
    clean, quarantine, report = out["clean"], out["quarantine"], out["report"]

    assert report["rows_in"] == frame.height == report["rows_clean"] + report["rows_quarantined"]
    assert clean.height == report["rows_clean"] and quarantine.height == report["rows_quarantined"]
    assert clean.columns == [(rename or {}).get(c, c) for c in frame.columns]
    assert sum(r["rejected"] for r in report["rules"]) == quarantine.height
    rows = quarantine["_row"].to_list()
    assert rows == sorted(set(rows)) and all(0 <= r < frame.height for r in rows)
    assert quarantine["_reason"].null_count() == 0 and quarantine["_rule"].null_count() == 0
    # the quarantine holds the input rows untouched
    assert quarantine.drop("_row", "_rule", "_reason").equals(frame[rows])

    # partition by partition (as on Dask) gives the very same tables
    split = apply(frame, rules, partition_rows=size)
    assert split["clean"].equals(clean)
    assert split["quarantine"].equals(quarantine)

    # and so does streaming from a Parquet file to another, partition by partition
    with tempfile.TemporaryDirectory() as folder:
        frame.write_parquet(Path(folder) / "in.parquet")
        streamed = apply(
            pl.scan_parquet(Path(folder) / "in.parquet"), rules, partition_rows=size, out=Path(folder) / "o"
        )
        assert isinstance(streamed["clean"], TableFile)
        assert streamed["clean"].scan().collect().equals(clean)
        assert hash_parquet(streamed["clean"].path) == hash_table(clean)
        assert streamed["clean"].known_id == hash_table(clean)  # computed while writing
    assert streamed["quarantine"].equals(quarantine)
    assert {k: v for k, v in streamed["report"].items() if k != "timings"} == {
        k: v for k, v in report.items() if k != "timings"
    }
