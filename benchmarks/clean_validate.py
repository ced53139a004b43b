"""Clean and validate 5,000,000 rows x 10 columns from Parquet: loopline vs pandera (Polars and
pandas backends, lazy=True) and Great Expectations.

The same six checks everywhere: types (id, age, income, email), age not null, age in [0, 120],
income in [0, 1e6], email matches a regex, id unique. About 2% of rows fail one of them, and
every tool must report every failing row: pandera and GE with `lazy=True` / result_format
COMPLETE (every failure case), loopline with its quarantine (each rejected row, its rule and a
readable reason) and the clean table besides.

Like is compared with like, and both comparisons are printed: loopline's `evaluate` (what
`loopline validate` runs) against each peer's validation, and loopline's `clean.apply` (the clean
table and the quarantine) against pandera's validation followed by the split of the frame into
clean and failing rows by its failure cases' row index. The JSON line's headline ratio is
`clean.apply` against pandera-polars' validation alone, the issue's target.

Each tool runs in its own process (pandera and GE from their own venvs under benchmarks/.venvs/,
created here on first use), loads the Parquet file once, then times the work alone several
times; the figures are medians.

Memory is measured as a user meets it: a loopline project with the file added as a dataset and a
pipeline of two steps, clean (the six rules) then validate (the six checks on the clean table);
`loopline run --no-cache` is timed as a whole process, and its peak RSS (the steps' inputs reach
them as Parquet scans, read a partition at a time, and the clean table is streamed to its blob)
is compared with the Parquet file's size. For scale, the peak of a process that only does
`pl.read_parquet` of the file is printed too.

Usage: .venv/bin/python benchmarks/clean_validate.py [--rows N] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _bench import BENCH_DIR, DATA_DIR, emit, fmt, median

PEERS = {
    "pandera": ("pandera[polars]==0.35.*", "pandas", "pyarrow", "polars"),
    "gx": ("great_expectations==1.24.*", "pyarrow"),
}
EMAIL = r"^[^@\s]+@[^@\s]+$"

MAKE = """
import sys, numpy as np, polars as pl, datetime as dt
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(7)
bad = rng.random(n)
ids = np.arange(n, dtype=np.int64)
dup = bad < 0.004                                    # 0.4% repeat an earlier id
ids[dup] = rng.integers(0, n, dup.sum())
age = rng.integers(18, 90, n).astype(float)
age[(bad >= 0.004) & (bad < 0.008)] = np.nan         # 0.4% missing
age[(bad >= 0.008) & (bad < 0.012)] = 150            # 0.4% out of range
income = rng.gamma(2.0, 20_000.0, n)
income[(bad >= 0.012) & (bad < 0.016)] = -1.0        # 0.4% negative
users = rng.integers(0, 10**9, n).astype(str)
email = np.char.add(np.char.add(users, "@"), np.where(rng.random(n) < 0.5, "example.com", "mail.org"))
email[(bad >= 0.016) & (bad < 0.020)] = "not-an-email"  # 0.4% invalid
frame = pl.DataFrame({
    "id": ids,
    "age": pl.Series(age).fill_nan(None).cast(pl.Int64),
    "income": income,
    "email": email,
    "name": np.char.add("user", users),
    "country": rng.choice(["FR", "DE", "ES", "IT", "NL"], n),
    "score": rng.normal(0, 1, n),
    "signup": pl.Series(rng.integers(18262, 19762, n)).cast(pl.Date),
    "amount": rng.exponential(50.0, n),
    "active": rng.random(n) < 0.8,
})
frame.write_parquet(path, compression="zstd")
"""

LOOPLINE = r"""
import json, resource, sys, time
import polars as pl
from loopline.clean import apply, evaluate
path, reps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RULES = [
    {"rule": "cast", "columns": {"id": "Int64", "age": "Int64", "income": "Float64", "email": "String"}},
    {"rule": "missing", "column": "age", "action": "drop"},
    {"rule": "range", "column": "age", "min": 0, "max": 120},
    {"rule": "range", "column": "income", "min": 0, "max": 1e6},
    {"rule": "regex", "column": "email", "pattern": EMAIL},
    {"rule": "dedupe", "key": ["id"]},
]
CHECKS = [
    {"expect": "schema", "columns": {"id": "Int64", "age": "Int64", "income": "Float64", "email": "String"}},
    {"expect": "not_null", "column": "age"},
    {"expect": "range", "column": "age", "min": 0, "max": 120},
    {"expect": "range", "column": "income", "min": 0, "max": 1e6},
    {"expect": "regex", "column": "email", "pattern": EMAIL},
    {"expect": "unique", "column": "id"},
]
frame = pl.read_parquet(path)
if mode == "memory-read":
    print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    sys.exit()
