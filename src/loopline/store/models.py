"""Model files: scikit-learn estimators as skops archives, loaded without running pickled code.

skops writes a zip whose entry names, memo ids and timestamps come from `id()` and the clock, so
two saves of one model differ byte for byte. We rewrite the archive into a canonical form (ids
renumbered in order of appearance, fixed timestamps, entries sorted), so the same fitted model
always gets the same bytes and the same id, and `reproduce` can compare model ids.

Loading trusts only what skops trusts by default plus classes defined inside scikit-learn, NumPy
and SciPy; any other type in an archive (a user's class, a function from elsewhere) is refused
before anything is constructed, unless the caller names it in `trusted`.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopline.core.errors import Integrity, InvalidInput
from loopline.core.hashing import hash_bytes

if TYPE_CHECKING:
    from loopline.core.types import Artifact
    from loopline.store.blobs import BlobStore

MODEL_FORMAT = "skops"
_TAG = b"loopline-model-v1\0"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Classes from these packages are trusted: they are the model libraries loopline supports, and
# loading them constructs their own types (LightGBM rebuilds a Booster from its text format).
_SAFE_ROOTS = ("sklearn", "numpy", "scipy", "lightgbm")
_SAFE_CLASSES = frozenset({"collections.OrderedDict"})  # plain containers models keep params in


def is_model(value: Any) -> bool:
    """A scikit-learn-style estimator (anything with get_params and fit)."""
    return callable(getattr(value, "get_params", None)) and callable(getattr(value, "fit", None))


# -- canonical bytes -----------------------------------------------------------------------------
def _renumber(schema: Any, ids: dict[int, int]) -> Any:
    """Replace skops' `id()`-based memo ids and the file names made from them by 1, 2, 3…"""
    if isinstance(schema, list):
        return [_renumber(item, ids) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "__id__" and isinstance(value, int):
            out[key] = ids.setdefault(value, len(ids) + 1)
        elif key == "file" and isinstance(value, str) and value.split(".", 1)[0].isdigit():
            stem, suffix = value.split(".", 1)
            out[key] = f"{ids.setdefault(int(stem), len(ids) + 1)}.{suffix}"
        else:
            out[key] = _renumber(value, ids)
    return out


def _write_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, entries[name], compresslevel=6)
    return buffer.getvalue()


def _entries(data: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Integrity(f"model file is not a readable skops archive: {exc}") from exc


def canonicalize(data: bytes) -> bytes:
    """skops archive bytes in loopline's canonical form (see the module docstring)."""
    entries = _entries(data)
    if "schema.json" not in entries:
        raise InvalidInput("model file has no schema.json: not a skops archive")
    ids: dict[int, int] = {}
    schema = _renumber(json.loads(entries.pop("schema.json")), ids)
    canonical = {"schema.json": json.dumps(schema, indent=1).encode()}
    for name, content in entries.items():
        stem, _, suffix = name.partition(".")
        new = f"{ids.setdefault(int(stem), len(ids) + 1)}.{suffix}" if stem.isdigit() else name
        if suffix == "npz":  # scipy sparse: numpy's own zip, stamped with the clock
            content = _write_zip(_entries(content))
        canonical[new] = content
    return _write_zip(canonical)


def model_id(data: bytes) -> str:
    """The id of a canonical archive: a hash of its entries' names and contents (not of the zip
    container, so the compression level does not matter)."""
    parts = [_TAG]
    for name, content in sorted(_entries(data).items()):
        parts += [name.encode(), b"\0", len(content).to_bytes(8, "little"), content]
    return hash_bytes(b"".join(parts))


def dump_model(estimator: Any) -> bytes:
    """Canonical skops bytes of an estimator; refuses one that could not be loaded back safely."""
    import skops.io as sio

    try:
        data = canonicalize(sio.dumps(estimator))
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"cannot save a {type(estimator).__name__} with skops: {exc}",
            hint="return a scikit-learn estimator built from scikit-learn, NumPy and SciPy types",
        ) from exc
    _check_types(data, (), what=f"a {type(estimator).__name__}")
    return data


# -- safe loading --------------------------------------------------------------------------------
def _known_safe(name: str) -> bool:
    """A class defined in scikit-learn, NumPy, SciPy or LightGBM, or a plain container (never a
    function: a function in a model is something that model will call)."""
    if name in _SAFE_CLASSES:
        return True
    module_name, _, attr = name.rpartition(".")
    if module_name.split(".", 1)[0] not in _SAFE_ROOTS or not attr:
        return False
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(found, type) and found.__module__.split(".", 1)[0] in _SAFE_ROOTS


def _skops_untrusted(data: bytes) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises bare exceptions on malformed schemas
        raise Integrity(f"model file has an unreadable schema: {exc}") from exc


def untrusted_types(data: bytes, trusted: Sequence[str] = ()) -> list[str]:
    """Types in the archive that loopline would refuse to construct."""
    return [n for n in _skops_untrusted(data) if n not in trusted and not _known_safe(n)]


def _check_types(data: bytes, trusted: Sequence[str], *, what: str) -> list[str]:
    """The types to hand skops as trusted; InvalidInput naming any loopline refuses."""
    found = _skops_untrusted(data)
    refused = [n for n in found if n not in trusted and not _known_safe(n)]
    if refused:
        raise InvalidInput(
            f"{what} contains types loopline does not trust: {', '.join(refused)}",
            hint="only scikit-learn, NumPy and SciPy types load without review; if you wrote and "
            "trust these classes, pass them as trusted=[...] when loading",
        )
    return found


def load_model(data: bytes, trusted: Sequence[str] = ()) -> Any:
    """The estimator in canonical skops bytes; no pickle, no type outside the trusted set."""
    import skops.io as sio

    allowed = _check_types(data, trusted, what="the model file")
    try:
        return sio.loads(data, trusted=allowed)
    except Exception as exc:
        raise Integrity(f"model file could not be loaded: {type(exc).__name__}: {exc}") from exc


# -- artifacts -----------------------------------------------------------------------------------
def save_model(store: BlobStore, estimator: Any) -> Artifact:
    from loopline.core.types import Artifact

    data = dump_model(estimator)
    cls = type(estimator)
    return Artifact(
        id=model_id(data),
        kind="model",
        blob=store.put_bytes(data),
        size=len(data),
        schema={"class": f"{cls.__module__}.{cls.__qualname__}", "format": MODEL_FORMAT},
    )


def model_bytes(store: BlobStore, artifact: Artifact) -> bytes:
    """The stored archive, checked twice: the blob against its hash (by the store) and the
    entries against the artifact id the metadata recorded."""
    if artifact.kind != "model":
        raise InvalidInput(f"artifact {artifact.id[:12]} is a {artifact.kind}, not a model")
    data = store.get_bytes(artifact.blob)
    found = model_id(data)
    if found != artifact.id:
        raise Integrity(
            f"model file {artifact.blob[:12]} holds model {found[:12]}, not the recorded {artifact.id[:12]}",
            hint="the blob or the metadata was changed; restore it or register the model again",
        )
    return data


def read_model(store: BlobStore, artifact: Artifact, trusted: Sequence[str] = ()) -> Any:
    return load_model(model_bytes(store, artifact), trusted)
