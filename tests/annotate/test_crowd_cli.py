"""A published crowd-label set with known truth through the CLI, as the new user of issue 14 ran
it: a messy crowd file (repeats, conflicting repeats, three answers of one annotator to one
item, ties) imported under each --duplicates rule, aggregated with the tie rule and seed as
options, scored against a gold file, and an empty project's agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.project import Project
from tests.conftest import cli

LABELS = ["bird", "cat", "dog"]


@pytest.fixture(scope="module")
def crowd(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("crowd_cli")
    cli("init", ".", cwd=root, check=True)
    (root / "items.csv").write_text("_item_id,text\n" + "".join(f"i{n},thing {n}\n" for n in range(6)))
    cli("add", "items.csv", "--name", "things", cwd=root, check=True)
    for name in ("keep", "first", "last", "error", "empty", "scored"):
        cli(
            "annotate",
            "create",
            name,
            "--dataset",
            "things",
            "--labels",
            ",".join(LABELS),
            cwd=root,
            check=True,
        )
    lines = [
        "i0,w1,cat",
        "i0,w2,cat",
        "i0,w3,dog",
        "i1,w1,dog",
        "i1,w1,bird",  # w1 changes its mind on i1
        "i1,w1,dog",  # and answers it a third time
        "i1,w2,bird",
        "i2,w1,bird",
        "i2,w2,dog",  # i2: a tie between bird and dog
        "i3,w3,cat",
        "i3,w3,cat",  # an agreeing repeat
    ]
    (root / "crowd.csv").write_text("item_id,annotator,label\n" + "\n".join(lines) + "\n")
    return root, lines


def _json(*args: str, cwd: Path) -> dict:
    return json.loads(cli(*args, "--json", cwd=cwd, check=True).stdout)


def test_import_keeps_repeats_by_default_and_is_idempotent(crowd):
    root, lines = crowd
    got = _json("annotate", "import", "keep", "crowd.csv", cwd=root)
    assert got == {
        "added": 11,
        "unchanged": 0,
        "duplicates": "keep",
        "repeated": 3,
        "conflicting": 1,
        "dropped": 0,
    }
    again = _json("annotate", "import", "keep", "crowd.csv", cwd=root)
    assert (again["added"], again["unchanged"]) == (0, 11)
    status = _json("annotate", "status", "keep", cwd=root)
    assert status["annotations"] == 11 and status["per_annotator"] == {"w1": 5, "w2": 3, "w3": 3}
    # a file with one more repeat adds just that one
    (root / "more.csv").write_text("item_id,annotator,label\n" + "\n".join([*lines, "i1,w1,bird"]) + "\n")
    assert _json("annotate", "import", "keep", "more.csv", cwd=root)["added"] == 1
    text = cli("annotate", "import", "keep", "crowd.csv", cwd=root, check=True).stdout
    assert "3 repeated answers" in text and "1 annotator-item pairs disagree" in text
    # the export round-trips the repeats
    cli("annotate", "export", "keep", "out.csv", cwd=root, check=True)
    exported = (root / "out.csv").read_text().splitlines()
    assert sum(1 for row in exported if row.startswith("i1,w1,")) == 4


def test_first_and_last_keep_one_answer_per_annotator_and_item(crowd):
    root, _ = crowd
    first = _json("annotate", "import", "first", "crowd.csv", "--duplicates", "first", cwd=root)
    last = _json("annotate", "import", "last", "crowd.csv", "--duplicates", "last", cwd=root)
    for got in (first, last):
        assert (got["added"], got["repeated"], got["dropped"], got["conflicting"]) == (8, 3, 3, 1)
    cli("annotate", "export", "first", "first.csv", cwd=root, check=True)
    cli("annotate", "export", "last", "last.csv", cwd=root, check=True)
    assert "i1,w1,dog" in (root / "first.csv").read_text()  # the first and the last answer
    assert "i1,w1,dog" in (root / "last.csv").read_text()  # of w1 on i1 are both dog
    (root / "two.csv").write_text("item_id,annotator,label\ni4,w1,cat\ni4,w1,dog\n")
    cli("annotate", "import", "first", "two.csv", "--duplicates", "first", cwd=root, check=True)
    cli("annotate", "import", "last", "two.csv", "--duplicates", "last", cwd=root, check=True)
    cli("annotate", "export", "first", "first.csv", cwd=root, check=True)
    cli("annotate", "export", "last", "last.csv", cwd=root, check=True)
    assert (
        "i4,w1,cat" in (root / "first.csv").read_text()
        and "i4,w1,dog" not in (root / "first.csv").read_text()
    )
    assert (
        "i4,w1,dog" in (root / "last.csv").read_text() and "i4,w1,cat" not in (root / "last.csv").read_text()
    )


def test_error_refuses_the_file_at_the_first_repeat_and_stores_nothing(crowd):
    root, _ = crowd
    out = cli("annotate", "import", "error", "crowd.csv", "--duplicates", "error", cwd=root)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    said = " ".join((out.stderr + out.stdout).split())
    assert "crowd.csv: line 6" in said and "'w1'" in said and "'i1'" in said and "first at line 5" in said
    assert _json("annotate", "status", "error", cwd=root)["annotations"] == 0
    bad = cli("annotate", "import", "error", "crowd.csv", "--duplicates", "merge", cwd=root)
    assert bad.returncode == 2 and "keep, first, last, error" in " ".join((bad.stderr + bad.stdout).split())


def test_aggregate_tie_rule_and_seed(crowd):
    root, _ = crowd
    cli("annotate", "import", "first", "crowd.csv", "--duplicates", "first", cwd=root)
    args = ("annotate", "aggregate", "first", "--method", "majority")
    smallest = _json(*args, "--ties", "smallest", cwd=root)
    project = Project.open(root)
    try:
        labels = dict(
            project.load(f"first_labels@{smallest['labels']['version']}")
            .select("item_id", "label")
            .iter_rows()
        )
    finally:
        project.close()
    assert labels["i1"] == "bird" and labels["i2"] == "bird" and labels["i0"] == "cat"
    abstain = _json(*args, "--ties", "abstain", cwd=root)
    # i1 (w1 dog, w2 bird) and i2 (w1 bird, w2 dog) are ties once repeats are dropped
    assert sorted(abstain["abstained"]) == ["i1", "i2"] and smallest["abstained"] == []
    assert abstain["items"] == smallest["items"] - 2
    random_ = _json(*args, "--ties", "random", "--seed", "3", cwd=root)
    assert random_["labels"]["id"] != abstain["labels"]["id"]
    bad = cli(*args, "--ties", "coin", cwd=root)
    assert bad.returncode == 2 and "unknown tie rule" in bad.stderr + bad.stdout


def test_agreement_of_a_project_with_no_answers_says_so(crowd):
    root, _ = crowd
    out = cli("annotate", "agreement", "empty", cwd=root)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "empty has no answers yet" in out.stdout
    report = _json("annotate", "agreement", "empty", cwd=root)
    assert (report["annotations"], report["pairs"], report["fleiss_kappa"]) == (0, [], None)


def test_evaluate_scores_methods_and_annotators_on_gold_without_clamping(crowd):
    root, _ = crowd
    cli("annotate", "import", "scored", "crowd.csv", cwd=root, check=True)
    # i5 has no answers, zz is no item of the project: counted, not errors
    (root / "truth.csv").write_text("item_id,label\ni0,cat\ni1,dog\ni3,dog\ni5,bird\nzz,cat\n")
    before = _json("datasets", cwd=root)
    got = _json("annotate", "evaluate", "scored", "--gold", "truth.csv", "--ties", "smallest", cwd=root)
    assert (got["gold_items"], got["scored_items"], got["unanswered_items"], got["unknown_items"]) == (
        5,
        3,
        1,
        1,
    )
    assert got["unknown_examples"] == ["zz"]
    by_method = {m["method"]: m for m in got["methods"]}
    assert set(by_method) == {"majority", "dawid_skene", "glad"}
    # i0: cat 2-1, right; i1: dog 2 (w1 twice) - bird 2, a tie: smallest is bird, wrong; i3: cat, wrong
    assert (by_method["majority"]["correct"], by_method["majority"]["accuracy"]) == (1, pytest.approx(1 / 3))
    assert got["annotators"] == [
        {"annotator": "w1", "answers": 4, "correct": 3, "accuracy": 0.75},  # every repeat is scored
        {"annotator": "w2", "answers": 2, "correct": 1, "accuracy": 0.5},
        {"annotator": "w3", "answers": 3, "correct": 0, "accuracy": 0.0},
    ]
    abstain = _json("annotate", "evaluate", "scored", "--gold", "truth.csv", "--ties", "abstain", cwd=root)
    majority = next(m for m in abstain["methods"] if m["method"] == "majority")
    assert (majority["correct"], majority["abstained"]) == (1, 1)
    # nothing is stored: no gold tasks, no labels artifact
    assert _json("datasets", cwd=root) == before
    assert _json("annotate", "status", "scored", cwd=root)["gold"] == 0
    text = cli("annotate", "evaluate", "scored", "--gold", "truth.csv", cwd=root, check=True).stdout
    assert "3 of 5 gold items" in text and "dawid_skene" in text and "w3" in text
    (root / "bad.csv").write_text("item_id,label\ni0,cow\n")
    bad = cli("annotate", "evaluate", "scored", "--gold", "bad.csv", cwd=root)
    said = " ".join((bad.stderr + bad.stdout).split())
    assert bad.returncode == 2 and "bad.csv: gold item 'i0'" in said and "'cow'" in said
    assert "Traceback" not in said
