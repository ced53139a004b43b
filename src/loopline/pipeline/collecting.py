"""A collect step inside a pipeline run: the source runs here (not on the executor), its new
version and state are recorded in one step run, and its figures and per-file details are logged
on the run. A failure is recorded and leaves the previous version current."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopline.core.hashing import fingerprint
from loopline.core.settings import STATE_DIR
from loopline.core.types import Artifact
from loopline.pipeline.execute import StepResult
from loopline.pipeline.figures import collect_counts, collect_details_tag

if TYPE_CHECKING:
    from loopline.core.types import StepStatus
    from loopline.pipeline.hooks import CollectSource
    from loopline.pipeline.step import Step
    from loopline.store.blobs import BlobStore
    from loopline.store.metadata import MetadataStore


class Runner(Protocol):
    """What of the Runner a collect step uses (pipeline/runner.py's Runner is one)."""

    meta: MetadataStore
    blobs: BlobStore
    root: Path
    stat_cache: Path
    collect_source: CollectSource

    def record(
        self,
        run_id: str,
        item: Step,
        fp: str,
        inputs: dict[str, Artifact],
        result: StepResult,
        status: StepStatus,
        *,
        version: bool = True,
        source_state: tuple[str, dict[str, Any]] | None = None,
        rows: dict[str, int | None] | None = None,
    ) -> None: ...


def collect_step(runner: Runner, run_id: str, item: Step) -> StepResult:
    """Run the source of `item` and record it. What the source streams (its new version among
    it) goes to a scratch folder under the project's state folder, removed once it is stored."""
    from loopline.store.artifacts import save_value

    assert item.collects is not None
    started = time.perf_counter()
    scratch: Path | None = None
    try:
        (runner.root / STATE_DIR / "tmp").mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{item.name}-", dir=runner.root / STATE_DIR / "tmp"))
        values, state, report, details = runner.collect_source(
            item.collects, runner.meta, runner.blobs, runner.root, runner.stat_cache, run_id, scratch
        )
        outputs = {
            name: value if isinstance(value, Artifact) else save_value(runner.blobs, value, output=name)
            for name, value in values.items()
        }
    except Exception as exc:  # a source may fail in any way; the run reports it
        result = StepResult(item.name, error="".join(traceback.format_exception(exc)))
        result.seconds = time.perf_counter() - started
        runner.record(run_id, item, "", {}, result, "failed")
        return result
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    result = StepResult(item.name, outputs=outputs, seconds=time.perf_counter() - started)
    fp = fingerprint({"collect": item.collects.to_json(), "outputs": {k: v.id for k, v in outputs.items()}})
    runner.record(
        run_id,
        item,
        fp,
        {},
        result,
        "ran",
        source_state=(item.collects.name, state),
        rows=collect_counts(report),
    )
    now = time.time()
    figures = [(k, v, 0, now) for k, v in sorted(report.items())]
    tags = {collect_details_tag(item.collects.name): json.dumps(details, sort_keys=True, default=str)}
    runner.meta.tracking.log_batch(run_id, figures, {}, tags if details else {}, step_name=item.name)
    return result
