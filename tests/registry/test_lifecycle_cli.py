"""`loopline models delete | restore` and `loopline gc` as a user runs them: --json output, what a
dry run leaves, and exit 2 with what, where and what to do on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopline.project import Project
from loopline.store.models import save_model
from tests.conftest import cli

X, Y = load_iris(return_X_y=True)


def test_delete_restore_and_gc(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    try:
        for c in (1.0, 0.5):
            art = save_model(project.blobs, LogisticRegression(C=c, max_iter=300).fit(X, Y))
            project.meta.add_version("model", art, source="test")
            project.registry.register("iris", art)
        exp = project.meta.tracking.ensure_experiment("e").id
        run_id = project.meta.tracking.create_run(exp, executor="mlflow").id
        kept = project.meta.tracking.create_run(exp, executor="mlflow").id
        project.delete_run(run_id)
        assert [r.id for r in project.search_runs(experiment="e")] == [kept]  # a deleted run is hidden
    finally:
        project.close()
    root = tmp_path / "p"

    deleted = cli("models", "delete", "iris", "--version", "2", "--json", cwd=root, check=True)
    assert json.loads(deleted.stdout) == {
        "name": "iris",
        "version": 2,
        "deleted": True,
        "aliases_removed": [],
    }
    restored = cli("models", "restore", "iris", "--version", "2", "--json", cwd=root, check=True)
    assert json.loads(restored.stdout)["restored_versions"] == 1
    cli("models", "delete", "iris", cwd=root, check=True)

    listed = json.loads(cli("runs", "--json", cwd=root, check=True).stdout)
    assert [r["run_id"] for r in listed] == [kept]  # the quick listing hides it too
    dry = json.loads(cli("gc", "--dry-run", "--json", cwd=root, check=True).stdout)
    assert dry["dry_run"] and dry["removed"]["models"] == ["iris"] and dry["removed"]["runs"] == [run_id]
    bad = cli("gc", "--older-than", "a while", cwd=root)
    assert bad.returncode == 2 and "--older-than" in bad.stderr and "30d" in bad.stderr
    done = cli("gc", "--older-than", "0s", cwd=root, check=True)
    assert "removed 1 registered models, 1 runs" in done.stdout
