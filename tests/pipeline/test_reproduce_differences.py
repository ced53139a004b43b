"""`reproduce` names what differs: a table's columns, rows, largest absolute and relative
difference and a sample; a model's params and fitted attributes; `--tolerance` accepts float
noise and nothing else; hints name the causes loopline can see (unseeded randomness, the clock,
parallel float aggregation)."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from loopline.datasets.differences import compare_json, compare_models, compare_tables
from loopline.pipeline.nondeterminism import hints, source_causes
from loopline.project import Project
from tests.conftest import cli, write_project

STEPS = """
import hashlib
import os

import numpy as np
import polars as pl
from sklearn.tree import DecisionTreeClassifier


def numbers(n):
    return pl.DataFrame({"i": list(range(n)), "g": [i % 4 for i in range(n)], "x": np.random.rand(n)})


def noisy(numbers, ctx):
    # float noise that differs on every run: at least 2**-50 relative (above the rounding of a
    # float), at most 2**-30; two runs agree only when their ids hash alike (once in 2**20)
    h = int(hashlib.sha256(ctx.run_id.encode()).hexdigest(), 16) % 2**20
    return numbers.with_columns(y=pl.col("x") * (1 + (1 + h) * 2**-50))


def counted(numbers):
    return numbers.with_columns(k=pl.lit(int.from_bytes(os.urandom(4), "little"), dtype=pl.Int64))


def model(numbers):
    X = numbers.select("i", "x").to_numpy()
    seed = int.from_bytes(os.urandom(4), "little")
    return DecisionTreeClassifier(max_features=1, random_state=seed).fit(X, (numbers["g"] > 1).to_numpy())
"""

YAML = """
steps:
  numbers: {uses: steps:numbers, params: {n: 40}, outputs: [numbers]}
  noisy: {uses: steps:noisy, inputs: [numbers], outputs: [noisy]}
"""
MORE = """  counted: {uses: steps:counted, inputs: [numbers], outputs: [counted]}
  model: {uses: steps:model, inputs: [numbers], outputs: [model]}
