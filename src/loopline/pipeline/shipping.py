"""Step code for workers that share no folder with the project: the source travels in the task.

A Dask worker on another machine has no project folder to put on `sys.path`. The parent packs the
project's own modules (the top-level module or package folder under the project root of each
step's `uses:`, and any other top-level module of the project the steps imported) into a small,
deterministic zip; the zip rides in the StepTask, and the worker unpacks it once per content hash
in its own directory (the Dask worker's local directory) and imports the step from there. The
worker still checks the function's `code_hash` against the one the run fingerprinted, so code
that changed between the fingerprint and the packing is refused, never run under the old
fingerprint.

Why the source in the task and not `Client.upload_file`: upload_file puts a file on every worker's
`sys.path` for good, under its file name, and reloads a module of that name in place; two runs of
different code (or two projects with a `steps.py` each) on one cluster would overwrite each other.
A bundle named by its hash is immutable, needs no extra round trip to the cluster, reaches a worker
that joins mid-run with the task itself, and costs a few kilobytes per task.

Only `.py` files travel (no `__pycache__`, nothing hidden): data a step reads comes through its
inputs from the blob store, and other libraries must be installed on the workers, as loopline is.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopline.core.hashing import hash_bytes

_STAMP = (1980, 1, 1, 0, 0, 0)  # a fixed time in every entry: same files, same bytes, same hash
_IMPORTING = threading.Lock()  # a worker with several threads installs one bundle at a time


@dataclass(frozen=True)
class CodeBundle:
    digest: str  # hash of `data`: the folder it unpacks to on a worker
    modules: tuple[str, ...]  # the top-level module names it holds
    data: bytes  # a zip of their .py files, paths relative to the project root


def _top_level_of(root: Path, name: str) -> list[Path]:
    """The files of the top-level module `name` if the project root holds it, else []."""
    package = root / name
    if (package / "__init__.py").is_file() or (package.is_dir() and any(package.glob("*.py"))):
        return sorted(
            p
            for p in package.rglob("*.py")
            if not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
        )
    single = root / f"{name}.py"
    return [single] if single.is_file() else []


def project_modules(root: Path, uses: Iterable[str]) -> list[str]:
    """The top-level modules the project folder holds: those the `uses` name, and those already
    imported from the folder (a helper module the steps import)."""
    names = {u.partition(":")[0].split(".")[0] for u in uses}
    resolved = root.resolve()
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if "." in name or not where:
            continue
        path = Path(where).resolve()
        if path == resolved / f"{name}.py" or path == resolved / name / "__init__.py":
            names.add(name)
    return sorted(n for n in names if _top_level_of(root, n))


def pack(root: Path, uses: Iterable[str]) -> CodeBundle:
    """The bundle of the project's modules the steps need (empty when they are all installed ones,
    `loopline.evaluate:evaluate`: the worker still leaves the project folder alone)."""
    modules = project_modules(root, uses)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in modules:
            for path in _top_level_of(root, name):
                entry = zipfile.ZipInfo(path.relative_to(root).as_posix(), _STAMP)
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
    data = buffer.getvalue()
    return CodeBundle(hash_bytes(data), tuple(modules), data)


def code_base() -> Path:
    """Where bundles unpack: a Dask worker's own directory (`--local-directory`, removed with the
    worker), else the temp dir; never the project's folder."""
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory) / "loopline-code"
    except (ImportError, ValueError):  # not on a Dask worker
        return Path(tempfile.gettempdir()) / "loopline-code"


def unpack(bundle: CodeBundle) -> Path:
    """The bundle's folder, unpacked once per machine: into a fresh folder, then renamed into place,
    so a worker never imports from a half-written one (another worker may unpack it at once)."""
    folder = code_base() / bundle.digest
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{bundle.digest[:12]}-", dir=folder.parent))
    try:
        with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
            archive.extractall(partial)
        os.rename(partial, folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def install(bundle: CodeBundle) -> str:
    """Put the bundle's folder first on sys.path and forget every module of the same names imported
    from elsewhere (an earlier bundle, another project); returns the folder. The caller holds
    `importing()` until it has imported what it needs."""
    folder = unpack(bundle)
    base = str(code_base()) + os.sep
    sys.path[:] = [p for p in sys.path if not p.startswith(base)]
    sys.path.insert(0, str(folder))
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        mine = where.startswith(str(folder) + os.sep)
        shipped = name.split(".")[0] in bundle.modules or where.startswith(base)
        if shipped and not mine:
            del sys.modules[name]
    return str(folder)


def importing() -> threading.Lock:
    return _IMPORTING


def pickle_by_value(bundle: CodeBundle) -> None:
    """Functions of the bundle's modules travel by value (a `ctx.map` from a step reaches workers
    that never unpacked the bundle)."""
    import cloudpickle

    for name in bundle.modules:
        module = sys.modules.get(name)
        if module is not None and name not in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.register_pickle_by_value(module)


def by_value(fn: Callable[[Any], Any], items: Sequence[Any]) -> tuple[Any, ...]:
    """`Client.map` arguments that call fn on each item with fn pickled by cloudpickle beforehand:
    a graph is pickled by reference, and the scheduler (which unpickles it) and the other workers
    may lack the bundle's modules, while the bytes carry them (see `pickle_by_value`)."""
    import cloudpickle

    payload = cloudpickle.dumps(fn)
    return _call_pickled, [payload] * len(items), list(items)


def _call_pickled(payload: bytes, item: Any) -> Any:
    import cloudpickle

    return cloudpickle.loads(payload)(item)
