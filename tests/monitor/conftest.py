"""A project with a registered, promoted classifier trained on synthetic data (four numeric
features and an integer-coded segment), and helpers to log production windows for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from loopline.project import Project
from tests.conftest import write_project

STEPS = """
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression

def data(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({
        "x1": rng.normal(0, 1, n), "x2": rng.normal(5, 2, n),
        "x3": rng.exponential(1.0, n), "x4": rng.uniform(-1, 1, n),
        "segment": rng.integers(0, 4, n),
    })
    score = frame["x1"] + 0.5 * frame["x4"] - 0.3 * (frame["x2"] - 5)
    return frame.with_columns(label=(score > 0).cast(pl.Int64))

def train(table, target: str = "label", C: float = 1.0):
    X = table.drop(target).to_pandas()
    return LogisticRegression(C=C, max_iter=500).fit(X, table[target].to_numpy())
"""
YAML = """
steps:
  data: {uses: "monitor_steps:data", outputs: [table]}
  train: {uses: "monitor_steps:train", inputs: [table], params: {target: label}, outputs: [model]}
"""
FEATURES = ("x1", "x2", "x3", "x4", "segment")
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def sample(n: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    """Rows from the training distribution; `shift` moves x1's mean (in standard deviations)."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x1": rng.normal(shift, 1, n),
            "x2": rng.normal(5, 2, n),
            "x3": rng.exponential(1.0, n),
            "x4": rng.uniform(-1, 1, n),
            "segment": rng.integers(0, 4, n),
        }
    )


@dataclass
class Setup:
    project: Project
    root: Path
    version: int

    def log(
        self, frame: pl.DataFrame, *, start: datetime = NOW, prefix: str = "r", confidence: float = 0.9
    ) -> None:
        """Write the frame to the prediction log as served requests, one a second from start."""
        model = self.project.load_model("clf", self.version)
        predictions = model.predict(frame.select(FEATURES).fill_null(0).to_pandas())  # logs the nulls
        records = [
            {
                "request_id": f"{prefix}{i}",
                "model": "clf",
                "version": self.version,
                "at": start + timedelta(seconds=i),
                "latency_ms": 1.0,
                "prediction": int(predictions[i]),
                "confidence": confidence,
                "features": row,
            }
            for i, row in enumerate(frame.select(FEATURES).iter_rows(named=True))
        ]
        self.project.predictions.write(records)


def make_setup(root: Path, yaml_extra: str = "", store: str | None = None) -> Setup:
    # its own module name: steps run in this process, and another test's `steps` module may be
    # imported already (the runner reuses sys.modules)
    write_project(root, YAML + yaml_extra, store=store)
    (root / "monitor_steps.py").write_text(STEPS)
    project = Project.init(root)
    project.run()
    version = project.register("clf", "model")
    project.promote("clf", version.version, "production")
    return Setup(project, root, version.version)


@pytest.fixture
def setup(tmp_path: Path, store_url: str) -> Iterator[Setup]:
    made = make_setup(tmp_path / "proj", store=store_url)
    yield made
    made.project.close()