"""


def first_run(root: Path) -> str:
    cli("init", cwd=root, check=True)
    return json.loads(cli("run", "--json", cwd=root, check=True).stdout)["run_id"]


def test_reproduce_names_columns_rows_figures_and_the_cause(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", YAML + MORE, STEPS)
    run_id = first_run(root)
    result = cli("reproduce", run_id, "--json", cwd=root)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["identical"] is False and "tolerance" not in report
    found = {a["name"]: a for a in report["artifacts"]}
    assert found["numbers"]["identical"] and found["numbers"]["difference"] is None
    noisy = found["noisy"]
    assert (noisy["identical"], noisy["match"], noisy["step"]) == (False, "differs", "noisy")
    (column,) = noisy["difference"]["columns"]  # x is the same: only y differs
    assert (column["name"], column["rows"], column["of"]) == ("y", 40, 40)
    assert 0 < column["max_abs"] < 1e-8 and 2**-52 < column["max_rel"] < 1e-8
    assert len(column["sample"]) == 5 and column["sample"][0]["row"] == 0
    assert column["sample"][0]["expected"] != column["sample"][0]["got"]
    assert [h.split(" (")[0] for h in noisy["hints"]] == ["float noise only"]
    counted = found["counted"]["difference"]["columns"]
    assert any("unseeded randomness" in h and "os.urandom" in h for h in found["counted"]["hints"])
    assert [c["name"] for c in counted] == ["k"] and counted[0]["rows"] == 40
    model = found["model"]["difference"]
    assert [p["path"] for p in model["params"]] == ["random_state"]
    assert any(a["path"].startswith("tree_.") for a in model["attributes"])

    accepted = cli("reproduce", run_id, "--tolerance", "1e-8", "--json", cwd=root)
    assert accepted.returncode == 1  # an integer and a model differ: no tolerance accepts those
    report = json.loads(accepted.stdout)
    assert report["tolerance"] == 1e-8 and report["within_tolerance"] is False
    matches = {a["name"]: a["match"] for a in report["artifacts"]}
    assert matches == {
        "numbers": "identical",
        "noisy": "within_tolerance",
        "counted": "differs",
        "model": "differs",
    }
    (column,) = next(a for a in report["artifacts"] if a["name"] == "noisy")["difference"]["columns"]
    assert column["within_tolerance"] is True and column["accepted_by"] == "absolute"


def test_tolerance_accepts_float_noise_and_says_so(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", YAML, STEPS)
    run_id = first_run(root)
    strict = cli("reproduce", run_id, cwd=root)
    assert strict.returncode == 1 and "DIFFERS noisy (step noisy)" in strict.stdout
    assert "column y (Float64): 40 of 40 rows differ, max abs diff" in strict.stdout
    loose = cli("reproduce", run_id, "--tolerance", "1e-8", cwd=root)
    assert loose.returncode == 0, loose.stdout + loose.stderr
    assert "within tolerance 1e-08 noisy" in loose.stdout
    assert "identical within tolerance 1e-08" in loose.stdout and "bit-identical)" in loose.stdout
    assert "all outputs bit-identical" not in loose.stdout


def test_a_bad_tolerance_exits_2_and_records_nothing(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", YAML, STEPS)
    run_id = first_run(root)
    before = len(Project.open(root).runs(100))
    result = cli("reproduce", run_id, "--tolerance", "-1", cwd=root)
    assert result.returncode == 2
    assert "--tolerance must be a number of at least 0" in result.stderr and "Traceback" not in result.stderr
    assert len(Project.open(root).runs(100)) == before


# -- the comparisons themselves ------------------------------------------------------------------
def test_a_reordered_aggregate_is_matched_by_key_and_its_float_noise_measured() -> None:
    expected = pl.DataFrame({"g": [1, 2, 3], "mean": [0.1, 0.2, 0.3]})
    got = pl.DataFrame({"g": [3, 1, 2], "mean": [0.3, 0.1 + 2**-55, 0.2]})
    detail = compare_tables(expected, got, tolerance=1e-15)
    assert detail["aligned_by"] == ["g"] and (detail["only_expected"], detail["only_got"]) == (0, 0)
    (column,) = detail["columns"]
    assert column["rows"] == 1 and column["sample"] == [
        {"row": 0, "g": 1, "expected": 0.1, "got": 0.1 + 2**-55}
    ]
    assert column["max_abs"] == 2**-55 and column["within_tolerance"] is True
    assert detail["within_tolerance"] is True  # the values match; the order is not a float matter
    assert compare_tables(expected, got.sort("g").with_columns(mean=expected["mean"]))["columns"] == []


def test_order_schema_rows_and_integers_are_never_within_tolerance() -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert compare_tables(frame, frame.reverse(), 1.0)["order_only"] is True
    assert compare_tables(frame, frame.reverse(), 1.0)["within_tolerance"] is False
    changed = compare_tables(frame, frame.with_columns(pl.col("a").cast(pl.Float64)), 1.0)
    assert changed["schema"]["changed"] == {"a": ["Int64", "Float64"]} and not changed["within_tolerance"]
    shorter = compare_tables(frame, frame.head(2), 1.0)
    assert shorter["rows"] == {"expected": 3, "got": 2} and not shorter["within_tolerance"]
    ints = compare_tables(frame, frame.with_columns(a=pl.Series([1, 2, 4])), 10.0)
    assert ints["columns"][0]["rows"] == 1 and ints["columns"][0]["max_abs"] == 1.0
    assert not ints["within_tolerance"]


def test_relative_tolerance_for_large_values_and_nan_against_a_number() -> None:
    expected = pl.DataFrame({"v": [1e9, 2e9, float("nan")]})
    loose = compare_tables(expected, pl.DataFrame({"v": [1e9 + 1e-3, 2e9, float("nan")]}), 1e-9)
    assert loose["columns"][0]["accepted_by"] == "relative" and loose["within_tolerance"]
    nan = compare_tables(expected, pl.DataFrame({"v": [1e9, 2e9, 1.0]}), 1e-9)
    assert nan["columns"][0]["missing_or_nan"] == 1 and not nan["within_tolerance"]


def test_models_name_params_and_fitted_attributes_and_json_names_keys() -> None:
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    a = LogisticRegression(C=1.0).fit(X, y)
    b = LogisticRegression(C=0.5).fit(X, y)
    detail = compare_models(a, b)
    assert [p["path"] for p in detail["params"]] == ["C"]
    assert {"coef_", "intercept_"} <= {x["path"] for x in detail["attributes"]}
    coef = next(x for x in detail["attributes"] if x["path"] == "coef_")
    assert coef["elements"] == 3 and coef["of"] == 3 and coef["max_abs"] > 0
    assert compare_models(a, LogisticRegression(C=1.0).fit(X, y))["attributes"] == []
    report = compare_json(
        {"best_trial": 11, "pruned": 5, "x": [1.0]}, {"best_trial": 6, "pruned": 3, "x": [1.0]}
    )
    assert [(d["path"], d["expected"], d["got"]) for d in report["differences"]] == [
        ("best_trial", 11, 6),
        ("pruned", 5, 3),
    ]


def unseeded(frame: pl.DataFrame) -> pl.DataFrame:
    rng = np.random.default_rng()
    seeded = np.random.default_rng(7)
    stamp = datetime.now(UTC) + timedelta(seconds=time.time() % 1)
    pick = random.random()
    means = frame.group_by("g").agg(pl.col("x").mean())
    return means.with_columns(r=rng.random() + seeded.random() + pick, at=pl.lit(stamp))


def test_the_step_source_names_unseeded_rngs_the_clock_and_aggregations() -> None:
    causes = source_causes(unseeded)
    assert [c.split(" (")[0] for c in causes["unseeded"]] == ["np.random.default_rng"]  # not the seeded one
    assert [c.split(" (")[0] for c in causes["clock"]] == ["datetime.now", "time.time"]
    assert [c.split(" (")[0] for c in causes["global_rng"]] == ["random.random"]
    assert [c.split(" (")[0] for c in causes["aggregation"]] == [".agg", ".group_by"]
    assert source_causes(compare_tables) == {"unseeded": [], "global_rng": [], "clock": [], "aggregation": []}


def test_hints_from_the_difference_itself() -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    frame = pl.DataFrame({"g": [1, 2], "at": [datetime(2020, 1, 1)] * 2})
    clocked = compare_tables(frame, frame.with_columns(at=pl.lit(datetime.now(UTC).replace(tzinfo=None))))
    assert any(
        "column(s) at hold datetimes of the reproduce run" in h for h in hints("s", None, clocked, since)
    )
    noise = compare_tables(pl.DataFrame({"m": [0.1]}), pl.DataFrame({"m": [0.1 + 2**-55]}))
    (hint,) = hints("agg", unseeded, noise, since)[-1:]
    assert hint.startswith("parallel float aggregation") and "--tolerance 1e-15" in hint
    big = compare_tables(pl.DataFrame({"m": [0.1]}), pl.DataFrame({"m": [0.2]}))
    assert not any("float" in h for h in hints("agg", unseeded, big, since))


def test_reproduce_passes_mapping_params_in_the_declared_order(tmp_path: Path) -> None:
    # the store keeps params with sorted keys; a step that walks a mapping in order (a search
    # space, weights) got another order on reproduce than on the run
    yaml = """
steps:
  ordered: {uses: steps:ordered, params: {weights: {b: 1, a: 2}}, outputs: [order]}
"""
    project = Project.init(
        write_project(tmp_path / "p", yaml, "def ordered(weights):\n    return list(weights)\n")
    )
    first = project.run()
    _, _, comparisons = project.reproduce(first.id)
    assert [(c.name, c.match) for c in comparisons] == [("order", "identical")]
    assert project.load(first.steps[0].outputs["order"]) == ["b", "a"]
