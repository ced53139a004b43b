"""A live server (uvicorn, as `loopline server` runs it) takes a 200 MB artifact up, hands it back
down and assembles a multipart upload while its resident memory grows by a few chunks, not by
the file: the resident set of this process (server and client both) is sampled throughout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from loopline.project import Project
from loopline.server import create_app
from tests.server.live import live_server

MiB = 1 << 20
API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts"
BOUND = 32 * MiB  # what the transfers may add to the resident set (the file is 200 MiB)


def _resident() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Peak:
    """The highest resident set seen while the block runs, over the one before it."""

    def __init__(self) -> None:
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _resident())
            self._stop.wait(0.005)

    def __enter__(self) -> Peak:
        self.base = self.peak = _resident()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def _chunks(count: int, seed: int) -> Iterator[bytes]:
    for i in range(count):
        yield bytes([(seed + i) % 256]) * MiB


def test_artifacts_up_down_and_in_parts_hold_a_few_chunks_not_the_file(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "proj")
    try:
        with (
            live_server(create_app(project, auth=False)) as url,
            httpx.Client(base_url=url, timeout=60) as http,
        ):
            exp = http.post(f"{API}/experiments/create", json={"name": "memory"}).json()["experiment_id"]
            run = http.post(f"{API}/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
            folder = f"{exp}/{run}/artifacts"
            http.put(f"{ART}/artifacts/{folder}/warm.bin", content=_chunks(2, 0))  # first-use setup
            with Peak() as up:
                put = http.put(f"{ART}/artifacts/{folder}/big.bin", content=_chunks(200, 1))
            assert put.status_code == 200, put.text
            received = 0
            with Peak() as down, http.stream("GET", f"{ART}/artifacts/{folder}/big.bin") as got:
                for piece in got.iter_bytes():
                    received += len(piece)
            assert got.status_code == 200 and received == 200 * MiB
            made = http.post(f"{ART}/mpu/create/{folder}", json={"path": "parts.bin", "num_parts": 2}).json()
            with Peak() as parts:
                etags = []
                for credential in made["credentials"]:
                    part = urlsplit(credential["url"])
                    sent = http.put(
                        f"{part.path}?{part.query}", content=_chunks(50, credential["part_number"])
                    )
                    etags.append({"part_number": credential["part_number"], "etag": sent.headers["etag"]})
                done = http.post(
                    f"{ART}/mpu/complete/{folder}",
                    json={"path": "parts.bin", "upload_id": made["upload_id"], "parts": etags},
                )
            assert done.status_code == 200, done.text
        sizes = {path: size for path, _, size in project.mlflow.files_under(folder)}
        assert sizes == {"warm.bin": 2 * MiB, "big.bin": 200 * MiB, "parts.bin": 100 * MiB}
    finally:
        project.close()
    for what, peak in (("upload", up), ("download", down), ("multipart upload", parts)):
        print(f"{what}: +{peak.growth / MiB:.1f} MiB resident")
        assert peak.growth < BOUND, f"the {what} grew the resident set by {peak.growth / MiB:.0f} MiB"
