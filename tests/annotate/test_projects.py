"""Labeling projects end to end through the Project facade: tasks from tables and blob sets, a
simulated crowd with a spammer and gold tasks, the gold policy, the labels artifact (versioned,
with lineage to the answers and the dataset), and Label Studio / CSV / JSON Lines round trips."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from loopline.annotate.projects import Policy, gold_accuracy, labels_table, task_items
from loopline.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from loopline.core.hashing import item_ids
from loopline.project import Project
from loopline.store.artifacts import BlobSet

LABELS = ["cat", "dog", "bird"]
NO_REPEATS = {"duplicates": "keep", "repeated": 0, "conflicting": 0, "dropped": 0}


# -- pure functions ---------------------------------------------------------------------------
def test_task_items_from_tables_and_blob_sets():
    frame = pl.DataFrame({"text": ["a", "b"], "n": [1, 2]})
    got = task_items(frame)
    assert [i for i, _ in got] == item_ids(frame).to_list()
    assert got[1][1] == {"text": "b", "n": 2}
    keyed = task_items(frame.with_columns(pl.Series("_item_id", ["x1", "x2"])))
    assert keyed == [("x1", {"text": "a", "n": 1}), ("x2", {"text": "b", "n": 2})]
    with pytest.raises(InvalidInput, match="no column 'body'"):
        task_items(frame, "body")
    blobs = BlobSet.from_bytes({"b.png": b"\x89PNG two", "a.png": b"\x89PNG one"})
    got = task_items(blobs)
    assert [d["path"] for _, d in got] == ["a.png", "b.png"]
    assert [i for i, _ in got] == [e.blob for e in blobs]
    assert got[0][1]["media_type"] == "image/png"
    with pytest.raises(InvalidInput, match="cannot label"):
        task_items({"not": "a dataset"})


def test_gold_accuracy_and_policy():
    answers = pl.DataFrame(
        {
            "item_id": ["g1", "g2", "g1", "g2", "x", "g1"],
            "annotator": ["good", "good", "bad", "bad", "bad", "half"],
            "label": ["cat", "dog", "dog", "dog", "cat", "bird"],
        }
    )
    acc = gold_accuracy(answers, {"g1": "cat", "g2": "dog"})
    assert acc.to_dicts() == [
        {"annotator": "bad", "gold_answers": 2, "gold_correct": 1, "gold_accuracy": 0.5},
        {"annotator": "good", "gold_answers": 2, "gold_correct": 2, "gold_accuracy": 1.0},
        {"annotator": "half", "gold_answers": 1, "gold_correct": 0, "gold_accuracy": 0.0},
    ]
    weights, flagged = Policy.parse({"min_gold_accuracy": 0.6, "action": "exclude"}).weights(acc)
    assert flagged == ["bad", "half"] and weights == {"bad": 0.0, "half": 0.0}
    weights, _ = Policy.parse({"action": "downweight", "min_gold_accuracy": 0.8}).weights(acc)
    assert weights == {"bad": pytest.approx(0.625), "half": 0.0}
    weights, flagged = Policy.parse({"min_gold_answers": 2}).weights(acc)
    assert flagged == ["bad"]  # one gold answer is too few to judge `half`
    for bad in ({"action": "ban"}, {"min_gold_accuracy": 2}, {"threshold": 0.5}, {"min_gold_answers": 0}):
        with pytest.raises(InvalidInput):
            Policy.parse(bad)
    assert Policy.parse(None) is None


def test_labels_table_puts_gold_answers_in():
    consensus = pl.DataFrame(
        {
            "task": ["b", "a", "g"],
            "label": ["dog", "cat", "cat"],
            "confidence": [0.9, 0.6, 0.5],
            "n": [3, 3, 2],
        }
    ).with_columns(pl.lit("dawid_skene").alias("method"))
    table = labels_table(consensus, {"a": "a", "b": "b", "g": "g"}, {"g": "bird"})
    assert table.columns == ["item_id", "label", "confidence", "n_annotations", "method"]
    assert table.rows() == [
        ("a", "cat", 0.6, 3, "dawid_skene"),
        ("b", "dog", 0.9, 3, "dawid_skene"),
        ("g", "bird", 1.0, 2, "gold"),
    ]


# -- projects ---------------------------------------------------------------------------------
def make_project(root: Path, store_url: str | None = None, n: int = 60) -> tuple[Project, list[str]]:
    project = Project.init(root, store=store_url)
    rng = random.Random(7)
    truth = [rng.choice(LABELS) for _ in range(n)]
    csv = root / "animals.csv"
    csv.write_text("text,truth\n" + "".join(f"animal number {i},{t}\n" for i, t in enumerate(truth)))
    project.add(csv, "animals")
    return project, truth


def crowd_file(project: Project, truth_of: dict[str, str], path: Path, seed: int = 1) -> Path:
    """A simulated crowd: four careful annotators (each wrong on every tenth item, a different
    tenth each) and a spammer who always answers "cat"."""
    rng = random.Random(seed)
    lines = []
    for j, (item_id, truth) in enumerate(truth_of.items()):
        for k, who in enumerate(("a1", "a2", "a3", "a4", "spam")):
            wrong = rng.choice([x for x in LABELS if x != truth])
            label = "cat" if who == "spam" else wrong if j % 10 == k else truth
            lines.append(
                {"item_id": item_id, "annotator": who, "label": label, "seconds": 2.0, "source": "human"}
            )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def truth_by_item(project: Project, name: str) -> dict[str, str]:
    return {t.item_id: t.data["truth"] for t in project.meta.annotations.tasks(name)}


def test_crowd_gold_policy_and_labels_lineage(tmp_path, store_url):
    project, _ = make_project(tmp_path / "proj", store_url)
    spec, n = project.annotate_create("pets", "animals", LABELS, overlap=5, gold_share=0.1)
    assert n == 60 and spec.dataset == "animals" and spec.dataset_version == 1
    truth = truth_by_item(project, "pets")
    gold_path = tmp_path / "gold.csv"
    gold_items = sorted(i for label in LABELS for i in sorted(i for i in truth if truth[i] == label)[:4])
    gold_path.write_text("item_id,label\n" + "".join(f"{i},{truth[i]}\n" for i in gold_items))
    assert project.annotate_gold("pets", gold_path) == 12
    assert project.annotate_import("pets", crowd_file(project, truth, tmp_path / "crowd.jsonl")) == {
        "added": 300,
        "unchanged": 0,
        **NO_REPEATS,
    }
    status = project.annotate_status("pets")
    assert status["gold"] == 12 and status["tasks"] == 48 and status["annotations"] == 300
    spam = next(q for q in status["gold_accuracy"] if q["annotator"] == "spam")
    assert (spam["gold_answers"], spam["gold_correct"]) == (12, 4)

    result = project.aggregate("pets", "dawid_skene", {"min_gold_accuracy": 0.7, "action": "exclude"})
    assert result["flagged"] == ["spam"] and result["weights"] == {"spam": 0.0}
    labels = project.load("pets_labels")
    assert labels.columns == ["item_id", "label", "confidence", "n_annotations", "method"]
    assert labels.height == 60 and labels["n_annotations"].min() == 5
    accuracy = sum(truth[i] == label for i, label in labels.select("item_id", "label").rows()) / 60
    assert accuracy >= 0.95
    assert labels.filter(pl.col("method") == "gold")["item_id"].to_list() == gold_items
    assert labels["confidence"].is_between(0, 1).all()

    # lineage: labels <- the step run <- the answers snapshot and the dataset
    art, ancestors, _ = project.lineage("pets_labels")
    assert art.version == 1 and ancestors.step == "annotate.pets"
    assert {c["name"] for c in ancestors.flat()} == {"pets_annotations", "animals"}
    run = project.show(result["run_id"])
    assert run.status == "succeeded" and run.steps[0].outputs == {"pets_labels": art.id}
    assert project.load("pets_annotations").height == 300

    # same answers, same method: same artifact, no new version; different method: version 2
    again = project.aggregate("pets", "dawid_skene", {"min_gold_accuracy": 0.7, "action": "exclude"})
    assert again["labels"]["id"] == art.id and again["labels"]["version"] == 1
    majority = project.aggregate("pets", "majority")
    assert majority["labels"]["version"] == 2 and majority["flagged"] == []


def test_downweight_policy_keeps_the_spammer_with_less_weight(tmp_path):
    project, _ = make_project(tmp_path / "proj", n=30)
    project.annotate_create("pets", "animals", LABELS, overlap=5)
    truth = truth_by_item(project, "pets")
    gold = tmp_path / "gold.jsonl"
    picked = [i for label in LABELS for i in sorted(i for i in truth if truth[i] == label)[:2]]
    gold.write_text("".join(json.dumps({"item_id": i, "label": truth[i]}) + "\n" for i in picked))
    project.annotate_gold("pets", gold)
    project.annotate_import("pets", crowd_file(project, truth, tmp_path / "crowd.jsonl", seed=3))
    result = project.aggregate("pets", "majority", {"min_gold_accuracy": 0.7, "action": "downweight"})
    # the spammer got 2 of 6 gold tasks right: it weighs (2/6) / 0.7 of a trusted annotator
    assert result["flagged"] == ["spam"] and result["weights"] == {"spam": pytest.approx((2 / 6) / 0.7)}
    assert project.load("pets_labels")["n_annotations"].min() == 5  # kept, with less weight


@pytest.mark.parametrize("fmt,suffix", [("labelstudio", ".json"), ("csv", ".csv"), ("jsonl", ".jsonl")])
def test_round_trip(tmp_path, fmt, suffix):
    project, _ = make_project(tmp_path / "proj", n=12)
    project.annotate_create("one", "animals", LABELS, overlap=2)
    truth = truth_by_item(project, "one")
    project.annotate_import("one", crowd_file(project, truth, tmp_path / "crowd.jsonl"))
    path, n = project.annotate_export("one", tmp_path / f"out{suffix}")
    assert n == 60
    project.annotate_create("two", "animals", LABELS, overlap=2)
    assert project.annotate_import("two", path) == {"added": 60, "unchanged": 0, **NO_REPEATS}
    assert project.annotate_import("two", path, fmt) == {"added": 0, "unchanged": 60, **NO_REPEATS}

    def answers(name: str) -> list[tuple]:
        return sorted(
            (a.item_id, a.annotator, a.label, a.seconds, a.source)
            for a in project.meta.annotations.annotations(name)
        )

    assert answers("one") == answers("two")
    if fmt == "labelstudio":
        exported = json.loads(path.read_text())
        assert len(exported) == 12 and exported[0]["data"]["text"].startswith("animal number")
        result = exported[0]["annotations"][0]["result"][0]
        assert result["type"] == "choices" and result["value"]["choices"][0] in LABELS


def test_label_studio_export_from_label_studio(tmp_path):
    """A file as Label Studio writes it: numeric user ids, cancelled annotations, our item ids."""
    project, _ = make_project(tmp_path / "proj", n=3)
    project.annotate_create("ls", "animals", LABELS)
    item = project.meta.annotations.tasks("ls")[0].item_id
    choice = {"type": "choices", "from_name": "animal", "to_name": "text", "value": {"choices": ["dog"]}}
    ls = [
        {
            "id": 77,
            "data": {"text": "x", "_item_id": item},
            "annotations": [
                {"completed_by": 3, "result": [choice], "lead_time": 4.5},
                {"completed_by": {"id": 4, "email": "b@x.org"}, "result": [choice]},
                {"completed_by": 5, "result": [], "was_cancelled": True},
            ],
        }
    ]
    (tmp_path / "ls.json").write_text(json.dumps(ls))
    assert project.annotate_import("ls", tmp_path / "ls.json") == {"added": 2, "unchanged": 0, **NO_REPEATS}
    got = {(a.annotator, a.label, a.seconds) for a in project.meta.annotations.annotations("ls")}
    assert got == {("3", "dog", 4.5), ("b@x.org", "dog", 0.0)}


def test_multilabel_round_trip_through_csv(tmp_path):
    project, _ = make_project(tmp_path / "proj", n=2)
    project.annotate_create("multi", "animals", LABELS, task_type="multilabel")
    items = [t.item_id for t in project.meta.annotations.tasks("multi")]
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"item_id": items[0], "annotator": "a", "label": ["dog", "cat"]}) + "\n"
    )
    project.annotate_import("multi", tmp_path / "in.jsonl")
    path, _ = project.annotate_export("multi", tmp_path / "out.csv")
    project.annotate_create("multi2", "animals", LABELS, task_type="multilabel")
    project.annotate_import("multi2", path)
    assert [a.label for a in project.meta.annotations.annotations("multi2")] == [["cat", "dog"]]


def test_blob_set_project(tmp_path):
    project = Project.init(tmp_path / "proj")
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"img{i}.png").write_bytes(b"\x89PNG fake " + bytes([i]))
    project.add(folder, "images")
    _, n = project.annotate_create("imgs", "images@1", ["cat", "dog"])
    tasks = project.meta.annotations.tasks("imgs")
    assert n == 3 and {t.data["path"] for t in tasks} == {"img0.png", "img1.png", "img2.png"}
    assert all(t.item_id == t.data["blob"] for t in tasks)


def test_extend_queues_only_the_new_items_of_a_newer_version(tmp_path, store_url):
    project = Project.init(tmp_path / "proj", store=store_url)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"img{i}.png").write_bytes(b"\x89PNG fake " + bytes([i]))
    project.add(folder, "images")
    project.annotate_create("imgs", "images@1", ["cat", "dog"])
    first = project.meta.annotations.tasks("imgs")[0]
    project.meta.annotations.set_gold("imgs", {first.item_id: "cat"})
    for i in range(3, 5):  # two more arrive; one old file is rewritten with new bytes
        (folder / f"img{i}.png").write_bytes(b"\x89PNG fake " + bytes([i]))
    project.add(folder, "images")
    assert project.annotate_extend("imgs", "images") == 2
    tasks = project.meta.annotations.tasks("imgs")
    assert len(tasks) == 5 and len({t.item_id for t in tasks}) == 5
    assert next(t for t in tasks if t.item_id == first.item_id).gold == "cat"  # kept
    spec = project.meta.annotations.get_project("imgs")
    assert (spec.dataset_version, spec.artifact_id) == (2, project.resolve("images@2").id)
    assert project.annotate_extend("imgs", "images@2") == 0
    csv = tmp_path / "other.csv"
    csv.write_text("a\n1\n")
    project.add(csv, "other")
    with pytest.raises(InvalidInput, match="labels images, not other"):
        project.annotate_extend("imgs", "other")
    with pytest.raises(NotFound):
        project.annotate_extend("nope", "images")


def test_bad_input_stores_nothing(tmp_path):
    project, _ = make_project(tmp_path / "proj", n=3)
    project.annotate_create("p", "animals", LABELS)
    item = project.meta.annotations.tasks("p")[0].item_id
    cases = {
        "bad_label.csv": (f"item_id,annotator,label\n{item},a,cow\n", InvalidInput, "not in the label set"),
        "unknown.csv": ("item_id,annotator,label\nnope,a,cat\n", NotFound, "not tasks"),
        "header.csv": ("id,who,what\n1,2,3\n", InvalidInput, "header"),
        "broken.jsonl": ('{"item_id": 1\n', InvalidInput, "not JSON"),
        "broken.json": ("[{]", InvalidInput, "not JSON"),
        "no_item.json": ('[{"id": 123456, "data": {}}]', InvalidInput, "which item"),
        "seconds.csv": (
            f"item_id,annotator,label,seconds\n{item},a,cat,fast\n",
            InvalidInput,
            "not a number",
        ),
        "data.txt": ("x", InvalidInput, "cannot tell the format"),
    }
    for name, (text, error, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(error, match=message) as caught:
            project.annotate_import("p", tmp_path / name)
        assert name in caught.value.render() or name == "data.txt"
    with pytest.raises(InvalidInput, match="no file"):
        project.annotate_import("p", tmp_path / "missing.csv")
    with pytest.raises(NotFound):
        project.annotate_import("nope", tmp_path / "bad_label.csv")
    (tmp_path / "twice.csv").write_text(f"item_id,annotator,label\n{item},a,cat\n{item},a,dog\n")
    with pytest.raises(InvalidInput, match=r"answers item .* again") as caught:
        project.annotate_import("p", tmp_path / "twice.csv", duplicates="error")
    assert "twice.csv: line 3" in caught.value.render()
    assert project.meta.annotations.annotations("p") == []
    with pytest.raises(InvalidInput, match="no answers"):
        project.aggregate("p")
    with pytest.raises(InvalidInput, match="not valid"):
        project.annotate_create("bad name!", "animals", LABELS)
    with pytest.raises(NotFound):
        project.annotate_create("q", "no_such_dataset", LABELS)
    with pytest.raises(Conflict):
        project.annotate_create("p", "animals", LABELS)
    with pytest.raises(Unauthorized, match="unknown token"):
        project.authenticate_token("guess")


def test_agreement_reports_the_confusion_against_the_consensus(tmp_path):
    project, _ = make_project(tmp_path / "proj", n=30)
    project.annotate_create("pets", "animals", LABELS, overlap=5)
    truth = truth_by_item(project, "pets")
    project.annotate_import("pets", crowd_file(project, truth, tmp_path / "crowd.jsonl", seed=3))
    report = project.agreement("pets")
    cells = {(c["true"], c["given"]): c["n"] for c in report["confusion"]}
    assert sum(cells.values()) == report["annotations"]  # every answer counted once
    assert set(cells) <= {(a, b) for a in LABELS for b in LABELS} and all(n > 0 for n in cells.values())
    agreeing = sum(n for (a, b), n in cells.items() if a == b)
    assert agreeing > report["annotations"] / 2  # most answers match the consensus of a mostly honest crowd
