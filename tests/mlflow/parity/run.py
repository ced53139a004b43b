"""Run the MLflow client checks against MLFLOW_TRACKING_URI and print one JSON line:
[{"point", "name", "ok", "error"}, ...]. `--point N` runs one point's checks only.

    .venv-mlflow/bin/python tests/mlflow/parity/run.py [--point N]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checks import CHECKS, Context  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

for _module in sorted(HERE.glob("checks_*.py")):
    importlib.import_module(_module.stem)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--point", type=int, default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        context = Context(MlflowClient(), Path(tmp))
        for item in CHECKS:
            if args.point is not None and item.point != args.point:
                continue
            try:
                item.run(context)
            except Exception as exc:  # a failed check, reported, never stops the others
                where = traceback.extract_tb(exc.__traceback__)[-1]
                error = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
                results.append({"point": item.point, "name": item.name, "ok": False, "error": error[:2000]})
            else:
                results.append({"point": item.point, "name": item.name, "ok": True, "error": ""})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
