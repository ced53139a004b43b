"""`loopline audit` as a user runs it, after a demo-like flow (add a dataset, run, register,
approve, promote, annotate import and export): every write left its event, the local actor is
said and recorded, verify exits 0 intact and 1 naming a tampered event, a bad head is exit 2,
and an export verifies offline."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from loopline.core.audit import verify_events
from tests.conftest import cli, write_project
from tests.registry.test_cli import STEPS, YAML


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("audit"), YAML, STEPS)
    carol, dave = {"LOOPLINE_USER": "carol"}, {"LOOPLINE_USER": "dave"}
    cli("init", cwd=root, check=True)
    (root / "animals.csv").write_text("text\n" + "".join(f"animal {i}\n" for i in range(4)))
    cli("add", "animals.csv", "--name", "animals", cwd=root, check=True, env=carol)
    cli("run", cwd=root, check=True, env=carol)
    cli("register", "iris", "model", cwd=root, check=True, env=carol)
    own = cli("approve", "iris", "1", "--alias", "production", cwd=root, env=carol)
    assert own.returncode == 2 and "carol registered iris version 1" in own.stderr, own.stderr
    approved = cli("approve", "iris", "1", "--alias", "production", cwd=root, check=True, env=dave)
    assert "by dave, a local actor: auth local" in approved.stdout
    promoted = cli("promote", "iris", "1", "--alias", "production", cwd=root, check=True, env=carol)
    assert "by carol, a local actor: auth local" in promoted.stdout
    cli("annotate", "create", "pets", "--dataset", "animals", "--labels", "cat,dog", cwd=root, check=True)
    export = root / "tasks.json"
    cli("annotate", "export", "pets", str(export), cwd=root, check=True)
    items = [t["data"]["_item_id"] for t in json.loads(export.read_text())]
    (root / "crowd.csv").write_text("item_id,annotator,label\n" + "".join(f"{i},w1,cat\n" for i in items))
    cli("annotate", "import", "pets", "crowd.csv", cwd=root, check=True)
    cli("annotate", "export", "pets", str(root / "answers.csv"), cwd=root, check=True)
    return root


def audit(root: Path, *args: str) -> object:
    return json.loads(cli("audit", *args, "--json", cwd=root, check=True).stdout)


def test_every_write_of_the_flow_is_on_record(flow: Path):
    events = audit(flow, "log")
    assert isinstance(events, list)
    actions = [e["action"] for e in reversed(events)]
    for action in (
        "dataset.add_version",
        "run.create",
        "step.record",
        "run.finish",
        "model.register",
        "model.approve",
        "model.promote",
        "labeling.create_project",
        "labeling.import",
        "labeling.export",
    ):
        assert action in actions, f"{action} is not recorded: {actions}"
    assert actions.count("labeling.export") == 2
    promote = next(e for e in events if e["action"] == "model.promote")
    assert (promote["actor"], promote["auth"], promote["object"]) == ("carol", "local", "iris@1")
    assert json.loads(promote["after"]) == {"production": 1}
    assert [e["actor"] for e in audit(flow, "log", "--actor", "dave")] == ["dave"]
    assert {e["object"] for e in audit(flow, "log", "--object", "iris")} == {"iris@1"}
    assert len(audit(flow, "log", "--limit", "2")) == 2  # type: ignore[arg-type]
    listed = cli("audit", "log", "-n", "1", cwd=flow, check=True).stdout
    assert "labeling.export" in listed and "(local)" in listed


def test_verify_head_and_offline_export(flow: Path, tmp_path: Path):
    head = cli("audit", "head", cwd=flow, check=True).stdout.strip()
    seq, _, digest = head.partition(":")
    intact = cli("audit", "verify", "--head", head, cwd=flow)
    assert intact.returncode == 0 and f"{seq} events" in intact.stdout, intact.stdout + intact.stderr
    out = tmp_path / "audit.jsonl"
    cli("audit", "export", "-o", str(out), cwd=flow, check=True)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    last, broken = verify_events(lines, head)
    assert broken is None and last is not None and (last.seq, last.hash) == (int(seq), digest)
    bad = cli("audit", "verify", "--head", "not-a-hash", cwd=flow)
    assert bad.returncode == 2 and "not a head" in bad.stderr and "Traceback" not in bad.stderr

    with sqlite3.connect(flow / ".loopline" / "metadata.db") as conn:
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    broken_run = cli("audit", "verify", cwd=flow)
    assert broken_run.returncode == 1 and "BROKEN at event 3" in broken_run.stderr, broken_run.stderr
    as_json = json.loads(cli("audit", "verify", "--json", cwd=flow).stdout)
    assert as_json["ok"] is False and as_json["broken"]["seq"] == 3
