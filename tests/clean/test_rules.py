"""Each rule on small frames: what stays clean, what goes to quarantine and the reason given."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from loopline.clean import Dedupe, Range, apply, parse_rules
from loopline.core.errors import ConfigError


def run(frame: pl.DataFrame, *rules: dict, **kw) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    out = apply(frame, list(rules), **kw)
    return out["clean"], out["quarantine"], out["report"]


def reasons(quarantine: pl.DataFrame) -> list[tuple[int, str, str]]:
    return list(quarantine.select("_row", "_rule", "_reason").iter_rows())


def test_cast_converts_and_quarantines_what_it_cannot_read_in_its_original_form() -> None:
    frame = pl.DataFrame(
        {"age": ["1", "x", None, "3"], "d": ["2024-01-02", "2024-02-30", "2024-03-04", None]}
    )
    clean, quarantine, report = run(frame, {"rule": "cast", "columns": {"age": "Int64", "d": "Date"}})
    assert clean.schema == {"age": pl.Int64, "d": pl.Date}
    assert clean.rows() == [(1, dt.date(2024, 1, 2)), (None, dt.date(2024, 3, 4)), (3, None)]
    assert reasons(quarantine) == [(1, "1:cast", "age: 'x' is not an Int64")]
    assert quarantine.select("age", "d", "_row", "_reason").rows() == [
        ("x", "2024-02-30", 1, "age: 'x' is not an Int64"),
    ]
    assert quarantine.schema["age"] == pl.String  # as it came in, not as cast
    assert report["rules"][0]["rejected"] == 1


def test_cast_float_to_int_rejects_fractions_instead_of_truncating() -> None:
    clean, quarantine, _ = run(
        pl.DataFrame({"v": [1.0, 1.5, -2.0]}), {"rule": "cast", "columns": {"v": "Int32"}}
    )
    assert clean["v"].to_list() == [1, -2]
    assert reasons(quarantine) == [(1, "1:cast", "v: 1.5 is not an Int32")]


def test_cast_with_format_and_booleans() -> None:
    frame = pl.DataFrame({"d": ["02/01/2024", "2024-01-02"], "b": ["Yes", "maybe"]})
    clean, quarantine, _ = run(
        frame, {"rule": "cast", "columns": {"d": "Date", "b": "Boolean"}, "format": "%d/%m/%Y"}
    )
    assert clean.rows() == [(dt.date(2024, 1, 2), True)]
    assert quarantine["_reason"].to_list() == ["d: '2024-01-02' is not a Date"]


def test_trim_lowercase_uppercase_normalize() -> None:
    name = "  \uff2a\uff4f\uff48\uff4e \u00a0  Smith "  # full-width "John", a no-break space
    frame = pl.DataFrame({"name": [name, None], "email": [" A@B.COM ", "x@y"], "cc": ["fr", "de"]})
    clean, quarantine, _ = run(
        frame,
        {"rule": "normalize", "columns": ["name"]},
        {"rule": "trim", "columns": ["email"]},
        {"rule": "lowercase", "column": "email"},
        {"rule": "uppercase", "columns": ["cc"]},
    )
    assert clean.rows() == [("John Smith", "a@b.com", "FR"), (None, "x@y", "DE")]
    assert quarantine.height == 0
    assert quarantine.columns == ["name", "email", "cc", "_row", "_rule", "_reason"]


def test_trim_chars() -> None:
    clean, _, _ = run(pl.DataFrame({"s": ["--a-", "b"]}), {"rule": "trim", "columns": ["s"], "chars": "-"})
    assert clean["s"].to_list() == ["a", "b"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"with": "median"}, [1, 3, 100, 4, 4]),  # median 3.5, rounded (half to even) for an Int64 column
        ({"with": "mean"}, [1, 3, 100, 27, 4]),
        ({"with": "mode"}, [1, 3, 100, 1, 4]),
        ({"value": -1}, [1, 3, 100, -1, 4]),
    ],
)
def test_missing_fill(rule: dict, expected: list[int]) -> None:
    frame = pl.DataFrame({"v": [1, 3, 100, None, 4]})
    out = apply(frame, [{"rule": "missing", "column": "v", "action": "fill", **rule}])
    assert out["clean"]["v"].to_list() == expected
    assert out["clean"].schema["v"] == pl.Int64
    if "with" in rule:
        assert out["report"]["rules"][0]["filled"] == {"v": 1}


def test_missing_fill_uses_only_rows_still_clean() -> None:
    frame = pl.DataFrame({"v": [1.0, 2.0, 1000.0, None]})
    out = apply(
        frame,
        [
            {"rule": "range", "column": "v", "max": 10},
            {"rule": "missing", "column": "v", "action": "fill", "with": "mean"},
        ],
    )
    assert out["clean"]["v"].to_list() == [1.0, 2.0, 1.5]
    assert out["report"]["rules"][1]["values"] == {"v": 1.5}


def test_missing_drop_and_flag() -> None:
    frame = pl.DataFrame({"a": [1, None, 3], "b": ["x", "y", None]})
    clean, quarantine, _ = run(
        frame,
        {"rule": "missing", "column": "b", "action": "flag"},
        {"rule": "missing", "columns": ["a", "b"], "action": "drop"},
    )
    assert clean.rows() == [(1, "x", False)]
    assert clean.columns == ["a", "b", "b_missing"]
    assert reasons(quarantine) == [(1, "2:missing", "a is missing"), (2, "2:missing", "b is missing")]


def test_range_allowed_regex_reasons() -> None:
    frame = pl.DataFrame(
        {
            "age": [5, -3, 150, None, 40],
            "country": ["FR", "FR", "DE", "XX", "US"],
            "email": ["a@b", "a@b", "a@b", "a@b", "nope"],
        }
    )
    clean, quarantine, report = run(
        frame,
        {"rule": "range", "column": "age", "min": 0, "max": 120},
        {"rule": "allowed", "column": "country", "values": ["FR", "DE"]},
        {"rule": "regex", "column": "email", "pattern": r"^[^@\s]+@[^@\s]+$"},
    )
    assert clean.rows() == [(5, "FR", "a@b")]
    assert reasons(quarantine) == [
        (1, "1:range", "age -3 is below min 0"),
        (2, "1:range", "age 150 is above max 120"),
        (3, "2:allowed", "country 'XX' is not one of FR, DE"),
        (4, "2:allowed", "country 'US' is not one of FR, DE"),
    ]
    assert [r["rejected"] for r in report["rules"]] == [2, 2, 0]


def test_regex_rejects_and_nulls_pass() -> None:
    clean, quarantine, _ = run(
        pl.DataFrame({"email": ["a@b", "nope", None]}), {"rule": "regex", "column": "email", "pattern": "@"}
    )
    assert clean["email"].to_list() == ["a@b", None]
    assert reasons(quarantine) == [(1, "1:regex", "email 'nope' does not match '@'")]


def test_range_on_dates_with_iso_bounds() -> None:
    frame = pl.DataFrame({"d": [dt.date(2020, 1, 1), dt.date(2030, 1, 1)]})
    clean, quarantine, _ = run(
        frame, {"rule": "range", "column": "d", "min": "2019-01-01", "max": "2025-12-31"}
    )
    assert clean.height == 1
    assert quarantine["_reason"].to_list() == ["d 2030-01-01 is above max 2025-12-31"]


def test_outliers_iqr_and_zscore_figures() -> None:
    values = [10.0, 11, 12, 13, 14, 15, 16, 1000]
    frame = pl.DataFrame({"x": values})
    out = apply(frame, [{"rule": "outliers", "column": "x", "method": "iqr", "k": 1.5}])
    q1, q3 = pl.Series(values).quantile(0.25, "linear"), pl.Series(values).quantile(0.75, "linear")
    fence = [q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)]
    assert out["report"]["rules"][0]["fence"] == fence
    assert out["clean"]["x"].to_list() == values[:-1]
    assert out["quarantine"]["_reason"].to_list() == [
        f"x 1000.0 is outside the IQR fence [{fence[0]:.6g}, {fence[1]:.6g}]"
    ]

    frame = pl.DataFrame({"x": [float(v) for v in range(20)] + [100.0]})
    out = apply(frame, [{"rule": "outliers", "column": "x", "method": "zscore", "threshold": 3}])
    mean, std = frame["x"].mean(), frame["x"].std()
    z = round(abs(100 - mean) / std, 2)
    assert out["quarantine"]["_reason"].to_list() == [
        f"x 100.0 is {z} standard deviations from the mean {mean:.6g} (over 3)"
    ]


def test_dedupe_exact_and_by_key_keeps_the_first() -> None:
    frame = pl.DataFrame({"id": [1, 2, 1, 3, 2, 1], "v": ["a", "b", "a", "c", "x", "z"]})
    clean, quarantine, _ = run(frame, {"rule": "dedupe"})
    assert clean.rows() == [(1, "a"), (2, "b"), (3, "c"), (2, "x"), (1, "z")]
    assert reasons(quarantine) == [(2, "1:dedupe", "duplicate of row 0")]
    clean, quarantine, _ = run(frame, {"rule": "dedupe", "key": ["id"]}, partition_rows=2)
    assert clean["id"].to_list() == [1, 2, 3]
    assert reasons(quarantine) == [
        (2, "1:dedupe", "duplicate of row 0"),
        (4, "1:dedupe", "duplicate of row 1"),
        (5, "1:dedupe", "duplicate of row 0"),
    ]


def test_dedupe_ignores_rows_rejected_earlier() -> None:
    frame = pl.DataFrame({"id": [1, 1, 1], "ok": [False, True, True]})
    _, quarantine, _ = run(frame, {"rule": "filter", "keep": "ok"}, {"rule": "dedupe", "key": "id"})
    assert reasons(quarantine) == [
        (0, "1:filter", "filtered out: not (ok)"),
        (2, "2:dedupe", "duplicate of row 1"),
    ]


def test_filter_rows_go_to_quarantine_never_vanish() -> None:
    frame = pl.DataFrame({"country": ["FR", "XX", None], "amount": [1, -5, 2]})
    clean, quarantine, report = run(
        frame,
        {"rule": "filter", "keep": "country <> 'XX'", "reason": "test country"},
        {"rule": "expression", "fail": "amount < 0", "reason": "negative amount"},
    )
    assert clean.rows() == [("FR", 1)]
    assert reasons(quarantine) == [(1, "1:filter", "test country"), (2, "1:filter", "test country")]
    assert report["rows_in"] == report["rows_clean"] + report["rows_quarantined"] == 3


def test_expression_rule_sql_and_polars_expr() -> None:
    frame = pl.DataFrame({"a": [1, -1, 2], "b": [1, 1, 5]})
    _, quarantine, _ = run(frame, {"rule": "expression", "fail": "a < 0 OR b > 4"})
    assert reasons(quarantine) == [
        (1, "1:expression", "failed: a < 0 OR b > 4"),
        (2, "1:expression", "failed: a < 0 OR b > 4"),
    ]
    _, quarantine, _ = run(
        frame, {"rule": "expression", "fail": pl.col("a") < 0, "reason": "neg", "name": "neg-a"}
    )
    assert reasons(quarantine) == [(1, "neg-a", "neg")]


def test_first_failing_rule_wins_and_report_counts() -> None:
    frame = pl.DataFrame({"v": [-1, 500, 5]})
    _, quarantine, report = run(
        frame, {"rule": "range", "column": "v", "min": 0}, {"rule": "range", "column": "v", "max": 100}
    )
    assert reasons(quarantine) == [
        (0, "1:range", "v -1 is below min 0"),
        (1, "2:range", "v 500 is above max 100"),
    ]
    assert report["rows_in"] == 3 and report["rows_clean"] == 1 and report["rows_quarantined"] == 2
    assert set(report["timings"]) == {"rules_s", "quarantine_s", "total_s"}


def test_rule_objects_are_the_same_rules() -> None:
    frame = pl.DataFrame({"id": [1, 1, 300]})
    as_objects = apply(frame, [Range("id", max=100), Dedupe()])
    as_dicts = apply(frame, [{"rule": "range", "column": "id", "max": 100}, {"rule": "dedupe"}])
    assert as_objects["quarantine"].equals(as_dicts["quarantine"])


def test_empty_table_and_no_rules() -> None:
    frame = pl.DataFrame({"a": []}, schema={"a": pl.String})
    out = apply(frame, [{"rule": "cast", "columns": {"a": "Int64"}}, {"rule": "dedupe"}])
    assert out["clean"].schema == {"a": pl.Int64} and out["clean"].height == 0
    assert out["report"]["rows_in"] == 0
    same = apply(pl.DataFrame({"a": [1]}), [])
    assert same["clean"].equals(pl.DataFrame({"a": [1]}))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"rule": "range", "column": "agee", "max": 1}],
            r"rule 1 \(range\): column 'agee' is not in the table",
        ),
        ([{"rule": "regex", "column": "s", "pattern": "(a"}], r"rule 1 \(regex\): bad regex '\(a'"),
        ([{"rule": "filter", "keep": "a >>> 1"}], r"rule 1 \(filter\): bad expression"),
        ([{"rule": "filter", "keep": "zz > 1"}], r"column 'zz' is not in the table"),
        ([{"rule": "rangee", "column": "a"}], r"rule 1: unknown rule 'rangee'"),
        ([{"rule": "range", "column": "a"}], r"rule 1 \(range\): needs `min` or `max`"),
        ([{"rule": "range", "column": "a", "maxx": 3}], r"rule 1 \(range\): unknown key 'maxx'"),
        ([{"rule": "trim", "columns": ["a"]}], r"rule 1 \(trim\): column 'a' is Int64, not text"),
        ([{"rule": "cast", "columns": {"a": "Integer"}}], r"rule 1 \(cast\): unknown type 'Integer'"),
        ([{"rule": "missing", "column": "s", "action": "fill", "with": "median"}], r"median of String"),
        ([{"rule": "missing", "column": "a", "action": "fill"}], r"fill needs `with"),
        ([{"column": "a"}], r"rule 1: must be a mapping with `rule: KIND`"),
        ({"rule": "dedupe"}, r"`rules` must be a list"),
    ],
)
def test_config_errors_name_the_rule_and_the_fix(rules: object, message: str) -> None:
    frame = pl.DataFrame({"a": [1], "s": ["x"]})
    with pytest.raises(ConfigError, match=message) as info:
        apply(frame, rules)  # type: ignore[arg-type]
    assert info.value.hint


def test_casts_are_followed_when_checking_later_rules() -> None:
    schema = {"age": "String"}
    parse_rules(
        [{"rule": "cast", "columns": {"age": "Int64"}}, {"rule": "range", "column": "age", "min": 0}], schema
    )
    with pytest.raises(ConfigError, match="not a number or a date"):
        parse_rules([{"rule": "range", "column": "age", "min": 0}], schema)


def test_reserved_column_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="'_row' of the table is a name clean reserves"):
        apply(pl.DataFrame({"_row": [1]}), [])


def test_rename_later_rules_see_new_names_and_the_quarantine_keeps_the_input_ones() -> None:
    frame = pl.DataFrame({"Name": [" a", "b ", "c"], "Age": [10, 200, 30], "note": ["p", "q", "r"]})
    clean, quarantine, report = run(
        frame,
        {"rename": {"Name": "name", "Age": "age"}},
        {"rule": "trim", "columns": ["name"]},
        {"rule": "range", "column": "age", "max": 120},
    )
    assert clean.columns == ["name", "age", "note"]  # each where the input had it
    assert clean.rows() == [("a", 10, "p"), ("c", 30, "r")]
    assert quarantine.columns == ["Name", "Age", "note", "_row", "_rule", "_reason"]
    assert reasons(quarantine) == [(1, "3:range", "age 200 is above max 120")]
    assert quarantine.drop("_row", "_rule", "_reason").equals(frame[[1]])
    assert [r["rule"] for r in report["rules"]] == ["1:rename", "2:trim", "3:range"]


def test_rename_swaps_and_chains() -> None:
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    clean, _, _ = run(
        frame,
        {"rule": "rename", "columns": {"a": "b", "b": "a"}},
        {"rule": "uppercase", "columns": ["a"]},  # the text column, once named b
        {"rename": {"b": "n", "c": "c"}},  # c to itself: nothing moves
        {"rule": "range", "column": "n", "max": 1},
    )
    assert clean.columns == ["n", "a", "c"] and clean.rows() == [(1, "X", 0.5)]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"rename": {"x": "y"}}], r"rule 1 \(rename\): column 'x' is not in the table"),
        ([{"rename": {"A": "b"}}], r"rule 1 \(rename\): column 'A' is not in the table.*"),
        ([{"rename": {"a": "s"}}], r"rule 1 \(rename\): column 's' exists already"),
        ([{"rename": {"a": "n", "s": "n"}}], r"rule 1 \(rename\): two columns would be named 'n'"),
        ([{"rename": {"a": "_rule"}}], r"rule 1 \(rename\): '_rule' is a name clean reserves"),
        ([{"rename": ["a", "b"]}], r"rule 1 \(rename\): `columns` must map old column names"),
        ([{"rename": {"a": ""}}], r"rule 1 \(rename\): `columns` must map old column names"),
        ([{"rename": {"a": "n"}, "key": 1}], r"rule 1 \(rename\): unknown key 'key'"),
        (
            [{"rename": {"a": "n"}}, {"rule": "range", "column": "a", "max": 1}],
            r"rule 2 \(range\): column 'a' is not in the table",
        ),
    ],
)
def test_rename_config_errors_name_the_rule(rules: list[dict], message: str) -> None:
    frame = pl.DataFrame({"a": [1], "s": ["x"]})
    with pytest.raises(ConfigError, match=message) as info:
        apply(frame, rules)
    assert info.value.hint
