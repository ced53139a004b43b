"""The MLflow client checks (tests/mlflow/parity) against `mlflow server` and `loopline server`.

Not a speed benchmark: a count. The same checks, in the same MLflow 3.17.2 client venv, run
against both servers started as a user starts them (SQLite, artifacts proxied by the server):

  mlflow server --backend-store-uri sqlite:///DIR/mlflow.db --host 127.0.0.1 --port P
  loopline server --no-auth --port P      (in a fresh `loopline init` project)

and the script prints, per point of issue 18, how many checks pass on each, then every check
that fails on one server and not on the other, and one JSON line.

Run: `python benchmarks/mlflow_parity.py` (after `make test` has built .venv-mlflow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from mlflow_server import LOOPLINE, REPO, mlflow_venv, serve  # noqa: E402

RUNNER = REPO / "tests" / "mlflow" / "parity" / "run.py"


def client_python() -> Path:
    """The test venv `make test` builds, else the benchmark one (same pins)."""
    built = REPO / ".venv-mlflow" / "bin" / "python"
    return built if built.exists() else mlflow_venv() / "bin" / "python"


def run_checks(python: Path, url: str, cwd: Path, env: dict[str, str]) -> list[dict[str, object]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LOOPLINE_"))}
    base |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **env}
    done = subprocess.run(
        [str(python), str(RUNNER)], cwd=cwd, env=base, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the checks failed to run against {url}:\n{done.stderr[-3000:]}")
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    python = client_python()
    mlflow = python.with_name("mlflow")
    # As tests/mlflow/test_parity_artifacts.py: multipart on, its sizes lowered to 1 MB.
    env = {
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1000000",
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": "1000000",
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
    }
    results: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        peer_dir, ours_dir = root / "mlflow", root / "loopline"
        peer_dir.mkdir()
        subprocess.run([LOOPLINE, "init", str(ours_dir)], check=True, capture_output=True)
        peer_cmd = [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{peer_dir / 'mlflow.db'}"]
        urls = {
            "mlflow": serve("mlflow", [*peer_cmd, "--host", "127.0.0.1"], peer_dir, stack),
            "loopline": serve("loopline", [LOOPLINE, "server", "--no-auth"], ours_dir, stack),
        }
        for name, url in urls.items():
            results[name] = run_checks(python, url, root, env)
    passed = {name: Counter(int(r["point"]) for r in found if r["ok"]) for name, found in results.items()}
    totals = Counter(int(r["point"]) for r in results["loopline"])
    print(f"{'point':>5} {'checks':>6} {'mlflow':>7} {'loopline':>8}")
    for point in sorted(totals):
        print(f"{point:>5} {totals[point]:>6} {passed['mlflow'][point]:>7} {passed['loopline'][point]:>8}")
    ok = {name: sum(counts.values()) for name, counts in passed.items()}
    print(f"{'all':>5} {sum(totals.values()):>6} {ok['mlflow']:>7} {ok['loopline']:>8}")
    errors = {
        name: {str(r["name"]): str(r["error"]) for r in found if not r["ok"]}
        for name, found in results.items()
    }
    for name, failed in errors.items():
        for check, error in sorted(failed.items()):
            print(f"fails on {name}: {check}: {error[:300]}")
    print(
        json.dumps(
            {
                "benchmark": "mlflow_parity",
                "checks": sum(totals.values()),
                "mlflow_passed": ok["mlflow"],
                "loopline_passed": ok["loopline"],
                "failed": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
