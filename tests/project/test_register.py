"""Registering a model keeps the version when its reference profile cannot be made for a reason
loopline names (a LooplineError), and says so in the log; the version is never lost to it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopline.project import Project
from loopline.store.models import save_model


def _project(root: Path, monitor: str) -> Project:
    root.mkdir()
    (root / "loopline.yaml").write_text(f"steps: {{}}\nmonitor: {monitor}\n")
    project = Project.init(root)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    art = save_model(project.blobs, LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)))
    project.meta.add_version("m_model", art, source="test")
    return project


def test_a_bad_monitor_section_leaves_the_version_registered_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = _project(tmp_path / "p", "{windwo: 1h}")  # a typo: monitoring cannot be configured
    with caplog.at_level(logging.WARNING, logger="loopline.monitor"):
        version = project.register("m", "m_model")
    assert (version.name, version.version) == ("m", 1)
    assert project.model("m").version == 1  # read back from the registry
    assert any(
        "no reference profile for m" in r.getMessage() and "windwo" in r.getMessage() for r in caplog.records
    )
    project.close()


def test_a_good_monitor_section_registers_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = _project(tmp_path / "p", "{window: 1h}")
    with caplog.at_level(logging.WARNING, logger="loopline.monitor"):
        version = project.register("m", "m_model")
    assert version.version == 1
    assert not [r for r in caplog.records if "no reference profile" in r.getMessage()]
    project.close()
