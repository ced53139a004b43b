"""The background writer of the prediction log: the request path only appends to a deque.

A thread takes what has accumulated every `flush_seconds` (or sooner when `batch_rows` wait) and
writes it as one batch. If the store refuses (PostgreSQL down, a network cut), the batch is
spooled to a file on local disk (temp file, fsync, rename) and the thread keeps retrying the
spool, oldest first, with backoff, until the store is back. While anything is spooled, new
batches join the spool, so the log keeps request order. Spool files left by a stopped process
are written by the next one. A batch retried after an ambiguous failure is recognised by its key
(store/predictions.py), so every request id lands exactly once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

WriteBatch = Callable[[Sequence[Mapping[str, Any]]], None]


@dataclass
class RecorderStats:
    written_rows: int = 0
    written_batches: int = 0
    spooled_rows: int = 0
    failures: int = 0


class PredictionRecorder:
    def __init__(
        self,
        write: WriteBatch,
        spool_dir: Path,
        *,
        flush_seconds: float = 0.5,
        batch_rows: int = 5000,
        max_backoff: float = 2.0,
    ) -> None:
        self._write = write
        self.spool_dir = spool_dir
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.max_backoff = max_backoff
        self.stats = RecorderStats()
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._thread: threading.Thread | None = None
        spool_dir.mkdir(parents=True, exist_ok=True)

    # -- the request path ----------------------------------------------------------------------
    def submit(self, record: dict[str, Any]) -> None:
        """Never blocks and never touches the store (a deque append is thread-safe)."""
        self._queue.append(record)
        if len(self._queue) >= self.batch_rows:
            self._wake.set()

    def pending(self) -> int:
        """Rows not yet in the store: queued in memory plus spooled on disk."""
        return len(self._queue) + self.stats.spooled_rows

    # -- the writer thread ---------------------------------------------------------------------
    def start(self) -> None:
        self.stats.spooled_rows = sum(self._spool_rows(p) for p in self._spool_files())
        self._thread = threading.Thread(target=self._loop, name="loopline-prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write (or spool) whatever is left; nothing is dropped."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._cycle(final=True)

    def _loop(self) -> None:
        backoff = self.flush_seconds
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            ok = self._cycle()
            backoff = self.flush_seconds if ok else min(max(backoff, 0.1) * 2, self.max_backoff)

    def _take(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        queue = self._queue
        try:
            while len(batch) < self.batch_rows:
                batch.append(queue.popleft())
        except IndexError:
            pass
        return batch

    def _cycle(self, final: bool = False) -> bool:
        """Drain the spool, then the queue. False when the store refused something."""
        try:
            healthy = self._drain_spool()
            while True:
                batch = self._take()
                if not batch:
                    return healthy
                if healthy and self._try_write(batch):
                    continue
                healthy = False
                self._spool(batch)
                if not final and len(self._queue) < self.batch_rows:
                    return False
        except Exception:  # the thread must survive anything; what is queued stays queued
            log.exception("prediction log writer failed")
            return False

    def _try_write(self, batch: Sequence[Mapping[str, Any]]) -> bool:
        try:
            self._write(batch)
        except (Exception, KeyboardInterrupt) as exc:
            # Polars answers Ctrl+C inside whichever thread runs a query, so a SIGINT can surface
            # here: the batch then goes to the spool like any refused one, never lost with the thread.
            self.stats.failures += 1
            log.warning("prediction log: store unreachable (%s); spooling to %s", exc, self.spool_dir)
            return False
        self.stats.written_rows += len(batch)
        self.stats.written_batches += 1
        return True

    # -- the disk spool ------------------------------------------------------------------------
    def _spool_files(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.json"))

    @staticmethod
    def _spool_rows(path: Path) -> int:
        try:
            return len(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            return 0

    def _spool(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.json"
        tmp = self.spool_dir / f".{name}.tmp"
        data = orjson.dumps(list(batch), option=orjson.OPT_SERIALIZE_NUMPY)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.spool_dir / name)
        self.stats.spooled_rows += len(batch)

    def _drain_spool(self) -> bool:
        for path in self._spool_files():
            try:
                batch = orjson.loads(path.read_bytes())
            except FileNotFoundError:  # another process on this spool wrote it first
                continue
            except (OSError, orjson.JSONDecodeError) as exc:  # never delete what cannot be read
                log.error("prediction log: cannot read spool file %s (%s); left in place", path, exc)
                path.rename(path.with_suffix(".unreadable"))
                continue
            if not self._try_write(batch):
                return False
            path.unlink(missing_ok=True)
            self.stats.spooled_rows -= len(batch)
            log.info("prediction log: wrote %d spooled predictions from %s", len(batch), path.name)
        return True
