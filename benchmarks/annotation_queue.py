"""The labeling queue under load through the REST API (issue 4): 50 annotators at once against a
real `loopline server` (one uvicorn process, loopback only) on PostgreSQL, 5,000 submissions
(2,500 tasks at overlap 2).

Each annotator is a thread with its own HTTP connection looping `GET next` then `POST submit`
until the queue is dry. Afterwards the store is read through the Project API and the invariants
checked: no task answered by more annotators than the overlap, none twice by one annotator, every
201 stored and nothing stored without one. Prints throughput and p50/p99 latency per call, then
the JSON line (there is no peer: a queue with leases through a REST API is what it measures).

Usage: .venv/bin/python benchmarks/annotation_queue.py [--annotators 50] [--submissions 5000]
       [--overlap 2] [--store postgresql+psycopg://...|sqlite]
The PostgreSQL URL defaults to LOOPLINE_TEST_DATABASE_URL, else a local server's `test` database;
each run works in a fresh schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
from _bench import LOOPLINE, quiet_env

from loopline.project import Project

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LABELS = ("positive", "negative", "neutral")


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_project(root: Path, store: str | None, tasks: int, overlap: int, annotators: int) -> dict[str, str]:
    project = Project.init(root, store=store)
    frame = pl.DataFrame(
        {"_item_id": [f"t{i:06d}" for i in range(tasks)], "text": [f"review {i}" for i in range(tasks)]}
    )
    frame.write_csv(root / "reviews.csv")
    project.add(root / "reviews.csv", "reviews")
    project.annotate_create("reviews", "reviews", LABELS, overlap=overlap, text_field="text")
    tokens = {f"a{i:03d}": project.annotator_add(f"a{i:03d}")[1] for i in range(annotators)}
    project.close()
    return tokens


@contextmanager
def server(root: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [LOOPLINE, "server", "--port", str(port), "--log-level", "warning"],
        cwd=root,
        env=quiet_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"loopline server did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def swarm(
    url: str, tokens: dict[str, str]
) -> tuple[float, dict[str, list[float]], dict[str, list[tuple]], list[str]]:
    latency: dict[str, list[float]] = {"next": [], "submit": []}
    accepted: dict[str, list[tuple]] = {name: [] for name in tokens}
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens))

    def annotate(name: str) -> None:
        mine: dict[str, list[float]] = {"next": [], "submit": []}
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=120
        ) as client:
            barrier.wait()
            n = 0
            while True:
                t0 = time.perf_counter()
                got = client.get("/api/annotate/reviews/next")
                mine["next"].append(time.perf_counter() - t0)
                if got.status_code != 200:
                    failures.append(f"{name} next {got.status_code} {got.text[:200]}")
                    break
                task = got.json()["task"]
                if task is None:
                    break
                label = LABELS[(task["id"] + n) % len(LABELS)]
                n += 1
                t0 = time.perf_counter()
                sent = client.post(
                    f"/api/annotate/reviews/tasks/{task['id']}", json={"label": label, "seconds": 1.0}
                )
                mine["submit"].append(time.perf_counter() - t0)
                if sent.status_code == 201:
                    accepted[name].append((sent.json()["id"], name, task["id"], label))
                else:
                    failures.append(f"{name} submit {sent.status_code} {sent.text[:200]}")
        with lock:
            for key, values in mine.items():
                latency[key].extend(values)

    threads = [threading.Thread(target=annotate, args=(name,)) for name in tokens]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latency, accepted, failures


def quantile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--store", default=os.environ.get("LOOPLINE_TEST_DATABASE_URL") or DEFAULT_PG)
    args = parser.parse_args()
    tasks = args.submissions // args.overlap
    engine = "sqlite" if args.store == "sqlite" else "postgresql"

    with tempfile.TemporaryDirectory(prefix="loopline-queue-") as folder:
        root = Path(folder) / "project"
        schema = postgres_schema(args.store) if engine == "postgresql" else None
        store = schema.__enter__() if schema else None
        try:
            print(
                f"{engine}: {tasks} tasks at overlap {args.overlap}, {args.annotators} annotators", flush=True
            )
            tokens = make_project(root, store, tasks, args.overlap, args.annotators)
            with server(root) as url:
                wall, latency, accepted, failures = swarm(url, tokens)
            project = Project.open(root)
            stored = project.meta.annotations.annotations("reviews")
            project.close()
        finally:
            if schema:
                schema.__exit__(None, None, None)

    replies = {row for rows in accepted.values() for row in rows}
    per_task = Counter(a.task_id for a in stored)
    checks = {
        "submissions": len(replies),
        "stored": len(stored),
        "failures": len(failures),
        "max_answers_per_task": max(per_task.values(), default=0),
        "tasks_answered": len(per_task),
        "twice_by_one_annotator": len(stored) - len({(a.task_id, a.annotator) for a in stored}),
        "lost_or_phantom": len(replies ^ {(a.id, a.annotator, a.task_id, a.label) for a in stored}),
    }
    ok = (
        checks["stored"] == checks["submissions"] == tasks * args.overlap
        and checks["max_answers_per_task"] <= args.overlap
        and checks["twice_by_one_annotator"] == 0
        and checks["lost_or_phantom"] == 0
        and not failures
    )
    figures = {
        "throughput_per_s": round(len(replies) / wall, 1),
        "next_p50_ms": round(1000 * quantile(latency["next"], 0.50), 1),
        "next_p99_ms": round(1000 * quantile(latency["next"], 0.99), 1),
        "submit_p50_ms": round(1000 * quantile(latency["submit"], 0.50), 1),
        "submit_p99_ms": round(1000 * quantile(latency["submit"], 0.99), 1),
    }
    rate = figures["throughput_per_s"]
    print(f"{len(replies)} submissions by {args.annotators} annotators in {wall:.2f} s: {rate}/s")
    print(f"GET next  p50 {figures['next_p50_ms']} ms  p99 {figures['next_p99_ms']} ms")
    print(f"POST task p50 {figures['submit_p50_ms']} ms  p99 {figures['submit_p99_ms']} ms")
    print(
        "invariants " + ("hold" if ok else "BROKEN") + ": " + ", ".join(f"{k} {v}" for k, v in checks.items())
    )
    for line in failures[:5]:
        print("  " + line)
    line = {
        "benchmark": "annotation_queue",
        "loopline_s": round(wall, 3),
        "peer": None,
        "peer_s": None,
        "ratio": None,
        "store": engine,
        "annotators": args.annotators,
        "overlap": args.overlap,
        **figures,
        **checks,
        "invariants_hold": ok,
    }
    print(json.dumps(line), flush=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
