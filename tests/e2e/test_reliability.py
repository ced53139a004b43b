"""Reliability, end to end through the command line: a run killed with SIGKILL leaves a clean store
and resumes from the cache; concurrent pipelines on one SQLite file all get recorded; a blob changed
on disk is detected on every read path and never served.

Nothing here sleeps on wall time for correctness: the tests poll for files or conditions with a
bounded deadline (steps themselves may wait on a file the test controls).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from tests.conftest import BIN, cli, write_project

DEADLINE_S = 60.0

STEPS = """
import time
from pathlib import Path

import numpy as np
import polars as pl


def first(n, ctx):
    rng = np.random.default_rng(ctx.seed)
    return pl.DataFrame({"i": np.arange(n), "x": rng.normal(size=n)})


def second(first, scale):
    # Tell the test we are inside the step, then hold while the test's "hold" file exists.
    Path("started").write_text("second step is running")
    while Path("hold").exists():
        time.sleep(0.01)
    return first.with_columns(pl.col("x") * scale)


def third(second):
    return {"rows": second.height, "total": float(second["x"].sum())}


def big(first, rows):
    Path("started").write_text("big step is running")
    rng = np.random.default_rng(7)
    return pl.DataFrame({f"c{k}": rng.random(rows) for k in range(4)})
"""

KILL_YAML = """\
steps:
  first:
    uses: steps:first
    params: {n: 5000}
    outputs: [first]
  second:
    uses: steps:second
    inputs: [first]
    params: {scale: 3.0}
    outputs: [second]
  third:
    uses: steps:third
    inputs: [second]
    outputs: [summary]
