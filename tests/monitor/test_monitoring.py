"""Monitoring a registered model: its reference profile is made at registration from the
training table (found by lineage), monitoring runs without that table ever being read again,
performance once truth arrives and its estimate before, data quality, the report artifact."""

from __future__ import annotations

import os
from datetime import timedelta

import polars as pl
import pytest

from loopline.core.errors import InvalidInput, NotFound
from tests.monitor.conftest import NOW, Setup, sample


def test_registration_profiles_the_training_table(setup: Setup):
    profile = setup.project.monitoring.profile("clf", setup.version)
    assert set(profile.columns) == {"x1", "x2", "x3", "x4", "segment"}
    assert profile.rows == 3000
    assert profile.columns["x1"].kind == "numeric" and profile.columns["segment"].kind == "categorical"
    assert profile.prediction is not None and profile.source["label"] == "label"
    assert set(profile.prediction.categories) == {"0", "1"}
    assert profile.source["table"] == setup.project.resolve("table").id


def test_monitoring_never_reads_the_training_data_again(setup: Setup):
    """The training table's bytes are removed from the blob store; monitoring still works."""
    project = setup.project
    training = project.resolve("table")
    frame = project.load("table").head(500)
    path = project.blobs.local_path(training.blob)
    assert path is not None
    os.remove(path)
    setup.log(frame, start=NOW)
    report = project.monitor("clf", since=NOW, until=NOW + timedelta(hours=1))
    assert report["window"]["rows"] == 500 and report["drift"]["drifted_columns"] == 0


def test_a_report_with_truth_estimate_quality_and_prediction_drift(setup: Setup):
    project = setup.project
    window = sample(600, 11, shift=2.0).with_columns(
        pl.when(pl.int_range(pl.len()) < 30).then(None).otherwise(pl.col("x3")).alias("x3"),  # 5 % nulls
        pl.when(pl.int_range(pl.len()) < 12).then(9).otherwise(pl.col("segment")).alias("segment"),  # unseen
    )
    setup.log(window, start=NOW, confidence=0.8)
    truth = {f"r{i}": int(i % 3 == 0) for i in range(0, 600, 2)}  # half the requests get truth
    project.predictions.post_truth("clf", truth)
    report = project.monitor("clf", since=NOW, until=NOW + timedelta(hours=1))

    drifted = {c["name"] for c in report["drift"]["columns"] if c["drifted"]}
    assert "x1" in drifted and report["drift"]["drifted"]
    assert report["prediction_drift"]["drifted"] is True  # x1 moved by 2 sd: far more 1s predicted

    quality = report["quality"]
    rows = {c["name"]: c for c in quality["columns"]}
    assert rows["x3"]["null_rate"] == pytest.approx(0.05)
    assert rows["segment"]["unseen"] == pytest.approx(0.02) and rows["segment"]["unseen_values"] == [
        ["9", 12]
    ]
    assert rows["x1"]["out_of_range"] > 0
    assert any("x3: 5.0% nulls" in issue for issue in quality["issues"])

    perf = report["performance"]
    predicted = project.predictions.read("clf").sort("request_id")
    joined = predicted.join(
        pl.DataFrame({"request_id": list(truth), "truth": list(truth.values())}), on="request_id"
    )
    assert perf["labelled"] == 300 and perf["coverage"] == pytest.approx(0.5)
    assert perf["accuracy"] == pytest.approx((joined["prediction"] == joined["truth"]).mean())
    assert report["estimated_performance"]["accuracy"] == pytest.approx(0.8)
    assert sum(w["rows"] for w in report["estimated_performance"]["windows"]) == 600

    stored = project.monitor_report(report["report_id"][:10])
    assert stored["drift"] == report["drift"]
    assert {f["id"] for f in stored["figures"]} >= {"drift", "prediction", "performance"}
    text = str(stored)
    assert "r0" not in text  # statistics only: no request id, no row


def test_a_file_window_and_a_reference_given_by_hand(setup: Setup, tmp_path):
    project = setup.project
    path = tmp_path / "current.parquet"
    sample(2000, 5, shift=0.5).write_parquet(path)
    report = project.monitor("clf", data=str(path))
    assert report["window"]["source"] == str(path) and report["drift"]["drifted"]
    assert report["performance"] is None and report["estimated_performance"] is None

    other = tmp_path / "ref.csv"
    sample(2000, 5, shift=0.5).write_csv(other)
    project.add(other, "shifted")
    again = project.monitor("clf", data=path, reference="shifted")
    assert not again["drift"]["drifted"]  # the same data as its reference


def test_bad_input(setup: Setup, tmp_path):
    project = setup.project
    with pytest.raises(NotFound, match="no registered model"):
        project.monitor("nope")
    with pytest.raises(NotFound, match="no version at alias 'staging'"):
        project.monitor("clf", alias="staging")
    with pytest.raises(InvalidInput, match="no file"):
        project.monitor("clf", data=tmp_path / "missing.parquet")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InvalidInput, match="format"):
        project.monitor("clf", data=tmp_path / "x.txt")
    with pytest.raises(InvalidInput, match="after it ends"):
        project.monitor("clf", since=NOW, until=NOW - timedelta(hours=1))