times, vtimes = [], []
for _ in range(reps):
    start = time.perf_counter(); out = apply(frame, RULES); times.append(time.perf_counter() - start)
    q = out["quarantine"]; assert q["_reason"].null_count() == 0
    del out
for _ in range(reps):
    start = time.perf_counter(); report = evaluate(frame, CHECKS); vtimes.append(time.perf_counter() - start)
print(json.dumps({"times": times, "validate_times": vtimes, "failing_rows": q.height,
                  "failure_cases": sum(r["violations"] for r in report["expectations"]),
                  "sample": q.select("_row", "_rule", "_reason").head(3).rows()}))
""".replace("EMAIL", repr(EMAIL))

PANDERA = r"""
import json, sys, time
path, reps, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import pandera
if backend == "polars":
    import polars as pl, pandera.polars as pa
    frame = pl.read_parquet(path)
    types = {"id": pl.Int64, "age": pl.Int64, "income": pl.Float64, "email": pl.String}

    def split(frame, cases):
        # what loopline's clean also hands back: the clean rows, and the failing ones with reasons
        bad = cases["index"].drop_nulls().unique()
        rows = pl.int_range(pl.len(), dtype=bad.dtype)
        return frame.filter(~rows.is_in(bad.implode())), frame.filter(rows.is_in(bad.implode()))
else:
    import pandas as pd, pandera.pandas as pa
    frame = pd.read_parquet(path)
    types = {"id": "int64", "age": "float64", "income": "float64", "email": frame["email"].dtype}

    def split(frame, cases):
        bad = frame.index.isin(cases["index"].dropna().unique())
        return frame[~bad], frame[bad]
schema = pa.DataFrameSchema({
    "id": pa.Column(types["id"], unique=True),
    "age": pa.Column(types["age"], pa.Check.in_range(0, 120), nullable=False),
    "income": pa.Column(types["income"], pa.Check.in_range(0, 1e6)),
    "email": pa.Column(types["email"], pa.Check.str_matches(EMAIL)),
})
times, clean_times, cases, clean_rows = [], [], None, None
for _ in range(reps):
    start = time.perf_counter()
    try:
        schema.validate(frame, lazy=True)
        cases = 0
    except pa.errors.SchemaErrors as exc:
        cases = len(exc.failure_cases)
    times.append(time.perf_counter() - start)
for _ in range(reps):
    start = time.perf_counter()
    try:
        schema.validate(frame, lazy=True)
        clean, bad = frame, frame[:0]
    except pa.errors.SchemaErrors as exc:
        clean, bad = split(frame, exc.failure_cases)
    clean_times.append(time.perf_counter() - start)
    clean_rows = len(clean)
    del clean, bad
print(json.dumps({"times": times, "clean_times": clean_times, "failure_cases": cases,
                  "clean_rows": clean_rows, "version": pandera.__version__}))
