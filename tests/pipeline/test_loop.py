"""`loopline loop`: turns that wait for labels, retrain when enough arrived, gate, promote, and
queue what collection brings in next, ranked by the production model; the policy's mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from loopline.core.errors import ConfigError
from loopline.pipeline.loop import LoopPolicy, source_signature, watch
from loopline.project import Project
from tests.conftest import cli, write_project

STEPS = """
import polars as pl
from sklearn.linear_model import LogisticRegression



def keyed(points):
    # collected rows carry their item ids, which are the tasks' ids: active learning joins on them
    return points.select("_item_id", "x1", "x2")


def join(labels, keyed):
    return labels.select(pl.col("item_id").alias("_item_id"), "label").join(keyed, on="_item_id")


def train(train):
    return LogisticRegression().fit(train.select("x1", "x2"), train["label"])
"""

YAML = """
sources:
  points: {type: files, root: inbox, glob: "*.csv"}
steps:
  keyed:
    uses: steps:keyed
    inputs: [points]
    outputs: [keyed]
  features:
    uses: steps:join
    inputs: {labels: pts_labels, keyed: keyed}
    outputs: [labeled]
  split:
    uses: loopline.split:split
    inputs: {table: labeled}
    params: {stratify: label, seed: 1}
    outputs: [train, validation, test]
  train:
    uses: steps:train
    inputs: [train]
    outputs: [model]
  evaluate:
    uses: loopline.evaluate:evaluate
    inputs: [model, test]
    params:
      target: label
      gates: [{metric: accuracy, min: 0.7}]
    outputs: [evaluation]
loop:
  model: pts
  collect: [keyed]
  monitor: false
  labeling: {project: pts, features: keyed, method: majority}
  retrain: {target: evaluate, min_new_labels: 50}
  promote: [staging, production]
