"""The runs pages and endpoints on 30,000 tracked runs: p50/p95 latency of `/runs` (HTML),
`/api/v1/runs` (first page), a filtered and metric-sorted search, `/experiments`, one run's page and
a comparison, as a signed-in viewer through the whole app (auth, guard, rendering).

The runs are written through the tracking store's own write path (`record_child_runs`, which writes
the runs, params, tags, metric history and latest values a tune step's trials make), as 30 tuning
sweeps of 1,000 trials, each with 5 metrics over 3 steps, 3 params and a tag.

Run: `python benchmarks/runs_dashboard.py [--runs 30000] [--repeat 40] [--store URL]`; the last
line is the JSON summary. `--project DIR` times the pages again on a project an earlier run filled.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

SWEEP = 1000


def fill(project, runs: int, seed: int = 0) -> list[str]:
    """`runs` trials in sweeps of SWEEP under parent runs; returns the parents' ids."""
    from loopline.pipeline.step import ChildRun

    rng = random.Random(seed)
    tracking = project.meta.tracking
    parents = []
    for sweep in range(0, runs, SWEEP):
        experiment = tracking.ensure_experiment(f"sweep-{sweep // SWEEP % 5}")
        parent = tracking.create_run(experiment.id, name=f"sweep-{sweep}")
        now = time.time()
        children = [
            ChildRun(
                name=f"trial-{sweep + n}",
                experiment=experiment.name,
                metrics=[(f"m{k}", rng.random(), step, now + step) for k in range(5) for step in range(3)],
                params={
                    "C": rng.choice(["0.01", "0.1", "1", "10"]),
                    "solver": rng.choice(["lbfgs", "saga"]),
                    "depth": str(rng.randint(1, 9)),
                },
                tags={"team": rng.choice(["a", "b", "c"])},
                started_at=now + n / 1000,
            )
            for n in range(min(SWEEP, runs - sweep))
        ]
        tracking.record_child_runs(parent.id, children, step_name="tune")
        tracking.update_run(parent.id, status="succeeded")
        parents.append(parent.id)
    return parents


def timed(client, path: str, repeat: int) -> dict[str, float]:
    client.get(path)  # warm: templates compiled, statements prepared
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: the project's SQLite)")
    parser.add_argument("--project", default=None, help="reuse the project folder a run before filled")
    parser.add_argument("--only", default=None, help="time only the paths whose name contains this")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from loopline import Project
    from loopline.server import create_app

    if args.project:  # a project this script filled before: time the pages again
        project, fill_s = Project.open(args.project), 0.0
        parents = [r.id for r in project.search_runs(["name = 'sweep-0'"])]
    else:
        project = Project.init(Path(tempfile.mkdtemp(prefix="bench-runs-")) / "p", store=args.store)
        started = time.perf_counter()
        parents = fill(project, args.runs)
        fill_s = time.perf_counter() - started
        print(f"wrote {args.runs:,} runs in {fill_s:.0f} s into {project.root}", flush=True)
    token = project.users_add(f"viewer-{os.getpid()}", "viewer")[1]
    trials = [r.id for r in project.search_runs(limit=3)]
    paths = {
        "/runs": "/runs",
        "/api/v1/runs": "/api/v1/runs",
        "/runs filtered, sorted by a metric": "/runs?filter=metrics.m0+%3E+0.5+and+params.C+%3D+1"
        "&order_by=metrics.m1+DESC&metric=m0&metric=m1&param=C",
        "/api/v1/runs filtered, sorted": "/api/v1/runs?filter=metrics.m0+%3E+0.5&filter=params.C+%3D+1"
        "&order_by=metrics.m1+DESC",
        "/runs sorted by a param, page 3": "/runs?order_by=params.depth&page_token=bzEwMA",
        "/runs one experiment": "/runs?experiment=sweep-1",
        "/experiments": "/experiments",
        "/api/v1/experiments": "/api/v1/experiments",
        "/runs/{trial}": f"/runs/{trials[0]}",
        "/runs/{sweep parent}": f"/runs/{parents[0]}",
        "/runs/compare (3)": "/runs/compare?" + "&".join(f"run={t}" for t in trials),
    }
    results = {}
    with TestClient(create_app(project)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for name, path in paths.items():
            if args.only and args.only not in name:
                continue
            results[name] = timed(client, path, args.repeat)
            print(
                f"{name:40} p50 {results[name]['p50_ms']:7.1f} ms  p95 {results[name]['p95_ms']:7.1f} ms",
                flush=True,
            )
    project.close()
    print(json.dumps({"runs": args.runs, "fill_s": round(fill_s, 1), "latency": results}))


if __name__ == "__main__":
    main()
