"""The MLflow client's side of the compatibility test and of benchmarks/mlflow_server.py.

Runs in a venv with the real `mlflow` package (not loopline's), against MLFLOW_TRACKING_URI, and
prints one JSON line of what it saw. `full` does what a training script does, twice (so the
registered model gets version 2); `bench` only logs RUNS runs of STEPS steps through log_metrics
and prints the seconds that took.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient

EXPERIMENT = os.environ.get("EXPERIMENT", "mlflow-compat")
MODEL = os.environ.get("MODEL_NAME", "churn-classifier")
STEPS = int(os.environ.get("STEPS", "20"))
RUNS = int(os.environ.get("RUNS", "2"))


def bench() -> dict[str, object]:
    mlflow.set_experiment(EXPERIMENT)
    started = time.perf_counter()
    for run in range(RUNS):
        with mlflow.start_run(run_name=f"bench-{run}") as active:
            mlflow.log_params({"lr": 0.01, "run": run})
            for step in range(STEPS):
                mlflow.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / STEPS}, step=step)
    seconds = time.perf_counter() - started
    points = len(MlflowClient().get_metric_history(active.info.run_id, "loss"))  # not timed
    return {"seconds": seconds, "runs": RUNS, "steps": STEPS, "history_points": points}


def full() -> dict[str, object]:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    mlflow.set_experiment(EXPERIMENT)
    run_ids, versions, expected = [], [], []
    for attempt in range(RUNS):
        with mlflow.start_run(run_name=f"train-{attempt}") as run:
            mlflow.log_params({"C": 0.5 + attempt, "solver": "lbfgs"})
            for step in range(STEPS):
                mlflow.log_metrics({"loss": 1.0 / (step + 1) + attempt, "accuracy": step / STEPS}, step=step)
            mlflow.log_metric("final_accuracy", 0.8 + 0.1 * attempt)
            mlflow.log_metric("unstable", math.nan)
            mlflow.log_metric("ratio", math.inf)
            mlflow.set_tags({"team": "churn", "attempt": str(attempt)})
            model = LogisticRegression(C=0.5 + attempt).fit(X, y)
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL)
            with tempfile.TemporaryDirectory() as folder:
                notes = Path(folder, "notes.txt")
                notes.write_text(f"attempt {attempt}\n")
                mlflow.log_artifact(str(notes), artifact_path="docs")
        run_ids.append(run.info.run_id)
        versions.append(int(info.registered_model_version))
        expected = model.predict(X[:10]).tolist()

    client = MlflowClient()
    client.set_registered_model_alias(MODEL, "champion", str(versions[-1]))
    by_alias = client.get_model_version_by_alias(MODEL, "champion")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    sklearn_model = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    found = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string="params.solver = 'lbfgs' and metrics.final_accuracy > 0.5",
        order_by=["metrics.final_accuracy DESC"],
    )
    history = client.get_metric_history(run_ids[0], "loss")
    with tempfile.TemporaryDirectory() as folder:
        local = mlflow.artifacts.download_artifacts(run_id=run_ids[0], artifact_path="docs", dst_path=folder)
        notes = Path(local, "notes.txt").read_text()
    model_versions = client.search_model_versions(f"name='{MODEL}'")
    run = client.get_run(run_ids[0])
    return {
        "run_ids": run_ids,
        "versions": versions,
        "alias_version": int(by_alias.version),
        "pyfunc_predictions": [int(v) for v in pyfunc.predict(X[:10])],
        "sklearn_predictions": [int(v) for v in sklearn_model.predict(X[:10])],
        "expected_predictions": expected,
        "sklearn_class": type(sklearn_model).__name__,
        "search_run_ids": list(found["run_id"]),
        "search_columns": sorted(c for c in found.columns if c.startswith(("metrics.", "params."))),
        "history": [[m.step, m.value] for m in history],
        "notes": notes,
        "model_versions": sorted(int(v.version) for v in model_versions),
        "model_version_status": sorted({v.status for v in model_versions}),
        "run_status": run.info.status,
        "run_metrics": {k: (None if math.isnan(v) else v) for k, v in run.data.metrics.items()},
        "unstable_is_nan": math.isnan(run.data.metrics["unstable"]),
        "run_params": run.data.params,
        "run_tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    }


if __name__ == "__main__":
    result = bench() if sys.argv[1:] == ["bench"] else full()
    print(json.dumps(result))