""".replace("EMAIL", repr(EMAIL))

GX = r"""
import json, sys, time, logging
logging.disable(logging.WARNING)
import pandas as pd, great_expectations as gx
path, reps = sys.argv[1], int(sys.argv[2])
frame = pd.read_parquet(path)
ctx = gx.get_context(mode="ephemeral")
asset = ctx.data_sources.add_pandas("p").add_dataframe_asset("df")
batch = asset.add_batch_definition_whole_dataframe("b").get_batch(batch_parameters={"dataframe": frame})
E = gx.expectations
suite = ctx.suites.add(gx.ExpectationSuite("s", expectations=[
    E.ExpectColumnValuesToBeOfType(column="id", type_="int64"),
    E.ExpectColumnValuesToBeOfType(column="income", type_="float64"),
    E.ExpectColumnValuesToNotBeNull(column="age"),
    E.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
    E.ExpectColumnValuesToBeBetween(column="income", min_value=0, max_value=1e6),
    E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL),
    E.ExpectColumnValuesToBeUnique(column="id"),
]))
times = []
for _ in range(reps):
    start = time.perf_counter()
    result = batch.validate(suite, result_format="COMPLETE")
    times.append(time.perf_counter() - start)
cases = sum(len(r.result.get("unexpected_index_list") or []) for r in result.results)
print(json.dumps({"times": times, "failure_cases": cases, "version": gx.__version__}))
""".replace("EMAIL", repr(EMAIL))


PROJECT = """steps:
  clean:
    uses: loopline.clean:apply
    inputs: {table: raw}
    params: {rules: RULES}
    outputs: {clean: clean, quarantine: quarantine, report: clean_report}
  check:
    uses: loopline.clean:validate
    inputs: {table: clean}
    params: {expectations: CHECKS}
    outputs: [validation]
"""

# `loopline run` in a child of this one: its peak RSS is the children's maximum
RUN = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[2:], cwd=sys.argv[1], capture_output=True, text=True)
seconds = time.perf_counter() - start
if proc.returncode:
    sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
print(json.dumps({"seconds": seconds, "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def project_run(path: Path, reps: int) -> tuple[list[float], int]:
    """Times and the highest peak RSS of `loopline run --no-cache` (clean, then validate) in a
    fresh project holding the file as dataset `raw`."""
    import shutil

    import yaml

    loopline = str(Path(sys.executable).with_name("loopline"))
    project = DATA_DIR / "clean_project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    rules, checks = (_script_list(LOOPLINE, name) for name in ("RULES", "CHECKS"))
    text = PROJECT.replace("RULES", json.dumps(rules)).replace("CHECKS", json.dumps(checks))
    (project / "loopline.yaml").write_text(yaml.safe_dump(yaml.safe_load(text), sort_keys=False))
    for command in (["init", "."], ["add", str(path.resolve()), "--name", "raw"]):
        subprocess.run([loopline, *command], cwd=project, check=True, capture_output=True)
    times, peak = [], 0
    for _ in range(reps):
        result = run_json(sys.executable, RUN, str(project), loopline, "run", "--no-cache")
        times.append(result["seconds"])
        peak = max(peak, result["peak_kb"] * 1024)
    shutil.rmtree(project, ignore_errors=True)
    return times, peak


def _script_list(script: str, name: str) -> list:
    """RULES or CHECKS as the in-process script defines them (one definition for both uses)."""
    namespace: dict = {}
    start = script.index(f"{name} = [")
    exec(script[start : script.index("]\n", start) + 2], namespace)
    return namespace[name]


def peer_python(name: str) -> str:
    """The peer's own venv (its pins are not ours), created on first use."""
    venv = BENCH_DIR / ".venvs" / name
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {' '.join(PEERS[name])} (one time)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEERS[name]], check=True)
    return str(python)


