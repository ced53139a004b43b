"""The real MLflow 3 client, unchanged, against a live `loopline server` that requires a token:
one script run does what a training script does, twice, and then everything is checked on the
loopline side (runs, metrics, registry versions and alias, the model loaded by loopline itself,
the blobs) and through the `loopline` command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from loopline.project import Project
from loopline.server import create_app
from tests.conftest import cli
from tests.mlflow.conftest import CLIENT_SCRIPT
from tests.server.conftest import make_user
from tests.server.live import live_server

MODEL = "churn-classifier"


def test_the_mlflow_client_works_unchanged(tmp_path: Path, mlflow_python: Path) -> None:
    root = tmp_path / "proj"
    project = Project.init(root)
    _, token = project.annotator_add("trainer", "manager")
    app = create_app(project)  # auth on, as `loopline server` by default
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    with live_server(app) as url:
        env |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token, "STEPS": "20", "RUNS": "2"}
        env |= {"MODEL_NAME": MODEL, "EXPERIMENT": "mlflow-compat", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
        done = subprocess.run(
            [str(mlflow_python), str(CLIENT_SCRIPT)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # what the client saw
    first, second = seen["run_ids"]
    assert seen["versions"] == [1, 2] and seen["alias_version"] == 2
    assert seen["pyfunc_predictions"] == seen["sklearn_predictions"] == seen["expected_predictions"]
    assert seen["sklearn_class"] == "LogisticRegression"
    assert seen["search_run_ids"] == [second, first]  # final_accuracy 0.9 before 0.8
    assert {"metrics.loss", "metrics.final_accuracy", "params.C", "params.solver"} <= set(
        seen["search_columns"]
    )
    assert [step for step, _ in seen["history"]] == list(range(20))  # no point logged twice
    assert seen["history"][3] == [3, 0.25]
    assert seen["notes"] == "attempt 0\n"
    assert seen["model_versions"] == [1, 2] and seen["model_version_status"] == ["READY"]
    assert seen["run_status"] == "FINISHED" and seen["unstable_is_nan"]
    assert seen["run_metrics"]["ratio"] == float("inf") and seen["run_metrics"]["final_accuracy"] == 0.8
    assert seen["run_params"] == {"C": "0.5", "solver": "lbfgs"}
    assert seen["run_tags"] == {"team": "churn", "attempt": "0"}

    # what loopline holds: the same runs, metrics, versions and alias, no second store
    runs = project.search_runs(experiment="mlflow-compat", order_by="metrics.final_accuracy", descending=True)
    assert [r.id for r in runs] == [second, first]
    assert all(r.status == "succeeded" and r.params["solver"] == "lbfgs" for r in runs)
    assert [p.step for p in project.metric_history(first, "loss")] == list(range(20))
    assert [p.value for p in project.metric_history(first, "unstable")] == [None]
    champion = project.model(MODEL, "champion")
    assert (champion.version, champion.run_id) == (2, second)
    assert champion.metrics["final_accuracy"] == 0.9
    artifact = project.registry.artifact(champion)
    assert artifact.kind == "model" and artifact.schema["format"] == "skops"
    assert project.blobs.verify(artifact.blob)
    estimator = project.load_model(MODEL, "champion")  # loopline's own safe loader, no pickle
    from sklearn.datasets import make_classification

    X, _ = make_classification(n_samples=200, n_features=4, random_state=0)
    assert estimator.predict(X[:10]).tolist() == seen["expected_predictions"]
    events = [(e.kind, e.version, e.actor) for e in project.model_history(MODEL)]
    assert events == [("register", 1, "trainer"), ("register", 2, "trainer"), ("promote", 2, "trainer")]
    assert project.promote(MODEL, 1, "production")["version"] == 1  # promotable like a native one
    files = [path for path, _, _ in project.mlflow.files_under("")]
    assert any(p.endswith(f"{first}/artifacts/docs/notes.txt") for p in files)
    assert sum(p.endswith("/MLmodel") for p in files) == 2
    project.close()

    # and the command line lists them beside native runs and models
    listed = json.loads(cli("runs", "--json", cwd=root, check=True).stdout)
    assert {first, second} <= {r["run_id"] for r in listed}
    assert {r["executor"] for r in listed if r["run_id"] in (first, second)} == {"mlflow"}
    models = json.loads(cli("models", "--json", cwd=root, check=True).stdout)
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in models] == [
        (MODEL, 2, {"champion": 2, "production": 1})
    ]


AUTH_SCRIPT = """
import sys, mlflow
from mlflow.exceptions import MlflowException
try:
    mlflow.create_experiment("auth-check")
except MlflowException as exc:
    print("refused", exc.error_code)
    sys.exit(0)
with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("auth-check").experiment_id):
    mlflow.log_metric("loss", 0.5)
print("written")
"""


def test_the_client_needs_credentials_token_or_basic(tmp_path: Path, mlflow_python: Path) -> None:
    project = Project.init(tmp_path / "proj")
    token = make_user(project, "ci", "scientist")
    viewer = make_user(project, "looker", "viewer")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    base |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    ways = {
        "none": ({}, "refused UNAUTHENTICATED"),
        "viewer": ({"MLFLOW_TRACKING_TOKEN": viewer}, "refused PERMISSION_DENIED"),
        "basic, wrong user": (
            {"MLFLOW_TRACKING_USERNAME": "looker", "MLFLOW_TRACKING_PASSWORD": token},
            "refused UNAUTHENTICATED",
        ),
        "basic": ({"MLFLOW_TRACKING_USERNAME": "ci", "MLFLOW_TRACKING_PASSWORD": token}, "written"),
    }
    seen = {}
    with live_server(create_app(project)) as url:
        for way, (extra, _) in ways.items():
            done = subprocess.run(
                [str(mlflow_python), "-c", AUTH_SCRIPT],
                env={**base, "MLFLOW_TRACKING_URI": url, **extra},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            seen[way] = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    assert seen == {way: wanted for way, (_, wanted) in ways.items()}
    assert [e.name for e in project.experiments()].count("auth-check") == 1
    project.close()
