"""An MLflow model folder (MLmodel plus files) as a loopline model artifact, without running it.

MLflow 3 saves scikit-learn models with skops by default (`serialization_format="skops"`): that
archive is exactly what loopline stores for its own models, so it becomes a `model` artifact in
loopline's canonical skops bytes, which `Registry.load`, `loopline serve` and monitoring load
with loopline's safe loader (only scikit-learn, NumPy and SciPy types). A folder in any other
format (pickle, cloudpickle, another flavor) is kept as a `blobs` artifact: registered,
versioned and downloadable by the MLflow client, but never unpickled by loopline.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import yaml

from loopline.core.errors import InvalidInput
from loopline.core.types import Artifact
from loopline.store.artifacts import BlobEntry, BlobSet, save_blobset
from loopline.store.blobs import BlobStore
from loopline.store.models import MODEL_FORMAT, canonicalize, model_id

MLMODEL = "MLmodel"


def describe(blobs: BlobStore, files: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
    """The parsed MLmodel file of a folder of (relative path, blob, size)."""
    found = {path: blob for path, blob, _ in files}
    if MLMODEL not in found:
        raise InvalidInput(
            "the model folder has no MLmodel file",
            hint="log the model with mlflow.<flavor>.log_model before registering it",
        )
    try:
        spec = yaml.safe_load(blobs.get_bytes(found[MLMODEL]))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the MLmodel file is not YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise InvalidInput("the MLmodel file is not a mapping")
    return spec


def _skops_class(data: bytes) -> str:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    return f"{schema.get('__module__', '?')}.{schema.get('__class__', '?')}"


def model_artifact(blobs: BlobStore, files: Sequence[tuple[str, str, int]]) -> Artifact:
    """The loopline artifact of an MLflow model folder: a skops `model`, else the folder as
    `blobs` (see the module docstring). The caller records and registers it."""
    spec = describe(blobs, files)
    sklearn = (spec.get("flavors") or {}).get("sklearn") or {}
    found = {path: blob for path, blob, _ in files}
    model_file = sklearn.get("pickled_model")
    if sklearn.get("serialization_format") == MODEL_FORMAT and model_file in found:
        data = canonicalize(blobs.get_bytes(found[model_file]))
        return Artifact(
            id=model_id(data),
            kind="model",
            blob=blobs.put_bytes(data),
            size=len(data),
            schema={
                "class": _skops_class(data),
                "format": MODEL_FORMAT,
                "mlflow_flavor": "sklearn",
                "sklearn_version": str(sklearn.get("sklearn_version", "")),
            },
        )
    entries = [BlobEntry(path, size, blob) for path, blob, size in files]
    return save_blobset(blobs, BlobSet(entries, store=blobs))
