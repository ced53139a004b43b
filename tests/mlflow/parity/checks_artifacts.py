"""MLflow client checks: artifacts (see checks.py), point 6.

Run with MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true and a small MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE
/ MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE (tests/mlflow/test_parity_artifacts.py sets 1 MB each), a
"large" file here (a few MB) takes the client's multipart path: against `loopline server` it is
uploaded in parts; `mlflow server` with a local artifact store answers that it has no multipart
upload and the client falls back to one PUT. Either way the bytes must come back identical.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
from pathlib import Path

import mlflow
from checks import Context, check

MB = 1_000_000


def _file(path: Path, size: int, seed: int) -> Path:
    """size pseudo-random bytes (a different stream per seed), so parts differ from each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        block, n = b"", 0
        while n < size:
            block = hashlib.blake2b(block + seed.to_bytes(4, "big"), digest_size=64).digest() * 1024
            out.write(block[: size - n])
            n += len(block)
    return path


def _run(context: Context, what: str) -> str:
    experiment = context.client.create_experiment(context.name(what))
    return context.client.create_run(experiment).info.run_id


@check(6)
def a_multipart_sized_file_comes_back_byte_identical(context: Context) -> None:
    run = _run(context, "big-file")
    big = _file(context.tmp / "big" / "weights.bin", 3 * MB + 123_457, seed=1)  # 4 parts of 1 MB
    context.client.log_artifact(run, str(big), "data")
    listed = context.client.list_artifacts(run, "data")
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [
        ("data/weights.bin", False, big.stat().st_size)
    ]
    got = context.client.download_artifacts(run, "data/weights.bin", str(context.tmp / "got-big"))
    assert filecmp.cmp(got, big, shallow=False), "the downloaded bytes differ"
    again = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run}/data/weights.bin", dst_path=str(context.tmp / "got-big-uri")
    )
    assert filecmp.cmp(again, big, shallow=False)


@check(6)
def a_file_sent_again_replaces_the_first(context: Context) -> None:
    run = _run(context, "again")
    first = _file(context.tmp / "again-1" / "model.bin", 2 * MB + 5, seed=2)
    second = _file(context.tmp / "again-2" / "model.bin", 1 * MB + 77, seed=3)
    context.client.log_artifact(run, str(first))
    context.client.log_artifact(run, str(second))
    got = context.client.download_artifacts(run, "model.bin", str(context.tmp / "got-again"))
    assert filecmp.cmp(got, second, shallow=False), "the second upload did not replace the first"
    assert [(f.path, f.file_size) for f in context.client.list_artifacts(run)] == [
        ("model.bin", second.stat().st_size)
    ]


@check(6)
def log_artifacts_of_a_folder_lists_and_downloads_as_the_tree(context: Context) -> None:
    run = _run(context, "folder")
    tree = context.tmp / "tree"
    _file(tree / "big.bin", 2 * MB + 999, seed=4)  # multipart-sized
    _file(tree / "conf" / "params.json", 300, seed=5)
    _file(tree / "conf" / "deep" / "empty.txt", 0, seed=6)
    _file(tree / "notes.txt", 10, seed=7)
    with mlflow.start_run(run_id=run):
        mlflow.log_artifacts(str(tree), "bundle")
    top = context.client.list_artifacts(run)
    assert [(f.path, f.is_dir) for f in top] == [("bundle", True)]
    inside = context.client.list_artifacts(run, "bundle")
    assert [(f.path, f.is_dir, f.file_size) for f in inside] == [
        ("bundle/big.bin", False, 2 * MB + 999),
        ("bundle/conf", True, None),
        ("bundle/notes.txt", False, 10),
    ]
    deep = context.client.list_artifacts(run, "bundle/conf/deep")
    assert [(f.path, f.file_size) for f in deep] == [("bundle/conf/deep/empty.txt", None)]  # 0: left out
    got = Path(context.client.download_artifacts(run, "bundle", str(context.tmp / "got-tree")))
    sent = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    back = sorted(str(p.relative_to(got)) for p in got.rglob("*") if p.is_file())
    assert back == sent, back
    for name in sent:
        assert filecmp.cmp(got / name, tree / name, shallow=False), name


@check(6)
def a_logged_models_large_file_round_trips(context: Context) -> None:
    experiment = context.client.create_experiment(context.name("model-files"))
    model = context.client.create_logged_model(experiment, name="big-model")
    weights = _file(context.tmp / "model" / "weights.bin", 2 * MB + 31, seed=8)
    context.client.log_model_artifact(model.model_id, str(weights))
    listed = context.client.list_logged_model_artifacts(model.model_id)
    assert [(f.path, f.file_size) for f in listed] == [("weights.bin", weights.stat().st_size)]
    got = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{model.artifact_location}/weights.bin", dst_path=str(context.tmp / "got-model")
    )
    assert os.path.getsize(got) == weights.stat().st_size
    assert filecmp.cmp(got, weights, shallow=False)
