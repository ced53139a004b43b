"""Point 6 of the MLflow client checks (tests/mlflow/parity/checks_artifacts.py): large artifacts,
with the client's multipart upload turned on and its sizes lowered to 1 MB, so a few-MB file is
sent in parts (create, signed part PUTs in parallel, complete) and comes back byte-identical
through the plain streamed download."""

from __future__ import annotations

from pathlib import Path

from tests.mlflow.conftest import parity

MULTIPART = {
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1000000",
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": "1000000",
    # asked for, a presigned (ranged) download is refused by both servers: the client falls back
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
}


def test_large_artifacts_go_up_in_parts_and_come_back_whole(tmp_path: Path, mlflow_python: Path) -> None:
    results = parity(tmp_path, mlflow_python, 6, **MULTIPART)
    failed = {name: error for name, error in results.items() if error}
    assert failed == {}
    assert len(results) == 4