"""


def write_points(path: Path, n: int, seed: int) -> dict[tuple[float, float], str]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).round(4)
    truth = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x1,x2\n" + "".join(f"{a},{b}\n" for a, b in x))
    return {(float(a), float(b)): str(t) for (a, b), t in zip(x, truth, strict=True)}


def answer_open_tasks(project: Project, truth: dict[tuple[float, float], str], path: Path) -> int:
    open_tasks = [t for t in project.meta.annotations.tasks("pts") if t.done == 0]
    lines = [
        json.dumps({"item_id": t.item_id, "annotator": "ann", "label": truth[(t.data["x1"], t.data["x2"])]})
        for t in open_tasks
    ]
    path.write_text("\n".join(lines) + "\n")
    project.annotate_import("pts", path)
    return len(lines)


def test_turns_wait_retrain_promote_and_queue_new_data(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", YAML, STEPS)
    truth = write_points(root / "inbox" / "a.csv", 200, seed=1)
    project = Project.init(root)
    project.collect()
    project.annotate_create("pts", "points", ["yes", "no"])

    first = project.loop_turn()  # no answers yet: nothing to train on
    assert first["labels"]["labels"] == 0 and first["retrain"] is None
    assert first["reason"] == "waiting: 0 new labels of 50"

    answer_open_tasks(project, truth, tmp_path / "a.jsonl")
    second = project.loop_turn()
    assert second["new_labels"] == 200 and second["retrain"]["status"] == "succeeded"
    assert second["retrain"]["version"] == 1 and second["retrain"]["gates_passed"] is True
    assert second["retrain"]["promoted"] == ["staging", "production"]
    assert project.model("pts", "production").version == 1
    metrics = project.model("pts", 1).metrics  # of the steps that made or read the model only
    assert "accuracy" in metrics and "items" not in metrics and "added" not in metrics

    third = project.loop_turn()  # nothing new anywhere
    assert third["retrain"] is None and third["new_labels"] == 0
    assert third["collect"]["ran"] == ["collect.points"] and third["queue"]["queued"] == 0

    truth |= write_points(root / "inbox" / "b.csv", 100, seed=2)
    fourth = project.loop_turn()  # collected, queued and ranked, not yet labeled
    assert fourth["queue"] == {"project": "pts", "queued": 100, "ranked": 100}
    assert fourth["retrain"] is None
    ranked = sorted(
        (t for t in project.meta.annotations.tasks("pts") if t.done == 0), key=lambda t: -t.priority
    )
    model = project.load_model("pts", "production")
    rows = pl.DataFrame({"x1": [t.data["x1"] for t in ranked], "x2": [t.data["x2"] for t in ranked]})
    margin = np.abs(model.predict_proba(rows)[:, 0] - 0.5)
    assert margin[0] < 0.1 < margin[-1]  # the least certain is served first

    answer_open_tasks(project, truth, tmp_path / "b.jsonl")
    fifth = project.loop_turn()
    assert fifth["new_labels"] == 100 and fifth["retrain"]["version"] == 2
    assert project.model("pts", "production").version == 2
    turns = project.search_runs(experiment="loop", order_by="start_time")
    assert [r.tags["retrained"] for r in turns] == ["no", "yes", "no", "no", "yes"]
    assert [r.metrics["labels"] for r in turns] == [0, 200, 200, 200, 300]


def test_without_labeling_each_turn_retrains_but_registers_only_a_new_model(tmp_path: Path) -> None:
    yaml = YAML.replace("  labeling: {project: pts, features: keyed, method: majority}\n", "")
    yaml = yaml.replace("inputs: {labels: pts_labels, keyed: keyed}", "inputs: {labels: given, keyed: keyed}")
    root = write_project(tmp_path / "p", yaml, STEPS)
    truth = write_points(root / "inbox" / "a.csv", 120, seed=4)
    project = Project.init(root)
    project.run(targets=["keyed"])
    keyed = project.load("keyed")
    labels = [truth[(a, b)] for a, b in zip(keyed["x1"], keyed["x2"], strict=True)]
    given = pl.DataFrame({"item_id": keyed["_item_id"], "label": labels})
    given.write_parquet(root / "given.parquet")
    project.add(root / "given.parquet", "given")
    first = project.loop_turn()
    assert first["reason"] == "scheduled retraining (no labeling in the loop)"
    assert first["retrain"]["version"] == 1
    second = project.loop_turn()  # nothing changed: the pipeline is cached, the model the same
    assert second["retrain"]["unchanged"] == 1 and "version" not in second["retrain"]
    assert [v.version for v in project.registry.model("pts")[1]] == [1]


def test_the_cli_runs_a_turn_and_refuses_a_bad_policy(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", YAML, STEPS)
    truth = write_points(root / "inbox" / "a.csv", 120, seed=3)
    project = Project.init(root)
    project.collect()
    project.annotate_create("pts", "points", ["yes", "no"])
    answer_open_tasks(project, truth, tmp_path / "a.jsonl")
    project.close()
    done = cli("loop", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["retrain"]["promoted"] == ["staging", "production"]
    shown = cli("loop", cwd=root)
    assert shown.returncode == 0 and "waiting: 0 new labels of 50" in shown.stdout

    (root / "loopline.yaml").write_text(YAML.replace("  monitor: false\n", "  monitr: false\n"))
    bad = cli("loop", cwd=root)
    assert bad.returncode == 2
    assert "unknown key 'monitr' in loop" in bad.stderr and "loopline.yaml:" in bad.stderr


def test_policy_parse_errors() -> None:
    def where(key: str) -> str:
        return f"loopline.yaml ({key})"

    with pytest.raises(ConfigError, match="declares no loop"):
        LoopPolicy.parse({}, where)
    with pytest.raises(ConfigError, match="needs `model:`"):
        LoopPolicy.parse({"model": "m"}, where)
    with pytest.raises(ConfigError, match="must be a list of names"):
        LoopPolicy.parse({"model": "m", "retrain": {"target": "t"}, "promote": [1]}, where)
    with pytest.raises(ConfigError, match="not a number"):
        LoopPolicy.parse({"model": "m", "retrain": {"target": "t", "min_new_labels": "many"}}, where)
    policy = LoopPolicy.parse({"model": "m", "retrain": {"target": "t"}, "collect": "c"}, where)
    assert (policy.collect, policy.promote, policy.min_new_labels) == (("c",), ("staging", "production"), 100)


def test_watch_starts_a_turn_as_soon_as_data_lands(tmp_path: Path) -> None:
    sources = {"s": {"type": "files", "root": "inbox", "glob": "*.csv"}}
    (tmp_path / "inbox").mkdir()
    seen: list[tuple[int, int]] = []

    def step() -> None:
        seen.append(source_signature(sources, tmp_path))
        if len(seen) == 1:  # data lands while the loop waits out a long interval
            (tmp_path / "inbox" / "new.csv").write_text("a\n1\n")

    watch(step, lambda: source_signature(sources, tmp_path), interval=600, poll=0.01, turns=2)
    assert [count for count, _ in seen] == [0, 1]
