"""Shared fixtures: projects in temp folders, metadata stores on SQLite and (when
LOOPLINE_TEST_DATABASE_URL is set) PostgreSQL, each test in its own schema, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# One BLAS/OpenMP thread per test process, and per `loopline` subprocess (they inherit it):
# `pytest -n auto` runs a worker per core already, and a library pool of a thread per core in each
# oversubscribes the machine, where OpenBLAS threads spin as they wait. A digits
# LogisticRegression fit took 39 s so on a loaded 2-core machine, 0.8 s with one thread.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
if "numpy" in sys.modules:  # loaded by a plugin before this file: limit its pools now
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

PG_URL = os.environ.get("LOOPLINE_TEST_DATABASE_URL")
BIN = Path(sys.executable).parent


def _postgres_schema_url(base: str) -> Iterator[str]:
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata store URL on each engine that is available."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    if not PG_URL:
        pytest.skip("LOOPLINE_TEST_DATABASE_URL is not set")
    yield from _postgres_schema_url(PG_URL)


def write_project(root: Path, yaml_text: str, steps_py: str = "", store: str | None = None) -> Path:
    """A project folder with loopline.yaml and (optionally) a steps.py module."""
    root.mkdir(parents=True, exist_ok=True)
    header = f"project:\n  store: {store}\n" if store else ""
    (root / "loopline.yaml").write_text(header + yaml_text)
    if steps_py:
        (root / "steps.py").write_text(steps_py)
    return root


def cli(
    *args: str, cwd: Path, check: bool = False, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed `loopline` command as a user would, in a subprocess."""
    result = subprocess.run(
        [str(BIN / "loopline"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"loopline {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback for this test process, and the AWS settings pointing at it
    (inherited by the `loopline` subprocesses the tests start)."""
    from loopline.testing.s3 import aws_pointed_at, moto_server

    with moto_server() as endpoint, aws_pointed_at(endpoint):
        yield endpoint


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """A blob store URL in a fresh bucket of the test S3 server."""
    from loopline.testing.s3 import make_bucket

    return f"s3://{make_bucket(s3_endpoint)}/blobs"
