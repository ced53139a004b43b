"""Point 4 of the MLflow client checks (tests/mlflow/parity/checks_lifecycle.py): delete, restore
and rename of experiments and runs; delete, rename and update of registered models and
versions; every delete_*_tag."""

from __future__ import annotations

from pathlib import Path

from tests.mlflow.conftest import parity


def test_the_lifecycle_calls_work(tmp_path: Path, mlflow_python: Path) -> None:
    failed = {name: error for name, error in parity(tmp_path, mlflow_python, 4).items() if error}
    assert failed == {}
