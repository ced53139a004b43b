"""Expectations: counts, observed figures, examples, tolerances and the failing step's message."""

from __future__ import annotations

import polars as pl
import pytest

from loopline.clean import evaluate, render_validation, validate
from loopline.core.errors import CheckFailed, ConfigError

FRAME = pl.DataFrame(
    {
        "id": [1, 2, 2, 4, 5, 6, 7, 8, 9, 10],
        "age": [10, 200, None, -1, 30, 40, 50, 60, 70, 80],
        "email": ["a@b", "x", "c@d", None, "e@f", "g@h", "i@j", "k@l", "m@n", "o@p"],
        "country": ["FR", "DE", "XX", "FR", "FR", "FR", "FR", "FR", "DE", "DE"],
    }
)


def by_kind(report: dict) -> dict[str, dict]:
    return {r["expectation"]: r for r in report["expectations"]}


def test_row_expectations_count_and_show_examples() -> None:
    report = evaluate(
        FRAME,
        [
            {"expect": "not_null", "columns": ["age", "email"]},
            {"expect": "range", "column": "age", "min": 0, "max": 120},
            {"expect": "allowed", "column": "country", "values": ["FR", "DE"]},
            {"expect": "regex", "column": "email", "pattern": "@"},
            {"expect": "unique", "column": "id"},
            {"expect": "expression", "fail": "age > 100"},
        ],
        partition_rows=3,
    )
    found = by_kind(report)
    assert found["1:not_null(age, email)"]["violations"] == 2
    assert found["1:not_null(age, email)"]["examples"] == [
        {"row": 2, "value": None},
        {"row": 3, "value": None},
    ]
    assert found["2:range(age)"]["violations"] == 2
    assert found["2:range(age)"]["observed"] == {"min": -1, "max": 200}
    assert found["2:range(age)"]["examples"] == [{"row": 1, "value": "200"}, {"row": 3, "value": "-1"}]
    assert found["3:allowed(country)"]["examples"] == [{"row": 2, "value": "XX"}]
    assert found["4:regex(email)"]["violations"] == 1
    assert found["5:unique(id)"]["examples"] == [{"row": 2, "value": "2"}]
    assert found["6:expression"]["violations"] == 1
    assert not report["passed"] and len(report["failed"]) == 6
    assert evaluate(FRAME, [{"expect": "unique", "column": "id"}])["expectations"][0]["share"] == 0.1


def test_threshold_and_mostly_decide() -> None:
    checks = [{"expect": "range", "column": "age", "min": 0, "max": 120}]  # 2 of 10 rows
    assert not evaluate(FRAME, checks, threshold=0.1)["passed"]
    assert evaluate(FRAME, checks, threshold=0.2)["passed"]
    assert evaluate(FRAME, [{**checks[0], "mostly": 0.8}], threshold=0.0)["passed"]
    assert not evaluate(FRAME, [{**checks[0], "mostly": 0.9}], threshold=0.5)["passed"]


def test_whole_table_expectations() -> None:
    report = evaluate(
        FRAME,
        [
            {"expect": "schema", "columns": {"id": "Int64", "age": "Float64", "zip": "String"}},
            {"expect": "schema", "columns": {"id": "Int64"}, "exact": True},
            {"expect": "row_count", "min": 5, "max": 10},
            {"expect": "mean", "column": "age", "min": 55, "max": 65},
            {"expect": "quantile", "column": "age", "q": 0.5, "max": 40},
            {"expect": "std", "column": "age", "max": 1},
        ],
    )
    results = report["expectations"]
    assert (
        results[0]["examples"] == ["age is Int64, not Float64", "zip is missing"] and not results[0]["passed"]
    )
    assert "email is not expected" in results[1]["examples"]
    assert results[2]["passed"] and results[2]["observed"] == 10
    assert results[3]["observed"] == pytest.approx(FRAME["age"].mean()) and results[3]["passed"]
    assert results[4]["observed"] == FRAME["age"].quantile(0.5, "linear") and not results[4]["passed"]
    assert not results[5]["passed"]


def test_validate_step_raises_a_readable_check_failed() -> None:
    checks = [
        {"expect": "range", "column": "age", "min": 0, "max": 120},
        {"expect": "not_null", "column": "id"},
    ]
    with pytest.raises(CheckFailed) as info:
        validate(FRAME, checks, threshold=0.05)
    text = info.value.message
    assert (
        "FAIL 1:range(age): 2 rows (20.00%, allowed 5.00%); observed min -1, max 200; e.g. row 1: '200'"
        in text
    )
    assert "ok   2:not_null(id): 0 rows" in text
    assert (
        text.splitlines()[-1] == "validation FAILED: 1 of 2 expectations failed on 10 rows (threshold 5.00%)"
    )
    report = validate(FRAME, checks, threshold=0.2)
    assert report["passed"]
    assert render_validation(report).startswith("validation passed: 0 of 2")


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        (
            [{"expect": "range", "column": "agee", "min": 0}],
            r"expectation 1 \(range\): column 'agee' is not in the table",
        ),
        ([{"expect": "regex", "column": "email", "pattern": "[a"}], r"bad regex"),
        ([{"expect": "nul", "column": "id"}], r"unknown expectation 'nul'"),
        ([{"expect": "quantile", "column": "age", "max": 3}], r"needs `q`"),
        ([{"expect": "range", "column": "age", "min": 0, "mostly": 2}], r"mostly 2 is not a share"),
        ([{"expect": "schema", "columns": {"id": "Bogus"}}], r"unknown type 'Bogus'"),
    ],
)
def test_bad_expectations_are_config_errors(checks: list[dict], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate(FRAME, checks)


def test_same_report_whatever_the_partitions() -> None:
    checks = [
        {"expect": "not_null", "column": "age"},
        {"expect": "range", "column": "age", "min": 0, "max": 120},
        {"expect": "unique", "column": "id"},
        {"expect": "mean", "column": "age", "min": 0, "max": 100},
    ]
    whole = evaluate(FRAME, checks)
    assert all(evaluate(FRAME, checks, partition_rows=n) == whole for n in (1, 2, 3, 7))


def test_a_scan_gives_the_report_of_the_frame(tmp_path) -> None:
    """Streaming from a Parquet file, a partition at a time, changes nothing in the report."""
    path = tmp_path / "frame.parquet"
    FRAME.write_parquet(path)
    checks = [
        {"expect": "not_null", "columns": ["age", "email"]},
        {"expect": "range", "column": "age", "min": 0, "max": 120},
        {"expect": "allowed", "column": "country", "values": ["FR", "DE"]},
        {"expect": "regex", "column": "email", "pattern": "@"},
        {"expect": "unique", "column": "id"},
        {"expect": "expression", "fail": "age > 100"},
        {"expect": "schema", "columns": {"id": "Int64", "zip": "String"}},
        {"expect": "row_count", "min": 5},
        {"expect": "quantile", "column": "age", "q": 0.5, "max": 40},
        {"expect": "mean", "column": "age", "min": 55, "max": 65},
    ]
    whole = evaluate(FRAME, checks)
    assert all(evaluate(pl.scan_parquet(path), checks, partition_rows=n) == whole for n in (1, 3, 7, 100))
    assert evaluate(pl.scan_parquet(path), checks) == whole
