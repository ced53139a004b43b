"""Points 2, 3 and 8 of the MLflow client checks (tests/mlflow/parity/checks_search.py): the
real MLflow client's searches against a live `loopline server`."""

from __future__ import annotations

from pathlib import Path

from tests.mlflow.conftest import parity


def _failed(tmp_path: Path, mlflow_python: Path, point: int) -> dict[str, str]:
    return {name: error for name, error in parity(tmp_path, mlflow_python, point).items() if error}


def test_registered_model_search(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 2) == {}


def test_search_filters_load_table_and_run_view_type(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 3) == {}


def test_experiment_search_pages(tmp_path: Path, mlflow_python: Path) -> None:
    assert _failed(tmp_path, mlflow_python, 8) == {}
