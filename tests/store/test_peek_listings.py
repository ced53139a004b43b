"""peek's listings (runs, datasets, models): the repository's answers read with sqlite3 alone, or
None when unsure; Project answers `runs`, `datasets` and `models` with them while its store is not
open, and with the full store when they cannot answer."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from loopline.core.errors import StorageError
from loopline.core.types import Run
from loopline.pipeline.status import status
from loopline.project import Project
from loopline.registry import Policy, Registry
from loopline.store.metadata import peek
from loopline.store.models import save_model
from tests.conftest import write_project

STEPS = """
def make(n):
    return {"n": n}


def double(numbers):
    return {"n": numbers["n"] * 2}
"""
PIPELINE = """
steps:
  numbers:
    uses: steps:make
    params: {n: 3}
    outputs: [numbers]
  doubled:
    uses: steps:double
    inputs: [numbers]
    outputs: [doubled]
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Three runs (one computing, two cache hits), two datasets, two models, one with an alias."""
    root = write_project(tmp_path / "proj", PIPELINE, STEPS)
    project = Project.init(root)
    for _ in range(3):
        assert project.run().status == "succeeded"
    (root / "a.csv").write_text("id,x\n1,2\n")
    project.add(root / "a.csv", "people")
    (root / "a.csv").write_text("id,x\n1,3\n")
    project.add(root / "a.csv", "people")
    registry = Registry(project.meta, project.blobs, Policy.from_config({}), "alice")
    for name, c in (("iris", 1.0), ("iris", 0.5), ("other", 0.1)):
        art = save_model(project.blobs, LogisticRegression(C=c).fit([[0.0], [1.0]], [0, 1]))
        project.meta.add_version("model", art, source="test")
        registry.register(name, art, metrics={"f1": c}, gates_passed=c > 0.2)
    registry.promote("iris", 2, "staging")
    return project


def url(project: Project) -> str:
    return project.settings.store_url


def test_the_repository_answers(project: Project) -> None:
    meta, host = project.meta, socket.gethostname()
    for limit in (1, 2, 3, 50):
        assert peek.list_runs(url(project), limit, host) == meta.list_runs(limit)
    assert [len(r.steps) for r in peek.list_runs(url(project), 50, host) or []] == [2, 2, 2]
    assert peek.datasets(url(project)) == meta.datasets()
    assert [(a.name, a.version, n) for a, n in peek.datasets(url(project)) or []] == [
        ("doubled", 1, 1),
        ("model", 3, 3),
        ("numbers", 1, 1),
        ("people", 2, 2),
    ]
    models = peek.list_models(url(project))
    assert models == Registry(meta, project.blobs, Policy.from_config({}), "x").models()
    assert models is not None and [(m.name, m.versions, m.aliases) for m in models] == [
        ("iris", 2, {"staging": 2}),
        ("other", 1, {}),
    ]
    assert models[0].latest is not None and models[0].latest.gates_passed is True


def test_project_listings_leave_the_store_closed(project: Project) -> None:
    expected = (project.meta.list_runs(2), project.meta.datasets())
    project.close()
    fresh = Project.open(project.root)
    assert (fresh.runs(2), fresh.datasets()) == expected
    assert [m.name for m in fresh.models()] == ["iris", "other"]
    assert "meta" not in fresh.__dict__  # answered without opening the store (nor SQLAlchemy)


def test_a_dead_run_goes_to_the_store_which_marks_it(project: Project) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(gone.stdout)
    started = datetime.now(UTC)
    project.meta.create_run(
        Run("dead-run", "running", started, None, "local", None, host=socket.gethostname(), pid=pid)
    )
    assert peek.list_runs(url(project), 10, socket.gethostname()) is None
    assert peek.list_runs(url(project), 10, "another-host") is not None  # not this host's to judge
    project.close()
    fresh = Project.open(project.root)
    assert fresh.runs(1)[0].status == "interrupted"  # the full store marked it
    assert peek.list_runs(url(project), 1, socket.gethostname())[0].id == "dead-run"  # type: ignore[index]


def test_no_answer_when_it_cannot_be_sure(project: Project, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    for listing in (lambda u: peek.list_runs(u, 5, "h"), peek.datasets, peek.list_models):
        assert listing(missing) is None
        assert listing("postgresql+psycopg://u@h/db") is None
    assert not (tmp_path / "missing.db").exists()
    project.close()
    with sqlite3.connect(url(project).removeprefix("sqlite:///")) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff'")  # a newer loopline's
    assert peek.list_runs(url(project), 5, "h") is None and peek.datasets(url(project)) is None
    with pytest.raises(StorageError, match="which this loopline does not know"):
        Project.open(project.root).runs()  # the full store's error, as before


def test_status_reads_the_same_through_a_snapshot(project: Project) -> None:
    meta = project.meta
    with peek.snapshot(url(project)) as reader:
        assert reader is not None
        latest = meta.latest_step_runs()
        assert reader.latest_step_runs() == latest and set(latest) == {"numbers", "doubled"}
        fp = latest["numbers"].fingerprint
        assert reader.find_cached(fp) == meta.find_cached(fp) == latest["numbers"].outputs
        assert reader.find_cached("0" * 64) is None
        ids = [*latest["doubled"].outputs.values(), *latest["doubled"].inputs.values(), "f" * 64]
        assert reader.get_artifacts(ids) == meta.get_artifacts(ids) and len(reader.get_artifacts(ids)) == 2
        assert reader.latest_version("people") == meta.latest_version("people")
        assert reader.latest_version("nobody") is None


def test_project_status_without_the_store(project: Project) -> None:
    full = [s.to_json() for s in project.status()]
    assert [s["state"] for s in full] == ["fresh", "fresh"]
    project.close()
    fresh = Project.open(project.root)
    assert [s.to_json() for s in fresh.status()] == full
    text = (project.root / "loopline.yaml").read_text()
    (project.root / "loopline.yaml").write_text(text.replace("{n: 3}", "{n: 4}"))
    changed = Project.open(project.root)
    assert [s.to_json() for s in changed.status()] == [
        {"name": "numbers", "state": "stale", "reasons": ["params: n changed"]},
        {"name": "doubled", "state": "stale", "reasons": ["input numbers: upstream step numbers will run"]},
    ]
    assert "meta" not in fresh.__dict__ and "meta" not in changed.__dict__
    assert [s.to_json() for s in changed.status()] == [
        s.to_json() for s in status(changed.runner, changed.pipeline())
    ]


def test_trials_are_folded_as_the_repository_folds_them(project: Project) -> None:
    """`loopline runs` lists top-level runs and counts each one's trials through peek."""
    from loopline.store.metadata.tables import PARENT_TAG

    meta, host = project.meta, socket.gethostname()
    parent = meta.list_runs(1)[0].id
    with project.start_run("tune", "trial-0") as trial:
        pass
    meta.tracking.set_tags(trial.id, {PARENT_TAG: parent})
    top = peek.list_runs(url(project), 50, host, top_level=True)
    assert top == meta.list_runs(50, top_level=True)
    assert top is not None and trial.id not in [r.id for r in top]
    assert trial.id in [r.id for r in peek.list_runs(url(project), 50, host) or []]
    counts = {k: len(v) for k, v in meta.tracking.children_of([parent, "nope"]).items()}
    counted = meta.tracking.child_counts([parent, "nope"])  # in SQL, loading none
    assert peek.child_counts(url(project), [parent, "nope"]) == counts == counted == {parent: 1, "nope": 0}
    assert peek.PARENT_TAG == PARENT_TAG
