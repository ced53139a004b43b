"""An answer records the suggestion shown with it (model-assisted pre-labels), and the exports
carry it; an answer given without one records None."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from loopline.annotate.interop import to_text
from tests.server.conftest import make_setup


def test_an_answer_records_the_suggestion_shown(tmp_path: Path) -> None:
    setup = make_setup(tmp_path / "proj")
    project, repo = setup.project, setup.project.meta.annotations
    try:
        now = datetime(2030, 1, 1, tzinfo=UTC)
        first = project.next_task("reviews", "alice", now=now)
        assert first is not None and first.task.suggestion is None
        plain = project.submit("reviews", first.task.id, "alice", "neutral", seconds=1.0, now=now)
        assert plain.suggestion is None

        second = project.next_task("reviews", "alice", now=now)
        assert second is not None
        repo.set_suggestions("reviews", {second.task.item_id: "positive"}, "model")
        shown = project.submit("reviews", second.task.id, "alice", "negative", seconds=2.0, now=now)
        assert shown.suggestion == {"label": "positive", "source": "model"}
        # a later change of the task's suggestion does not rewrite what was shown
        repo.set_suggestions("reviews", {second.task.item_id: "neutral"}, "rule")

        stored = {a.task_id: a for a in repo.annotations("reviews")}
        assert stored[first.task.id].suggestion is None
        assert stored[second.task.id].suggestion == {"label": "positive", "source": "model"}
        assert stored[second.task.id].label == "negative"

        tasks, answers = repo.tasks("reviews"), repo.annotations("reviews")
        lines = [json.loads(x) for x in to_text(tasks, answers, "jsonl", "classification").splitlines()]
        assert [x["suggestion"] for x in lines] == [None, {"label": "positive", "source": "model"}]
        rows = list(csv.DictReader(io.StringIO(to_text(tasks, answers, "csv", "classification"))))
        assert rows[0]["suggestion"] == ""
        assert json.loads(rows[1]["suggestion"]) == {"label": "positive", "source": "model"}
        studio = {t["id"]: t for t in json.loads(to_text(tasks, answers, "labelstudio", "classification"))}
        task = studio[second.task.id]
        assert task["predictions"] == [
            {
                "model_version": "rule",
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "item",
                        "type": "choices",
                        "value": {"choices": ["neutral"]},
                    }
                ],
            }
        ]
        assert task["annotations"][0]["prediction"]["result"][0]["value"] == {"choices": ["positive"]}
        assert task["annotations"][0]["prediction"]["model_version"] == "model"
        assert "prediction" not in studio[first.task.id]["annotations"][0]
        assert "predictions" not in studio[first.task.id]
    finally:
        project.close()
