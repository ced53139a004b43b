"""Batch scoring: partitions on the local process and on a Dask LocalCluster give the same
artifact, with lineage to the model and the dataset; `loopline score` and `loopline serve` as a
user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import httpx
import numpy as np
import polars as pl
import pytest

from loopline.core.errors import InvalidInput
from loopline.project import Project
from loopline.store.artifacts import save_table
from tests.conftest import BIN, cli
from tests.serve.conftest import FEATURES, free_port, row, wait_for
from tests.server.conftest import make_user


def add_rows(project: Project, n: int = 500, *, item_ids: bool = True) -> str:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({name: rng.normal(size=n) for name in FEATURES})
    if item_ids:
        frame = frame.with_columns(item_id=pl.int_range(0, n).cast(pl.Utf8).str.zfill(5))
    art = save_table(project.blobs, frame)
    project.meta.add_version("rows", art, source="test")
    return art.id


def test_local_and_dask_partitions_make_the_same_scores_artifact(sqlite_project: Project):
    project = sqlite_project
    dataset = add_rows(project)
    local = project.score("iris", "rows", partitions=3)
    dask = project.score("iris", "rows", partitions=3, executor="dask")
    assert local["artifact_id"] == dask["artifact_id"]
    assert (local["rows"], local["partitions"], local["version"]) == (500, 3, 1)
    scores = project.load(local["artifact_id"])
    assert scores.columns == ["item_id", "prediction", "confidence"]
    model = project.load_model("iris")
    features = project.load(dataset).select(FEATURES).to_numpy()
    assert scores["prediction"].to_list() == model.predict(features).tolist()
    assert np.allclose(scores["confidence"].to_numpy(), model.predict_proba(features).max(axis=1))
    _, ancestors, _ = project.lineage(local["artifact_id"])
    assert ancestors.step == "score.iris"
    assert {child.artifact.id for child in ancestors.children} == {
        dataset,
        project.model("iris", 1).artifact_id,
    }
    one = project.score("iris", "rows", alias="2", partitions=1, output="v2_scores")
    assert one["version"] == 2 and one["output"] == "v2_scores"


def test_rows_without_item_ids_are_numbered_and_missing_inputs_refused(project: Project):
    add_rows(project, 10, item_ids=False)
    scores = project.load(project.score("iris", "rows", partitions=4)["artifact_id"])
    assert scores["row"].to_list() == list(range(10))
    bare = save_table(project.blobs, pl.DataFrame({"sepal_length": [1.0]}))
    project.meta.add_version("bare", bare, source="test")
    with pytest.raises(InvalidInput, match="sepal_width"):
        project.score("iris", "bare")


def test_cli_score_and_serve_as_a_user_runs_them(sqlite_project: Project):
    project = sqlite_project
    add_rows(project, 50)
    scored = cli("score", "iris", "rows", "--partitions", "2", "--json", cwd=project.root, check=True)
    result = json.loads(scored.stdout)
    assert (result["rows"], result["output"], result["executor"]) == (50, "iris_scores", "local")
    refused = cli("score", "iris", "nope", cwd=project.root)
    assert refused.returncode == 2 and "nope" in refused.stderr

    token = make_user(project, "ci", "scientist")  # a client of the service: a user of its own
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "loopline"), "serve", "iris", "--port", str(port), "--max-body-bytes", "2000"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/ready").status_code == 200
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                return False

        wait_for(ready, timeout=60, what="loopline serve to be ready")
        assert httpx.post(f"{url}/predict", json=row(1)).status_code == 401  # auth on by default
        auth = {"Authorization": f"Bearer {token}"}
        answer = httpx.post(f"{url}/predict", json=row(1), headers={"X-Request-ID": "cli-1", **auth}).json()
        assert answer["version"] == 1
        assert httpx.post(f"{url}/predict", json=[row(i) for i in range(40)], headers=auth).status_code == 413
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "serving iris@production" in out
    logged = project.predictions.read("iris")["request_id"].to_list()
    spooled = sorted(p.name for p in (project.root / ".loopline" / "spool").rglob("*.json"))
    assert logged == ["cli-1"], f"flushed on stop? spooled: {spooled}\n{out}\n{err}"
