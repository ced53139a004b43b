"""Point 0 of the MLflow client checks (tests/mlflow/parity): the calls that already worked."""

from __future__ import annotations

from pathlib import Path

from tests.mlflow.conftest import parity


def test_the_basic_calls_work(tmp_path: Path, mlflow_python: Path) -> None:
    failed = {name: error for name, error in parity(tmp_path, mlflow_python, 0).items() if error}
    assert failed == {}
