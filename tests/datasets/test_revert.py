"""`loopline revert NAME VERSION`: a new version pointing at the old content (the same artifact,
nothing copied), a note of what it replaced, nothing made when the content is current already,
and a collect source that reads again what a reverted version lacks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from loopline.core.errors import NotFound
from loopline.project import Project
from tests.conftest import cli, write_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_project(tmp_path, "")
    opened = Project.init(tmp_path)
    for rows in ("1,2\n", "1,2\n3,4\n"):
        (tmp_path / "d.csv").write_text("a,b\n" + rows)
        opened.add(tmp_path / "d.csv", "d")
    return opened


def test_revert_makes_a_version_with_the_old_artifact_and_a_note(project: Project, tmp_path: Path) -> None:
    v1, v2 = project.versions("d")
    result = project.revert("d", 1)
    assert result.to_json() == {
        "name": "d",
        "version": 3,
        "created": True,
        "reverted_from": 2,
        "reverted_to": 1,
        "artifact_id": v1.id,
        "source_state_reset": False,
    }
    v3 = project.meta.get_version("d", 3)
    assert v3.id == v1.id and v3.blob == v1.blob and v3.source == "revert: d@2 to d@1"
    assert project.load("d")["a"].to_list() == [1]
    written = project.checkout("d@3", tmp_path / "out")  # the bytes as added, as for d@1
    assert [p.read_text() for p in written] == ["a,b\n1,2\n"]
    assert project.diff("d@2", "d@3")["removed"] == 1
    assert project.revert("d", 2).version == 4 and project.meta.get_version("d", 4).id == v2.id


def test_a_revert_to_the_current_content_makes_no_version(project: Project) -> None:
    project.revert("d", 1)
    again = project.revert("d", 1)
    assert (again.created, again.version, again.reverted_from) == (False, 3, 3)
    assert "no new version made" in again.summary()
    assert len(project.versions("d")) == 3
    unchanged = project.revert("d", 3)  # a revert to the latest itself
    assert not unchanged.created and len(project.versions("d")) == 3


def test_unknown_names_and_versions_are_refused(project: Project, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="d has no version 7"):
        project.revert("d", 7)
    with pytest.raises(NotFound, match="no dataset named 'e'"):
        project.revert("e", 1)
    for args, message in (
        (("d", "7"), "d has no version 7"),
        (("d", "0"), "d has no version 0"),
        (("e", "1"), "no dataset named 'e'"),
        (("d", "two"), "Invalid value for 'VERSION'"),
    ):
        result = cli("revert", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message.lower() in (result.stdout + result.stderr).lower()
        assert "Traceback" not in result.stderr
    assert len(project.versions("d")) == 2  # nothing stored changed


def test_cli_prints_and_json(project: Project, tmp_path: Path) -> None:
    result = cli("revert", "d", "1", "--json", cwd=tmp_path, check=True)
    assert json.loads(result.stdout)["version"] == 3
    result = cli("revert", "d", "2", cwd=tmp_path, check=True)
    assert "d@4 is the content of d@2" in result.stdout and "replacing d@3" in result.stdout
    listed = cli("versions", "d", "--json", cwd=tmp_path, check=True)
    assert [v["source"] for v in json.loads(listed.stdout)][2:] == [
        "revert: d@2 to d@1",
        "revert: d@3 to d@2",
    ]


SOURCE = """
sources:
  people:
    type: files
    root: data
    glob: "*.csv"
steps:
  count:
    uses: steps:count
    inputs: [people]
    outputs: [people_count]
"""
STEPS = """
def count(people):
    return {"rows": people.height}
"""


def test_a_reverted_collected_dataset_is_merged_into_at_the_next_collect(tmp_path: Path) -> None:
    """The source's state described the version it made last: a revert forgets it, so the next
    collect reads every file again and adds, each once, the items the reverted version lacks."""
    sys.modules.pop("steps", None)
    write_project(tmp_path, SOURCE, STEPS)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("id,name\n1,ann\n2,bob\n")
    project = Project.init(tmp_path)
    first = project.run()
    assert first.status == "succeeded", [s.error for s in first.steps]
    (data / "b.csv").write_text("id,name\n3,cy\n")
    assert project.collect().status == "succeeded"
    v1, v2 = project.versions("people")
    assert (v1.rows, v2.rows) == (2, 3)

    result = project.revert("people", 1)
    assert result.created and result.source_state_reset and result.version == 3
    assert project.meta.source_state("people") == {}
    assert project.load("people")["id"].to_list() == [1, 2]

    (data / "c.csv").write_text("id,name\n4,dee\n")
    run = project.run()  # collects first: b.csv is read again, each item added once
    assert run.status == "succeeded", [s.error for s in run.steps]
    assert sorted(project.load("people")["id"].to_list()) == [1, 2, 3, 4]
    assert project.meta.get_version("people", 4).rows == 4
    assert project.load("people_count") == {"rows": 4}
    assert project.meta.source_state("people") != {}


def test_reverting_then_removing_a_bad_file_drops_its_rows(tmp_path: Path) -> None:
    """Collection only adds: rows of a file removed from the source stay in the dataset, until
    a revert to a version without them (the file gone, the next collect does not bring them back)."""
    sys.modules.pop("steps", None)
    write_project(tmp_path, SOURCE, STEPS)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("id,name\n1,ann\n")
    project = Project.init(tmp_path)
    assert project.collect().status == "succeeded"
    (data / "bad.csv").write_text("id,name\n666,evil\n")
    assert project.collect().status == "succeeded"
    (data / "bad.csv").unlink()
    assert project.collect().status == "succeeded"
    assert sorted(project.load("people")["id"].to_list()) == [1, 666]  # removal alone keeps it
    project.revert("people", 1)
    (data / "b.csv").write_text("id,name\n2,bo\n")
    assert project.collect().status == "succeeded"
    assert sorted(project.load("people")["id"].to_list()) == [1, 2]
