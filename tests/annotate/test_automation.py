"""Label automation through the Project facade: label errors back in the queue with the model's
suggestion, model pre-labels as suggestions, active-learning priorities served first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from loopline.core.errors import InvalidInput, NotFound
from loopline.project import Project

LABELS = [str(i) for i in range(10)]
N = 400


def _digits_project(root: Path, store_url: str | None = None) -> tuple[Project, np.ndarray, np.ndarray]:
    """A project whose dataset is 400 digits (64 pixel columns, ids d000...) and 400 others
    kept aside to train models."""
    x, y = load_digits(return_X_y=True)
    project = Project.init(root, store=store_url)
    table = pl.DataFrame(x[:N], schema=[f"p{i}" for i in range(64)]).with_columns(
        _item_id=pl.Series([f"d{i:03d}" for i in range(N)])
    )
    table.write_parquet(root / "digits.parquet")
    project.add(root / "digits.parquet", "digits")
    return project, x, y


def _answers(path: Path, labels: np.ndarray, who: str = "a1") -> Path:
    lines = [
        {"item_id": f"d{i:03d}", "annotator": who, "label": str(v), "seconds": 1.0, "source": "human"}
        for i, v in enumerate(labels)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_flagged_labels_are_served_first_with_the_model_suggestion(tmp_path, store_url):
    project, _, y = _digits_project(tmp_path, store_url)
    project.annotate_create("digits", "digits", LABELS, overlap=2)
    rng = np.random.default_rng(0)
    flipped = rng.choice(N, 20, replace=False)
    noisy = y[:N].copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, 20)) % 10
    project.annotate_import("digits", _answers(tmp_path / "a1.jsonl", noisy))

    report = project.annotate_review("digits")
    assert report["items"] == N and report["reopened"] == 0  # overlap 2: each task still open
    flagged = {row["item_id"] for row in report["issues"]}
    truly = {f"d{i:03d}" for i in flipped}
    assert len(flagged & truly) >= 14 and len(flagged & truly) / len(flagged) >= 0.6
    tasks = {t.item_id: t for t in project.meta.annotations.tasks("digits")}
    worst = report["issues"][0]
    assert tasks[worst["item_id"]].priority == pytest.approx(3.0 - worst["quality"])
    assert tasks[worst["item_id"]].suggestion == worst["suggested"]
    assert tasks[worst["item_id"]].suggestion_source == "model"
    # a second annotator is served the flagged items first, the worst label first
    project.annotator_add("reviewer")
    lease = project.next_task("digits", "reviewer")
    assert lease is not None and lease.task.item_id == worst["item_id"]


def test_flagged_tasks_with_all_their_answers_are_reopened_for_review(tmp_path):
    project, _, y = _digits_project(tmp_path)
    project.annotate_create("digits", "digits", LABELS, overlap=1)
    noisy = y[:N].copy()
    flipped = np.random.default_rng(1).choice(N, 20, replace=False)
    noisy[flipped] = (noisy[flipped] + 1) % 10
    project.annotate_import("digits", _answers(tmp_path / "a1.jsonl", noisy))
    assert project.annotate_status("digits")["remaining"] == 0
    report = project.annotate_review("digits")
    assert report["reopened"] == report["flagged"] > 0
    project.annotator_add("reviewer")
    worst = report["issues"][0]
    lease = project.next_task("digits", "reviewer")
    assert lease is not None and lease.task.item_id == worst["item_id"]
    project.submit("digits", lease.task.id, "reviewer", worst["suggested"], 2.0)
    served = set()
    while (lease := project.next_task("digits", "reviewer")) is not None:
        served.add(lease.task.item_id)
        project.submit("digits", lease.task.id, "reviewer", lease.task.suggestion or "0", 1.0)
    assert served | {worst["item_id"]} == {row["item_id"] for row in report["issues"]}
    assert project.annotate_status("digits")["remaining"] == 0


def test_prelabel_from_an_estimator_or_a_skops_file(tmp_path):
    from loopline.store.models import dump_model

    project, x, y = _digits_project(tmp_path)
    project.annotate_create("digits", "digits", LABELS)
    model = LogisticRegression(max_iter=2000).fit(x[N:], y[N:].astype(str))
    report = project.annotate_prelabel("digits", model, min_confidence=0.5)
    assert report["suggested"] + report["below_confidence"] == N
    assert report["suggested"] > 0.8 * N
    tasks = project.meta.annotations.tasks("digits")
    shown = [(t.suggestion, str(y[int(t.item_id[1:])])) for t in tasks if t.suggestion is not None]
    assert {t.suggestion_source for t in tasks if t.suggestion is not None} == {"model"}
    assert np.mean([s == truth for s, truth in shown]) >= 0.9
    (tmp_path / "model.skops").write_bytes(dump_model(model))
    again = project.annotate_prelabel("digits", str(tmp_path / "model.skops"), min_confidence=0.5)
    assert again["suggested"] == report["suggested"]
    with pytest.raises(NotFound):
        project.annotate_prelabel("digits", str(tmp_path / "missing.skops"))
    with pytest.raises(NotFound):
        project.annotate_prelabel("digits", "no-such-model")
    other = LogisticRegression(max_iter=2000).fit(x[N:], np.where(y[N:] > 4, "big", "small"))
    with pytest.raises(InvalidInput, match="not a label of the project"):
        project.annotate_prelabel("digits", other)


def test_prioritize_serves_the_most_uncertain_first(tmp_path):
    project, x, y = _digits_project(tmp_path)
    project.annotate_create("digits", "digits", LABELS)
    model = LogisticRegression(max_iter=2000).fit(x[N : N + 60], y[N : N + 60].astype(str))
    report = project.annotate_prioritize("digits", model, strategy="margin", k=30)
    assert report["open"] == N and report["prioritized"] == 30
    proba = model.predict_proba(x[:N])
    top2 = np.sort(proba, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    expected = f"d{int(np.argmin(margin)):03d}"
    assert report["next"][0] == expected
    project.annotator_add("ann")
    lease = project.next_task("digits", "ann")
    assert lease is not None and lease.task.item_id == expected
    tasks = project.meta.annotations.tasks("digits")
    assert sum(1 < t.priority < 2 for t in tasks) == 30
    # a new ranking resets the old picks it does not keep
    again = project.annotate_prioritize(
        "digits", model, strategy="margin", k=10, diversity=0.5, features="digits"
    )
    assert again["prioritized"] == 10 and again["reset"] >= 1
    assert sum(1 < t.priority < 2 for t in project.meta.annotations.tasks("digits")) == 10
    with pytest.raises(InvalidInput, match="needs a model or probabilities"):
        project.annotate_prioritize("digits")


def test_cli_errors_prelabel_prioritize(tmp_path):
    from loopline.store.models import dump_model
    from tests.conftest import cli

    project, x, y = _digits_project(tmp_path)
    project.annotate_create("digits", "digits", LABELS, overlap=2)
    noisy = y[:N].copy()
    noisy[:10] = (noisy[:10] + 1) % 10
    project.annotate_import("digits", _answers(tmp_path / "a1.jsonl", noisy))
    project.close()
    (tmp_path / "m.skops").write_bytes(
        dump_model(LogisticRegression(max_iter=2000).fit(x[N:], y[N:].astype(str)))
    )

    out = cli("annotate", "errors", "digits", "--json", cwd=tmp_path, check=True)
    report = json.loads(out.stdout)
    assert report["items"] == N and report["flagged"] >= 5
    out = cli("annotate", "errors", "digits", "--cv", "3", cwd=tmp_path, check=True)
    assert "look wrong in digits" in out.stdout and "suggested" in out.stdout
    out = cli("annotate", "prelabel", "digits", "--model", "m.skops", "--json", cwd=tmp_path, check=True)
    assert json.loads(out.stdout)["suggested"] == N
    out = cli(
        "annotate", "prioritize", "digits", "-m", "m.skops", "--strategy", "margin", "--k", "5", cwd=tmp_path
    )
    assert out.returncode == 0 and "5 of 400 open tasks" in out.stdout, out.stderr
    bad = cli("annotate", "prioritize", "digits", "-m", "m.skops", "--strategy", "vibes", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown strategy" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli("annotate", "prelabel", "digits", "-m", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no registered model 'nope'" in missing.stderr
