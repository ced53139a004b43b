"""`MetadataStore.blob_holders`: which labeling projects, datasets, registered models and MLflow
experiments hold a blob (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.serve.conftest import register
from tests.server.conftest import make_setup
from tests.server.test_pages import pictures


def test_each_kind_of_holder_is_found(tmp_path: Path, store_url: str) -> None:
    setup = make_setup(tmp_path / "proj", store_url)
    project = setup.project
    try:
        png, svg = pictures(setup, tmp_path / "pics")
        assert project.meta.blob_holders(png) == [("labeling", "pics")]
        table = project.meta.get_version("reviews").blob
        assert project.meta.blob_holders(table) == [("dataset", "reviews")]
        register(project, "iris", 1.0)
        model = project.meta.get_version("iris_model").blob
        assert project.meta.blob_holders(model) == [("dataset", "iris_model"), ("model", "iris")]
        project.mlflow.put_file("7/run1/artifacts/plot.svg", svg, 10)
        assert project.meta.blob_holders(svg) == [("experiment", "7"), ("labeling", "pics")]
        assert project.meta.blob_holders(project.blobs.put_bytes(b"loose")) == []
    finally:
        project.close()
