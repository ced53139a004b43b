"""`loopline annotate …` as a user runs it: create, annotators, gold, import, status, aggregate
(the labels artifact reaches the dataset through `loopline lineage`), agreement, export, and
exit code 2 with a clear message for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli

LABELS = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("annotate_cli")
    cli("init", ".", cwd=root, check=True)
    truth = [LABELS[i % 3] for i in range(30)]
    (root / "animals.csv").write_text(
        "text,truth\n" + "".join(f"animal {i},{t}\n" for i, t in enumerate(truth))
    )
    cli("add", "animals.csv", "--name", "animals", cwd=root, check=True)
    out = cli(
        "annotate", "create", "pets", "--dataset", "animals", "--labels", "cat,dog,bird",
        "--overlap", "3", "--gold-share", "0.1", "--json", cwd=root, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {"name": "pets", "tasks": 30, "dataset": "animals", "version": 1}
    exported = root / "tasks.json"
    cli("annotate", "export", "pets", str(exported), cwd=root, check=True)
    items = {t["data"]["_item_id"]: t["data"]["truth"] for t in json.loads(exported.read_text())}
    return root, items


def test_a_labeling_round(labeled):
    root, truth = labeled
    gold = sorted(truth)[:6]
    (root / "gold.csv").write_text("item_id,label\n" + "".join(f"{i},{truth[i]}\n" for i in gold))
    out = cli("annotate", "gold", "pets", "gold.csv", "--json", cwd=root, check=True)
    assert json.loads(out.stdout) == {"gold": 6}
    rows = []
    for j, (item, label) in enumerate(sorted(truth.items())):
        for k, who in enumerate(("w1", "w2", "w3")):
            answer = LABELS[(LABELS.index(label) + 1) % 3] if j % 10 == k else label
            rows.append(f"{item},{who},{answer},1.5,human")
        rows.append(f"{item},spam,cat,0.2,human")
    (root / "crowd.csv").write_text("item_id,annotator,label,seconds,source\n" + "\n".join(rows) + "\n")
    out = cli("annotate", "import", "pets", "crowd.csv", "--json", cwd=root, check=True)
    assert json.loads(out.stdout) == {
        "added": 120,
        "unchanged": 0,
        "duplicates": "keep",
        "repeated": 0,
        "conflicting": 0,
        "dropped": 0,
    }

    status = json.loads(cli("annotate", "status", "pets", "--json", cwd=root, check=True).stdout)
    assert (status["tasks"], status["gold"], status["annotations"]) == (24, 6, 120)
    assert status["per_annotator"] == {"spam": 30, "w1": 30, "w2": 30, "w3": 30}
    listing = json.loads(cli("annotate", "status", "--json", cwd=root, check=True).stdout)
    assert [p["project"]["name"] for p in listing] == ["pets"]
    assert "6 gold tasks" in cli("annotate", "status", "pets", cwd=root, check=True).stdout

    out = cli(
        "annotate", "aggregate", "pets", "--method", "dawid_skene",
        "--policy", "min_gold_accuracy=0.7,action=exclude", "--json", cwd=root, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["flagged"] == ["spam"] and result["labels"]["name"] == "pets_labels"
    lineage = json.loads(cli("lineage", "pets_labels", "--json", cwd=root, check=True).stdout)
    assert {a["name"] for a in lineage["ancestors"]} >= {"animals", "pets_annotations"}
    labels = root / "labels.csv"
    cli("export", "pets_labels", str(labels), cwd=root, check=True)
    lines = labels.read_text().splitlines()
    assert lines[0] == "item_id,label,confidence,n_annotations,method" and len(lines) == 31
    right = sum(truth[line.split(",")[0]] == line.split(",")[1] for line in lines[1:])
    assert right == 30

    agreement = json.loads(cli("annotate", "agreement", "pets", "--json", cwd=root, check=True).stdout)
    assert agreement["annotations"] == 120 and -1 <= agreement["fleiss_kappa"] <= 1
    assert "Fleiss" in cli("annotate", "agreement", "pets", cwd=root, check=True).stdout

    for fmt, name in (("labelstudio", "out.json"), ("jsonl", "out.jsonl"), ("csv", "out.txt")):
        out = cli("annotate", "export", "pets", name, "--format", fmt, "--json", cwd=root, check=True)
        assert json.loads(out.stdout)["annotations"] == 120


def test_annotator_tokens(labeled):
    root, _ = labeled
    out = cli("annotate", "annotators", "add", "alice", "--json", cwd=root, check=True)
    first = json.loads(out.stdout)
    assert first["name"] == "alice" and first["role"] == "annotator" and len(first["token"]) >= 32
    out = cli("annotate", "annotators", "add", "mona", "--role", "manager", cwd=root, check=True)
    assert "token" in out.stdout
    db = (root / ".loopline" / "metadata.db").read_bytes()
    assert first["token"].encode() not in db  # only its hash is stored
    again = cli("annotate", "annotators", "add", "alice", cwd=root)
    assert again.returncode == 2 and "exists already" in again.stderr


BAD = (
    (["annotate", "status", "nope"], "no labeling project named 'nope'"),
    (["annotate", "create", "x", "--dataset", "missing", "--labels", "a"], "no artifact named 'missing'"),
    (["annotate", "create", "pets", "--dataset", "animals", "--labels", "a"], "exists already"),
    (["annotate", "create", "y", "--dataset", "animals", "--labels", ","], "non-empty list"),
    (["annotate", "create", "y", "--dataset", "animals", "--labels", "a,a"], "distinct"),
    (
        ["annotate", "create", "y", "--dataset", "animals", "--labels", "a", "--type", "poem"],
        "unknown task type",
    ),
    (["annotate", "import", "pets", "missing.csv"], "no file"),
    (["annotate", "import", "pets", "bad_label.csv"], "not in the label set"),
    (["annotate", "import", "pets", "garbage.json"], "not JSON"),
    (["annotate", "import", "pets", "bad_label.csv", "--format", "xml"], "unknown format"),
    (["annotate", "gold", "pets", "unknown_item.csv"], "not tasks of 'pets'"),
    (["annotate", "aggregate", "pets", "--method", "vote"], "unknown aggregation method"),
    (["annotate", "aggregate", "pets", "--policy", "action=ban"], "exclude or downweight"),
    (["annotate", "aggregate", "pets", "--policy", "oops"], "KEY=VALUE"),
    (["annotate", "annotators", "add", "eve", "--role", "root"], "unknown annotator role"),
)


def test_bad_input_exits_2_and_stores_nothing(labeled):
    root, truth = labeled
    item = sorted(truth)[0]
    (root / "bad_label.csv").write_text(f"item_id,annotator,label\n{item},w9,cow\n")
    (root / "garbage.json").write_text("{not json")
    (root / "unknown_item.csv").write_text("item_id,label\nzzz,cat\n")
    before = cli("annotate", "status", "--json", cwd=root, check=True).stdout
    for args, message in BAD:
        out = cli(*args, cwd=root)
        assert out.returncode == 2, (args, out.stdout + out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert cli("annotate", "status", "--json", cwd=root, check=True).stdout == before