def run_json(python: str, code: str, *args: str) -> dict:
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"{python} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(label: str, result: dict) -> None:
    print(f"{label}: {fmt(result['times'])}; {result['failure_cases']} failure cases", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"clean_{args.rows}.parquet"
    if not path.exists():
        print(f"generating {args.rows} rows x 10 columns", flush=True)
        subprocess.run([sys.executable, "-c", MAKE, str(args.rows), str(path)], check=True)
    size = path.stat().st_size
    print(f"data: {path} ({size / 1e6:.1f} MB)", flush=True)
    reps = str(args.reps)

    ours = run_json(sys.executable, LOOPLINE, str(path), reps, "time")
    pandera_py = peer_python("pandera")
    polars_peer = run_json(pandera_py, PANDERA, str(path), reps, "polars")
    pandas_peer = run_json(pandera_py, PANDERA, str(path), reps, "pandas")
    gx_peer = run_json(peer_python("gx"), GX, str(path), reps)
    pv, pd_ = polars_peer["version"], pandas_peer["version"]

    print("validate only (every failure case found, nothing else produced):")
    print(f"  loopline evaluate (loopline validate):   {fmt(ours['validate_times'])}")
    report(f"  pandera {pv} polars, validate(lazy=True)", polars_peer)
    report(f"  pandera {pd_} pandas, validate(lazy=True)", pandas_peer)
    report(f"  great_expectations {gx_peer['version']}, COMPLETE", gx_peer)
    print("clean (the clean table, plus every failing row with its reason):")
    print(
        f"  loopline clean.apply:                    {fmt(ours['times'])}; "
        f"{ours['failing_rows']} rows quarantined, e.g. {ours['sample'][:2]}"
    )
    for label, peer in ((f"pandera {pv} polars", polars_peer), (f"pandera {pd_} pandas", pandas_peer)):
        print(
            f"  {label}, validate + split by failure_cases['index']: "
            f"{fmt(peer['clean_times'])}; {peer['clean_rows']} clean rows"
        )

    run_times, peak = project_run(path, args.reps)
    print(
        f"loopline run --no-cache (clean + validate steps, from the stored dataset to stored "
        f"outputs): {fmt(run_times)}; peak RSS {peak / 1e6:.0f} MB = {peak / size:.2f}x the Parquet file"
    )
    rpeak = run_json(sys.executable, LOOPLINE, str(path), "1", "memory-read")["peak_kb"] * 1024
    print(f"(pl.read_parquet alone peaks at {rpeak / 1e6:.0f} MB = {rpeak / size:.2f}x the file)")

    ll, lv = median(ours["times"]), median(ours["validate_times"])
    polars_s, pandas_s, gx_s = (median(p["times"]) for p in (polars_peer, pandas_peer, gx_peer))
    polars_clean_s, pandas_clean_s = median(polars_peer["clean_times"]), median(pandas_peer["clean_times"])
    emit(
        "clean_validate",
        ll,
        f"pandera {pv} (polars, lazy=True) validate",
        polars_s,
        loopline_fn="loopline.clean.apply (clean table + quarantine with reasons)",
        rows=args.rows,
        loopline_failing_rows=ours["failing_rows"],
        peer_failure_cases=polars_peer["failure_cases"],
        pandera_pandas_s=round(pandas_s, 4),
        pandera_pandas_ratio=round(pandas_s / ll, 2),
        gx=f"great_expectations {gx_peer['version']} (COMPLETE)",
        gx_s=round(gx_s, 4),
        gx_ratio=round(gx_s / ll, 2),
        gx_failure_cases=gx_peer["failure_cases"],
        # like with like: loopline evaluate vs each peer's validate
        loopline_validate_s=round(lv, 4),
        validate_ratio_pandera_polars=round(polars_s / lv, 2),
        validate_ratio_pandera_pandas=round(pandas_s / lv, 2),
        validate_ratio_gx=round(gx_s / lv, 2),
        # like with like: loopline clean vs pandera validate + the split into clean and failing rows
        pandera_polars_clean_s=round(polars_clean_s, 4),
        clean_ratio_pandera_polars=round(polars_clean_s / ll, 2),
        pandera_pandas_clean_s=round(pandas_clean_s, 4),
        clean_ratio_pandera_pandas=round(pandas_clean_s / ll, 2),
        parquet_mb=round(size / 1e6, 1),
        project_run_s=round(median(run_times), 3),
        peak_rss_mb=round(peak / 1e6, 1),
        peak_over_parquet=round(peak / size, 2),
        read_peak_over_parquet=round(rpeak / size, 2),
        cpus=os.cpu_count(),
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