"""


# -- helpers ---------------------------------------------------------------------------------------
def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`loopline ARGS` in the background, in its own process group so a kill reaches all of it."""
    return subprocess.Popen(
        [str(BIN / "loopline"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition: Callable[[], object], what: str, proc: subprocess.Popen[str] | None = None) -> object:
    """Poll until condition() is truthy; fail (with the process's output) if proc exits first."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"loopline exited {proc.returncode} before {what}\n{out}\n{err}")
        time.sleep(0.002)
    if proc is not None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    pytest.fail(f"timed out waiting for {what}")


def sigkill(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == -signal.SIGKILL


def blob_files(project: Path) -> list[Path]:
    """Every stored blob (not the temp folder)."""
    root = project / ".loopline" / "blobs"
    return [p for p in root.glob("??/*") if p.is_file()]


def assert_no_half_blob(project: Path) -> None:
    """Every blob file's bytes hash to its name: nothing half-written was renamed into place."""
    files = blob_files(project)
    assert files, "the store holds no blob at all"
    for path in files:
        assert len(path.name) == 64, f"stray file in the blob store: {path}"
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name, f"half or bad blob {path}"


def assert_fsck_clean(project: Path) -> dict[str, object]:
    result = cli("fsck", "--json", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["missing"] == report["corrupt"] == report["dangling"] == []
    return report


def run_json(project: Path, *args: str) -> dict[str, object]:
    result = cli("run", "--json", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def statuses(run: dict[str, object]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in run["steps"]}  # type: ignore[index, union-attr]


def init_project(root: Path, yaml_text: str, store: str | None = None) -> Path:
    write_project(root, yaml_text, STEPS, store=store)
    cli("init", cwd=root, check=True)
    return root


def flip_bytes(path: Path) -> None:
    """Change bytes in the middle of a file, keeping its size (as bit rot or a stray edit would)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for k in range(middle, min(middle + 4, len(data))):
        data[k] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def blob_path(project: Path, digest: str) -> Path:
    return project / ".loopline" / "blobs" / digest[:2] / digest


# -- 1. SIGKILL in the middle of a run -------------------------------------------------------------
def test_run_killed_inside_a_step_leaves_a_clean_store_and_resumes_from_cache(
    tmp_path: Path, store_url: str
) -> None:
    project = init_project(tmp_path / "proj", KILL_YAML, store=store_url)
    (project / "hold").write_text("hold the second step")

    proc = start_cli("run", cwd=project)
    wait_for((project / "started").exists, "the second step to start", proc)
    sigkill(proc)

    # The killed run recorded `first` (committed on its own) but nothing of `second`.
    runs = json.loads(cli("runs", "--json", cwd=project, check=True).stdout)
    assert len(runs) == 1
    killed = runs[0]
    assert killed["status"] == "interrupted"  # its process is gone: not left "running" forever
    assert statuses(killed) == {"first": "ran"}
    assert_fsck_clean(project)
    assert_no_half_blob(project)

    (project / "hold").unlink()
    resumed = run_json(project)
    assert resumed["status"] == "succeeded"
    assert statuses(resumed) == {"first": "cached", "second": "ran", "third": "ran"}
    first_out = resumed["steps"][0]["outputs"]  # type: ignore[index]
    assert first_out == killed["steps"][0]["outputs"]

    cli("checkout", "summary", str(tmp_path / "out"), cwd=project, check=True)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows"] == 5000
    assert_fsck_clean(project)
    assert_no_half_blob(project)

    # A third run is all cache hits.
    assert set(statuses(run_json(project)).values()) == {"cached"}


def test_run_killed_while_its_output_blob_is_being_written(tmp_path: Path) -> None:
    yaml_text = """\
steps:
  first:
    uses: steps:first
    params: {n: 2000}
    outputs: [first]
  big:
    uses: steps:big
    inputs: [first]
    params: {rows: 3000000}
    outputs: [big]
"""
    project = init_project(tmp_path / "proj", yaml_text)
    tmp_dir = project / ".loopline" / "blobs" / "tmp"

    proc = start_cli("run", cwd=project)
    wait_for((project / "started").exists, "the big step to start", proc)
    wait_for(lambda: any(tmp_dir.iterdir()), "a blob temp file", proc)
    sigkill(proc)

    assert_fsck_clean(project)
    assert_no_half_blob(project)

    resumed = run_json(project)
    assert resumed["status"] == "succeeded"
    assert statuses(resumed) == {"first": "cached", "big": "ran"}
    found = {d["name"]: d for d in json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)}
    assert found["big"]["rows"] == 3_000_000
    assert_fsck_clean(project)
    assert_no_half_blob(project)


def test_add_killed_mid_blob_write_leaves_no_half_blob(tmp_path: Path) -> None:
    """Deterministic kill inside the blob write: one file of the folder is a named pipe, so the
    copy into the store blocks after the temp file was created and part of the bytes written."""
    project = init_project(tmp_path / "proj", "steps: {}\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\n")
    (data / "b.txt").write_text("beta\n")
    pipe = data / "stream.bin"
    os.mkfifo(pipe)
    payload = os.urandom(3 * 1024 * 1024)
    tmp_dir = project / ".loopline" / "blobs" / "tmp"

    proc = start_cli("add", str(data), "--name", "docs", cwd=project)

    # The store reads each file once, hashing and copying it in one pass: give it 2 MB of 3 and
    # hold the pipe open, so the copy blocks with a partly written temp file.
    release = threading.Event()

    def feed() -> None:
        try:
            with open(pipe, "wb") as writer:  # blocks until loopline opens the pipe to read
                writer.write(payload[: 2 * 1024 * 1024])
                writer.flush()
                release.wait(DEADLINE_S)
        except BrokenPipeError:
            pass

    copier = threading.Thread(target=feed, daemon=True)
    copier.start()

    def partial_temp() -> Path | None:
        return next((p for p in tmp_dir.iterdir() if p.stat().st_size >= 1024 * 1024), None)

    temp = wait_for(partial_temp, "a partly written blob temp file", proc)
    assert isinstance(temp, Path)
    sigkill(proc)
    release.set()
    copier.join(DEADLINE_S)

    assert temp.exists(), "the killed write left its temp file, never a blob"
    stream_digest = blake3.blake3(payload).hexdigest()
    for digest in (stream_digest, blake3.blake3(payload[: 2 << 20]).hexdigest()):
        assert not blob_path(project, digest).exists(), "a half blob was renamed into place"
    for path in blob_files(project):
        assert blake3.blake3(path.read_bytes()).hexdigest() == path.name
    assert json.loads(cli("datasets", "--json", cwd=project, check=True).stdout) == []
    assert_fsck_clean(project)

    # The same folder, with the pipe replaced by a plain file, adds cleanly afterwards.
    pipe.unlink()
    (data / "stream.bin").write_bytes(payload)
    added = json.loads(cli("add", str(data), "--name", "docs", "--json", cwd=project, check=True).stdout)
    assert added["version"] == 1 and added["files"] == 3
    assert blob_path(project, stream_digest).exists()
    assert_no_half_blob(project)
    assert_fsck_clean(project)


# -- 2. Concurrent pipelines on one SQLite file ----------------------------------------------------
CHAINS = "abcd"
CHAIN_LENGTH = 10
ROUNDS = 3


def chain_project(root: Path) -> Path:
    """Four chains of ten steps; every output carries the run id, so every run writes new artifacts
    and new versions (not only cache records)."""
    code = [
        "import polars as pl",
        "",
        "def _grow(prev, k, ctx):",
        "    ctx.log_metric('rows', prev.height)",
        "    return prev.with_columns((pl.col('v') * 3 + k) % 1000003, run=pl.lit(ctx.run_id))",
        "",
    ]
    yaml_lines = ["steps:"]
    for chain in CHAINS:
        code += [
            f"def {chain}0(n, ctx):",
            "    return pl.DataFrame({'i': range(n), 'v': range(n)}).with_columns(run=pl.lit(ctx.run_id))",
            "",
        ]
        yaml_lines += [
            f"  {chain}0:",
            f"    uses: steps:{chain}0",
            "    params: {n: 3000}",
            f"    outputs: [{chain}0_t]",
        ]
        for k in range(1, CHAIN_LENGTH):
            prev = f"{chain}{k - 1}_t"
            code += [f"def {chain}{k}({prev}, ctx):", f"    return _grow({prev}, {k}, ctx)", ""]
            yaml_lines += [
                f"  {chain}{k}:",
                f"    uses: steps:{chain}{k}",
                f"    inputs: [{prev}]",
                f"    outputs: [{chain}{k}_t]",
            ]
    root.mkdir(parents=True)
    (root / "loopline.yaml").write_text("\n".join(yaml_lines) + "\n")
    (root / "steps.py").write_text("\n".join(code) + "\n")
    return root


def test_four_processes_running_pipelines_on_one_sqlite_project(tmp_path: Path) -> None:
    # No `loopline init` first: the four processes also race to create and migrate the database.
    project = chain_project(tmp_path / "proj")
    results: dict[int, list[subprocess.CompletedProcess[str]]] = {p: [] for p in range(4)}

    def worker(p: int) -> None:
        # Process p makes its own chain and its neighbour's: each name is written by two processes.
        targets = [f"{CHAINS[p]}{CHAIN_LENGTH - 1}", f"{CHAINS[(p + 1) % 4]}{CHAIN_LENGTH - 1}"]
        for _ in range(ROUNDS):
            results[p].append(cli("run", "--no-cache", "--json", *targets, cwd=project, timeout=120))

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    run_ids = set()
    for p, outcomes in results.items():
        assert len(outcomes) == ROUNDS
        for outcome in outcomes:
            output = outcome.stdout + outcome.stderr
            assert "locked" not in output.lower() and "busy" not in output.lower(), output
            assert outcome.returncode == 0, f"process {p}: {output}"
            run = json.loads(outcome.stdout)
            assert run["status"] == "succeeded"
            assert len(run["steps"]) == 2 * CHAIN_LENGTH
            assert set(statuses(run).values()) == {"ran"}
            run_ids.add(run["run_id"])
    assert len(run_ids) == 4 * ROUNDS

    listed = json.loads(cli("runs", "--json", "--limit", "100", cwd=project, check=True).stdout)
    assert {r["run_id"] for r in listed} == run_ids
    assert all(r["status"] == "succeeded" and len(r["steps"]) == 2 * CHAIN_LENGTH for r in listed)
    # The runs really overlapped: at some moment at least three were in flight together.
    events = sorted(
        [(r["started_at"], 1) for r in listed] + [(r["finished_at"], -1) for r in listed],
        key=lambda e: (e[0], e[1]),
    )
    in_flight = peak = 0
    for _, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    assert peak >= 3, f"runs hardly overlapped (peak {peak}); the test did not test concurrency"

    # Every run wrote a new version of each name it made: two processes x ROUNDS per name, numbered
    # 1..N without a gap or a lost write.
    datasets = json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)
    expected = {f"{c}{k}_t" for c in CHAINS for k in range(CHAIN_LENGTH)}
    assert {d["name"] for d in datasets} == expected
    for d in datasets:
        assert d["versions"] == d["version"] == 2 * ROUNDS, d

    one = json.loads(cli("show", sorted(run_ids)[0], "--json", cwd=project, check=True).stdout)
    assert len(one["metrics"]) == 2 * (CHAIN_LENGTH - 1)
    assert_fsck_clean(project)
    assert_no_half_blob(project)


# -- 3. A blob changed on disk ---------------------------------------------------------------------
CORRUPT_YAML = """\
steps:
  digest:
    uses: steps:digest
    inputs: [docs]
    outputs: [digests]
"""

CORRUPT_STEPS = """
import blake3


def digest(docs):
    return {entry.path: blake3.blake3(docs.read(entry.path)).hexdigest() for entry in docs}
"""


def test_blob_changed_on_disk_is_detected_and_never_served(tmp_path: Path, store_url: str) -> None:
    project = write_project(tmp_path / "proj", CORRUPT_YAML, CORRUPT_STEPS, store=store_url)
    cli("init", cwd=project, check=True)
    data = tmp_path / "docs"
    data.mkdir()
    files = {"a.txt": b"alpha " * 100, "b.txt": b"beta " * 100, "c.txt": b"gamma " * 100}
    for name, content in files.items():
        (data / name).write_bytes(content)
    cli("add", str(data), "--name", "docs", cwd=project, check=True)
    good = run_json(project)
    assert statuses(good) == {"digest": "ran"}

    # A damaged step output is reported by fsck and repaired by re-running the step without cache.
    listing = json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)
    output_blob = next(d["blob"] for d in listing if d["name"] == "digests")
    flip_bytes(blob_path(project, output_blob))
    result = cli("fsck", cwd=project)
    assert result.returncode == 1 and output_blob[:12] in result.stdout
    assert statuses(run_json(project, "--no-cache")) == {"digest": "ran"}
    assert_fsck_clean(project)

    victim = blake3.blake3(files["b.txt"]).hexdigest()
    flip_bytes(blob_path(project, victim))

    # checkout refuses and writes no corrupt file.
    out = tmp_path / "out"
    result = cli("checkout", "docs", str(out), cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not match its hash" in result.stderr
    assert victim[:12] in result.stderr
    assert not (out / "b.txt").exists()
    assert not list(out.glob(".*loopline-tmp")), "checkout left a temp file behind"
    for name in {"a.txt", "c.txt"} & {p.name for p in out.glob("*")}:
        assert (out / name).read_bytes() == files[name]

    # fsck exits 1 and names the blob and the file it holds.
    result = cli("fsck", cwd=project)
    assert result.returncode == 1
    assert victim[:12] in result.stdout and "corrupt" in result.stdout
    report = json.loads(cli("fsck", "--json", cwd=project).stdout)
    assert report["ok"] is False and report["missing"] == []
    assert len(report["corrupt"]) == 1
    assert victim[:12] in report["corrupt"][0] and "b.txt" in report["corrupt"][0]

    # A step reading the data fails; it never sees the changed bytes.
    result = cli("run", "--no-cache", "--json", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = json.loads(result.stdout)
    assert failed["status"] == "failed"
    (step,) = failed["steps"]
    assert step["status"] == "failed" and step["outputs"] == {}
    assert "does not match its hash" in step["error"]
    datasets = {d["name"]: d for d in json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)}
    assert datasets["digests"]["versions"] == 1, "a run on corrupt data made a new version"


def test_table_blob_changed_on_disk_is_detected_on_every_read(tmp_path: Path) -> None:
    yaml_text = """\
steps:
  total:
    uses: steps:total
    inputs: [table]
    outputs: [total]
"""
    code = "def total(table):\n    return {'sum': int(table['v'].sum()), 'rows': table.height}\n"
    project = write_project(tmp_path / "proj", yaml_text, code)
    cli("init", cwd=project, check=True)
    csv = tmp_path / "table.csv"
    csv.write_text("k,v\n" + "".join(f"{i},{i * 7}\n" for i in range(5000)))
    added = json.loads(cli("add", str(csv), "--name", "table", "--json", cwd=project, check=True).stdout)
    listing = json.loads(cli("datasets", "--json", cwd=project, check=True).stdout)
    art = next(d for d in listing if d["name"] == "table")
    assert art["id"] == added["artifact_id"]
    parquet_blob, csv_blob = art["blob"], art["original_blob"]
    assert csv_blob == blake3.blake3(csv.read_bytes()).hexdigest()

    # The Parquet blob (what steps read) changed: the step fails, fsck names it.
    flip_bytes(blob_path(project, parquet_blob))
    result = cli("run", "--json", cwd=project)
    assert result.returncode == 1
    (step,) = json.loads(result.stdout)["steps"]
    assert step["status"] == "failed" and "does not match its hash" in step["error"]
    report = json.loads(cli("fsck", "--json", cwd=project).stdout)
    assert [parquet_blob[:12] in line for line in report["corrupt"]] == [True]

    # The CSV as added (what checkout writes) changed: checkout fails, fsck names both.
    flip_bytes(blob_path(project, csv_blob))
    result = cli("checkout", "table", str(tmp_path / "out"), cwd=project)
    assert result.returncode == 1 and "does not match its hash" in result.stderr
    assert not (tmp_path / "out" / "table.csv").exists()
    result = cli("fsck", cwd=project)
    assert result.returncode == 1
    assert parquet_blob[:12] in result.stdout and csv_blob[:12] in result.stdout
