"""The prediction log contract (store/predictions.py) that serve writes and monitor reads, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from loopline.core.errors import InvalidInput
from loopline.store.blobs import LocalBlobStore
from loopline.store.metadata import MetadataStore
from loopline.store.predictions import PredictionLog

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def log(store_url: str, tmp_path: Path) -> Iterator[PredictionLog]:
    meta = MetadataStore(store_url)
    yield PredictionLog(meta, LocalBlobStore(str(tmp_path / "blobs")))
    meta.close()


def records(n: int, *, model: str = "iris", version: int = 1, start: int = 0, variant: str = "primary"):
    return [
        {
            "request_id": f"{model}-{variant}-{i}",
            "model": model,
            "version": version,
            "variant": variant,
            "at": T0 + timedelta(seconds=i),
            "latency_ms": 0.5 + i,
            "prediction": i % 3,
            "confidence": 0.5 + (i % 5) / 10,
            "features": {"petal": float(i), "colour": "red" if i % 2 else "blue"},
        }
        for i in range(start, start + n)
    ]


def test_rows_read_back_with_the_contract_columns_in_time_order(log: PredictionLog):
    log.write(list(reversed(records(5, start=5))))
    log.write(records(5))
    frame = log.read("iris")
    assert frame.columns == [
        "request_id", "model", "version", "variant", "at", "latency_ms", "prediction", "confidence",
        "petal", "colour",
    ]  # fmt: skip
    assert frame.schema["request_id"] == pl.Utf8
    assert frame.schema["version"] == pl.Int64
    assert frame.schema["at"] == pl.Datetime("us", "UTC")
    assert frame.schema["latency_ms"] == pl.Float64
    assert frame.schema["confidence"] == pl.Float64
    assert frame["request_id"].to_list() == [f"iris-primary-{i}" for i in range(10)]
    assert frame["petal"].to_list() == [float(i) for i in range(10)]
    assert frame["prediction"].to_list() == [i % 3 for i in range(10)]
    assert frame["at"][3] == T0 + timedelta(seconds=3)
    assert log.models() == ["iris"]


def test_windows_versions_and_variants_filter(log: PredictionLog):
    log.write(records(10) + records(10, variant="shadow") + records(4, version=2, start=10, variant="canary"))
    assert log.read("iris").height == 14  # primary and canary by default, shadow kept apart
    assert log.read("iris", variants=("shadow",))["variant"].unique().to_list() == ["shadow"]
    window = log.read("iris", since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=6))
    assert window["request_id"].to_list() == [f"iris-primary-{i}" for i in (3, 4, 5)]
    assert log.read("iris", version=2)["request_id"].to_list() == [f"iris-canary-{i}" for i in range(10, 14)]
    assert log.read("iris", since=T0 + timedelta(days=1)).height == 0


def test_a_batch_written_twice_is_logged_once(log: PredictionLog):
    batch = records(20)
    log.write(batch)
    log.write(batch)  # a retry after an ambiguous failure
    assert log.read("iris")["request_id"].n_unique() == log.read("iris").height == 20


def test_an_unknown_model_reads_empty_with_the_fixed_columns(log: PredictionLog):
    frame = log.read("nothing")
    assert frame.height == 0
    assert frame.columns[:6] == ["request_id", "model", "version", "variant", "at", "latency_ms"]
    assert log.models() == []


def test_a_bad_record_writes_nothing(log: PredictionLog):
    bad = records(3)
    del bad[2]["request_id"]
    with pytest.raises(InvalidInput, match="request_id"):
        log.write(records(3, model="other") + bad)
    assert log.models() == []
    with pytest.raises(InvalidInput, match="variant"):
        log.write(records(1, variant="blue"))


def test_ground_truth_by_request_id_latest_wins(log: PredictionLog):
    assert log.post_truth("iris", {"a": 1, "b": 2}, at=T0) == 2
    assert log.post_truth("iris", {"b": 0}, at=T0 + timedelta(minutes=1)) == 1
    truth = log.read_truth("iris")
    assert truth.columns == ["request_id", "truth", "at"]
    assert dict(zip(truth["request_id"], truth["truth"], strict=True)) == {"a": 1, "b": 0}
    assert log.read_truth("iris", since=T0 + timedelta(seconds=30))["request_id"].to_list() == ["b"]
    assert log.read_truth("other").height == 0
    with pytest.raises(InvalidInput):
        log.post_truth("iris", {"c": float("nan")})


def test_many_models_are_listed_and_kept_apart(log: PredictionLog):
    log.write([r for m in ("a", "b", "c") for r in records(3, model=m)])
    assert log.models() == ["a", "b", "c"]
    assert set(log.read("b")["model"]) == {"b"}


def test_the_project_facade_holds_one_log(tmp_path: Path):
    from loopline.project import Project

    project = Project.init(tmp_path / "p")
    try:
        assert project.predictions is project.predictions
        project.predictions.write(records(2))
        assert project.predictions.read("iris").height == 2
    finally:
        project.close()


def test_aligned_feature_rows_read_back_like_named_features(log: PredictionLog):
    import numpy as np

    names = ("petal", "sepal")
    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    aligned = [
        {k: v for k, v in r.items() if k != "features"} | {"feature_names": names, "feature_values": rows[i]}
        for i, r in enumerate(records(2))
    ]
    log.write(aligned)
    frame = log.read("iris")
    assert frame.columns[-2:] == ["petal", "sepal"]
    assert frame.select("petal", "sepal").rows() == [(1.0, 2.0), (3.0, 4.0)]
