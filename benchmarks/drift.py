"""Data drift on 100,000 x 25 columns (20 numeric, 5 categorical) with 5 shifted columns, some
only a little: loopline against Evidently's DataDriftPreset, same data, one run.

The workload is the one tests/monitor/test_detection.py checks (tests/monitor/shifts.py): a
tenth of a standard deviation on a normal column, a 10 % wider lognormal, a uniform moved by a
tenth of its range, three points of share moved between two categories, and a category training
never saw on 3 % of rows.

Timings are in-process, the data already in memory (Polars for loopline, pandas for Evidently),
medians of several repetitions:
- loopline, from raw: profile the reference (what registration does once) + drift of the window;
  the like-for-like figure, since Evidently reads the raw reference on every run;
- loopline, from the stored profile: what a monitoring run does (the reference is not read).
Evidently runs in its own venv (benchmarks/.venvs/evidently, created here) with EVIDENTLY_SPEC.
Columns flagged are compared with the truth: true positives (of 5) and false positives (of 20).

    python benchmarks/drift.py [--rows 100000] [--repeat 5] [--peer-repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._bench import BENCH_DIR, DATA_DIR, emit, fmt, median
from tests.monitor.shifts import SHIFTED, frames

EVIDENTLY_VENV = BENCH_DIR / ".venvs" / "evidently"
EVIDENTLY_SPEC = ("evidently==0.7.23", "pandas<3")  # its 0.7 code imports what pandas 3 removed

PEER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

folder, repeat = sys.argv[1], int(sys.argv[2])
reference = pd.read_parquet(f"{folder}/reference.parquet")
current = pd.read_parquet(f"{folder}/current.parquet")
numeric = [c for c in reference.columns if c.startswith("num_")]
categorical = [c for c in reference.columns if c.startswith("cat_")]
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
times, result = [], None
for _ in range(repeat):
    start = time.perf_counter()
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    result = snapshot.dict()
    times.append(time.perf_counter() - start)
flagged, methods = [], {}
for metric in result["metrics"]:
    config = metric.get("config", {})
    column = config.get("column")
    if column is None or "ValueDrift" not in str(config.get("type", "")):
        continue
    value, threshold, method = metric["value"], config.get("threshold"), config.get("method", "")
    methods[column] = method
    pvalue = "p_value" in method or "test" in method
    if (value < threshold) if pvalue else (value >= threshold):
        flagged.append(column)
print(json.dumps({"version": evidently.__version__, "times": times, "flagged": flagged, "methods": methods}))
"""


def evidently_python() -> str:
    exe = EVIDENTLY_VENV / "bin" / "python"
    if not exe.exists():
        print(f"creating {EVIDENTLY_VENV} with {EVIDENTLY_SPEC} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(EVIDENTLY_VENV / "bin" / "pip"), "install", "-q", *EVIDENTLY_SPEC, "pyarrow"], check=True
        )
    return str(exe)


def score(flagged: list[str]) -> dict[str, int]:
    return {
        "true_positives": len(set(flagged) & set(SHIFTED)),
        "false_positives": len(set(flagged) - set(SHIFTED)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peer-repeat", type=int, default=3)
    args = parser.parse_args()

    from loopline.monitor import build_profile, drift

    reference, current = frames(args.rows)
    folder = DATA_DIR / "drift"
    folder.mkdir(parents=True, exist_ok=True)
    reference.write_parquet(folder / "reference.parquet")
    current.write_parquet(folder / "current.parquet")
    print(f"{args.rows:,} rows x {reference.width} columns; shifted: {', '.join(SHIFTED)}", flush=True)

    raw, stored, result = [], [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        profile = build_profile(reference)
        middle = time.perf_counter()
        result = drift(profile.columns, current)
        end = time.perf_counter()
        raw.append(end - start)
        stored.append(end - middle)
    assert result is not None
    ours = [c["name"] for c in result["columns"] if c["drifted"]]
    print(f"loopline from raw (profile + drift): {fmt(raw)}", flush=True)
    print(f"loopline from the stored profile (drift only): {fmt(stored)}", flush=True)
    print(f"loopline flagged {sorted(ours)} {score(ours)}", flush=True)

    out = subprocess.run(
        [evidently_python(), "-c", PEER, str(folder), str(args.peer_repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"evidently failed:\n{out.stderr[-3000:]}")
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"evidently {peer['version']}: {fmt(peer['times'])}", flush=True)
    print(f"evidently flagged {sorted(peer['flagged'])} {score(peer['flagged'])}", flush=True)
    print(f"evidently methods: {json.dumps(peer['methods'])}", flush=True)
    emit(
        "drift",
        median(raw),
        f"evidently {peer['version']} DataDriftPreset",
        median(peer["times"]),
        rows=args.rows,
        columns=reference.width,
        shifted=len(SHIFTED),
        loopline_from_profile_s=round(median(stored), 4),
        loopline_flagged=score(ours),
        peer_flagged=score(peer["flagged"]),
        loopline_runs=len(raw),
        peer_runs=len(peer["times"]),
    )


if __name__ == "__main__":
    main()
