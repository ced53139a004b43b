"""The prediction log's writer thread: nothing it has taken from the queue is ever lost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopline.serve.recorder import PredictionRecorder
from tests.serve.conftest import wait_for


def test_a_ctrl_c_inside_a_write_spools_the_batch_and_close_writes_it(tmp_path: Path):
    # Seen in CI: SIGINT reached the writer thread inside a Polars query (Polars raises
    # KeyboardInterrupt in the thread running it); the thread died with its batch.
    written: list[str] = []
    calls = 0

    def write(batch: Sequence[Mapping[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt
        written.extend(str(r["request_id"]) for r in batch)

    recorder = PredictionRecorder(write, tmp_path / "spool", flush_seconds=0.01)
    recorder.start()
    recorder.submit({"request_id": "a"})
    recorder.submit({"request_id": "b"})
    wait_for(lambda: calls >= 1, what="the writer thread to try the batch")
    recorder.close()
    assert written == ["a", "b"]
    assert not list((tmp_path / "spool").glob("*.json"))
    assert recorder.stats.failures == 1
