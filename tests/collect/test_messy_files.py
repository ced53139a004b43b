"""The files source on the shapes real files come in: no header, a header and nothing else, a
byte order mark, CRLF, quoted newlines, ragged rows at the start, middle and end of a later file,
padded integers, a column that appears, disappears or changes type, another encoding, empty
files; changed read options, removed files. Whatever the shape, no column is renamed, shifted,
retyped or dropped silently: each file is read against the source's one schema, and anything
that does not fit is quarantined by line, or refused whole with the fix named."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.collect.schema import version_changes
from loopline.core.errors import Integrity
from loopline.project import Project
from tests.collect.conftest import LocalProject
from tests.conftest import cli


def _cli(root: Path, *args: str, expect: int = 0) -> str:
    """`loopline ARGS` in the project, its exit code checked; what it printed."""
    result = cli(*args, cwd=root)
    assert result.returncode == expect, result.stdout + result.stderr
    return result.stdout


ELEC = ["date", "day", "period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer", "class"]
ELEC_SOURCE = f"""\
  elec:
    type: files
    root: inbox
    glob: "*.csv"
    has_header: false
    columns: [{", ".join(ELEC)}]
"""


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _elec_row(i: int) -> str:
    """A row shaped like the electricity-market file's: nine fields, the last a class."""
    fields = [i, i % 7 + 1, f"{i / 48:.6f}", f"{0.05 + i / 1e4:.6f}", f"{0.4 + i / 1e5:.6f}"]
    return ",".join(map(str, [*fields, 0.003467, 0.422915, 0.414912, "UP" if i % 2 else "DOWN"]))


def _data(table: pl.DataFrame) -> pl.DataFrame:
    return table.select(pl.all().exclude("^_.*$"))


@pytest.fixture
def elec(local_project) -> LocalProject:  # type: ignore[no-untyped-def]
    lp = local_project(ELEC_SOURCE)
    _write(lp.root / "inbox" / "a.csv", "".join(_elec_row(i) + "\n" for i in range(50)))
    return lp


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_ragged_line_in_a_later_headerless_file_shifts_nothing(elec: LocalProject, where: str) -> None:
    """The newcomer's electricity file: one malformed line in a later file once read that file
    with other column names, its rows one column to the right and nswdemand as text."""
    elec.collect()
    first = elec.load("elec")
    rows = [_elec_row(i) for i in range(50, 80)]
    at = {"start": 0, "middle": 15, "end": 29}[where]
    rows[at] = rows[at] + ",0.1"  # ten fields
    _write(elec.root / "inbox" / "b.csv", "".join(r + "\n" for r in rows))
    elec.collect()
    table = elec.load("elec")
    assert _data(table).schema == _data(first).schema
    assert table.columns[: len(ELEC)] == ELEC and table.schema["nswdemand"] == pl.Float64
    assert table.height == 50 + 29
    new = table.filter(pl.col("_origin").str.starts_with("inbox/b.csv"))
    assert new["date"].to_list() == [i for i in range(50, 80) if i != 50 + at]
    assert new["class"].to_list() == ["UP" if i % 2 else "DOWN" for i in range(50, 80) if i != 50 + at]
    bad = elec.load("elec_quarantine")
    assert bad.select("_origin", "_line").rows() == [("inbox/b.csv", at + 1)]
    assert bad["_reason"][0] == "expected 9 fields, found 10" and bad["_raw"][0] == rows[at]


def test_collect_prints_each_file_and_refuses_a_file_whose_type_changed(elec: LocalProject) -> None:
    elec.collect()
    _write(elec.root / "inbox" / "b.csv", "".join(_elec_row(i) + "\n" for i in range(50, 60)) + "x,y\n")
    text = "".join(_elec_row(i).replace(",0.4", ",high") + "\n" for i in range(60, 63))
    _write(elec.root / "inbox" / "c.csv", text)  # nswdemand is text now
    before = elec.load("elec")
    out = _cli(elec.root, "collect", expect=2)
    assert "inbox/b.csv: 11 row(s) read, 10 kept, 1 quarantined" in out
    assert "refused inbox/c.csv: column 'nswdemand': none of its 3 value(s) is Float64" in out
    assert "schema: {nswdemand: String}" in out  # the fix
    table = elec.load("elec")
    assert table.height == before.height + 10 and table.schema == before.schema  # nothing of c.csv
    refused = elec.load("elec_quarantine").filter(pl.col("_origin") == "inbox/c.csv")
    assert refused["_line"].to_list() == [None] and "file rejected" in refused["_reason"][0]
    report = json.loads(_cli(elec.root, "collect", "--json", expect=2))
    files = {f["file"]: f for f in report["sources"]["elec"]["files"]}
    assert set(files) == {"inbox/c.csv"}  # b.csv is read; c.csv is read again until fixed
    assert "nswdemand" in files["inbox/c.csv"]["rejected"]


def test_header_only_bom_crlf_quoted_newlines_and_empty_files(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  people:\n    type: files\n    root: in\n    glob: "*.csv"\n')
    _write(lp.root / "in" / "0-empty.csv", b"")
    _write(lp.root / "in" / "1-header.csv", "id,name,age\n")
    _write(lp.root / "in" / "2-bom.csv", b"\xef\xbb\xbfid,name,age\r\n1,ann,30\r\n2,bob,41\r\n")
    _write(lp.root / "in" / "3-quoted.csv", 'id,name,age\n3,"cy\nthe second",25\n4,dee,52\n5,eve\n')
    lp.collect()
    table = lp.load("people").sort("id")
    assert _data(table).schema == pl.Schema({"id": pl.Int64, "name": pl.String, "age": pl.Int64})
    assert table.select("id", "name", "age").rows() == [
        (1, "ann", 30),
        (2, "bob", 41),
        (3, "cy\nthe second", 25),
        (4, "dee", 52),
    ]
    assert table["_origin"].to_list() == [
        "in/2-bom.csv:2",
        "in/2-bom.csv:3",
        "in/3-quoted.csv:2",
        "in/3-quoted.csv:4",
    ]
    bad = lp.load("people_quarantine")
    assert bad.select("_origin", "_line", "_reason").rows() == [
        ("in/3-quoted.csv", 5, "expected 3 fields, found 2")
    ]
    assert lp.figures["people"]["rows_read"] == 2 + 3


def test_a_bom_on_a_file_that_takes_the_careful_path(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  people:\n    type: files\n    root: in\n    glob: "*.csv"\n')
    _write(lp.root / "in" / "a.csv", b"\xef\xbb\xbfid,name\n1,ann\n2\n3,cy\n")
    lp.collect()
    assert lp.load("people").select("id", "name").rows() == [(1, "ann"), (3, "cy")]


def test_padded_integers_are_integers_and_stay_so(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  t:\n    type: files\n    root: in\n    glob: "*.csv"\n')
    _write(lp.root / "in" / "a.csv", "n,label\n0 ,a\n 12,b\n3,c\n")
    lp.collect()
    assert lp.load("t").schema["n"] == pl.Int64 and lp.load("t")["n"].to_list() == [0, 12, 3]
    _write(lp.root / "in" / "b.csv", "n,label\n7 ,d\n2.5,e\n")  # 2.5 is no integer: its row only
    lp.collect()
    assert lp.load("t")["n"].to_list() == [0, 12, 3, 7]
    reason = lp.load("t_quarantine")["_reason"].to_list()
    assert reason == ["column n: 2.5 is not Int64"]


def test_a_column_that_appears_disappears_or_widens(local_project) -> None:  # type: ignore[no-untyped-def]
    source = '  t:\n    type: files\n    root: in\n    glob: "*.csv"\n'
    lp = local_project(source)
    _write(lp.root / "in" / "a.csv", "id,n\n1,10\n2,20\n")
    lp.collect()
    _write(lp.root / "in" / "b.csv", "id,n,city\n3,30,Oslo\n")
    _write(lp.root / "in" / "c.csv", "id\n4\n")
    _write(lp.root / "in" / "d.csv", "id,n\n5,5.5\n6,6.5\n")
    out = _cli(lp.root, "collect", expect=2)
    assert "refused in/b.csv: column(s) 'city' are not among the source's (id, n)" in out
    assert "evolve: [add_columns]" in out
    assert "refused in/c.csv: it lacks the source's column(s) 'n'" in out
    assert "refused in/d.csv: column 'n': none of its 2 value(s) is Int64" in out and "widen" in out
    assert lp.load("t").height == 2
    lp.declare(source + "    evolve: [add_columns, missing_columns, widen]\n")
    out = _cli(lp.root, "collect")
    assert "new column city" in out and "column n missing (null)" in out and "widened Int64 -> Float64" in out
    table = lp.load("t").sort("id")
    assert _data(table).schema == pl.Schema({"id": pl.Int64, "n": pl.Float64, "city": pl.String})
    assert table.select("id", "n", "city").rows() == [
        (1, 10.0, None),
        (2, 20.0, None),
        (3, 30.0, "Oslo"),
        (4, None, None),
        (5, 5.5, None),
        (6, 6.5, None),
    ]


def test_json_lines_whose_field_changes_type(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  ev:\n    type: files\n    root: in\n    glob: "*.jsonl"\n')
    _write(lp.root / "in" / "a.jsonl", '{"k": "a", "v": 1}\n{"k": "b", "v": 2}\n')
    lp.collect()
    _write(lp.root / "in" / "b.jsonl", '{"k": "c", "v": "three"}\n')
    _write(lp.root / "in" / "c.jsonl", '{"k": "d", "v": 4.5}\n{"k": "e", "v": 5.0}\n')
    out = _cli(lp.root, "collect", expect=2)
    assert "refused in/b.jsonl: column 'v'" in out
    table = lp.load("ev")
    assert table.schema["v"] == pl.Int64 and table.select("k", "v").rows() == [("a", 1), ("b", 2), ("e", 5)]
    assert lp.load("ev_quarantine").filter(pl.col("_line") == 1)["_reason"].to_list() == [
        "column v: 4.5 is not Int64"
    ]  # a float that is no integer is never truncated into one


def test_another_encoding_is_read_when_declared(local_project) -> None:  # type: ignore[no-untyped-def]
    source = '  t:\n    type: files\n    root: in\n    glob: "*.csv"\n'
    lp = local_project(source)
    _write(lp.root / "in" / "a.csv", "id,city\n1,Oslo\n2,Zürich\n".encode("latin-1"))
    lp.collect()  # read as UTF-8: the line that is not is quarantined, the others kept
    assert lp.load("t").select("id", "city").rows() == [(1, "Oslo")]
    assert lp.load("t_quarantine")["_reason"][0].startswith("invalid UTF-8")
    lp.declare(source + "    encoding: latin-1\n")  # a read option: the file is read again
    out = _cli(lp.root, "collect")
    assert "read again" in out
    assert sorted(lp.load("t").select("id", "city").rows()) == [(1, "Oslo"), (2, "Zürich")]


def test_changed_columns_reread_and_replace_the_rows(elec: LocalProject) -> None:
    elec.collect()
    renamed = [c.upper() for c in ELEC]
    elec.declare(ELEC_SOURCE.replace(", ".join(ELEC), ", ".join(renamed)))
    elec.collect()
    table = elec.load("elec")
    assert table.columns[:9] == renamed and table.height == 50  # replaced, not appended
    assert elec.figures["elec"]["dropped"] == 50 and elec.figures["elec"]["added"] == 50
    elec.collect()
    assert elec.figures["elec"]["files_read"] == 0  # the new options are remembered


def test_null_values_keep_a_number_column_a_number(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  t:\n    type: files\n    root: in\n    glob: "*.csv"\n    null_values: ["?"]\n')
    _write(lp.root / "in" / "a.csv", "id,demand\n1,0.5\n2,?\n3,0.7\n")
    lp.collect()
    assert lp.load("t").schema["demand"] == pl.Float64 and lp.load("t")["demand"].to_list() == [
        0.5,
        None,
        0.7,
    ]


@pytest.mark.parametrize("mode", ["append", "mirror"])
def test_a_removed_file_is_reported_and_the_mode_decides(local_project, mode: str) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(f'  t:\n    type: files\n    root: in\n    glob: "*.csv"\n    versions: {mode}\n')
    _write(lp.root / "in" / "a.csv", "id\n1\n2\n")
    _write(lp.root / "in" / "b.csv", "id\n3\n")
    lp.collect()
    (lp.root / "in" / "b.csv").unlink()
    _write(lp.root / "in" / "a.csv", "id\n1\n2\n4\n")  # edited: one row more
    out = _cli(lp.root, "collect")
    assert "removed in/b.csv" in out
    ids = sorted(lp.load("t")["id"].to_list())
    assert ids == ([1, 2, 3, 4] if mode == "append" else [1, 2, 4])
    assert lp.versions("t") == 2


def test_a_headerless_file_needs_no_columns_but_names_them_loopline_s_way(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project('  t:\n    type: files\n    root: in\n    glob: "*.csv"\n    has_header: false\n')
    _write(lp.root / "in" / "a.csv", "1,x\n2,y\n")
    _write(lp.root / "in" / "b.csv", "3\n4,z\n5,w\n")  # the careful path: a ragged first line
    lp.collect()
    table = lp.load("t").sort("column_1")
    assert table.select("column_1", "column_2").rows() == [(1, "x"), (2, "y"), (4, "z"), (5, "w")]


def test_the_merge_never_retypes_a_column() -> None:
    before = pl.Schema({"a": pl.Int64, "b": pl.Float64, "c": pl.String})
    assert version_changes(before, pl.Schema({**before, "a": pl.Float64, "d": pl.Int64})) == [
        "new column d (Int64)",
        "column a widened Int64 -> Float64",
    ]
    with pytest.raises(Integrity, match="'b' would change type from Float64 to String"):
        version_changes(before, pl.Schema({**before, "b": pl.String}))


_VALUE = st.integers(-(10**6), 10**6)


@st.composite
def _files(draw: st.DrawFn) -> list[list[tuple[str, bool]]]:
    """Collections of headerless files of (id, count, score, tag) rows, ids unique across all,
    some lines malformed: a field too many or too few, bytes that are not UTF-8, an integer
    field that is text."""
    collections = []
    next_id = 0
    for _ in range(draw(st.integers(1, 3))):
        lines: list[tuple[str, bool]] = []
        for _ in range(draw(st.integers(0, 12))):
            count, score = draw(_VALUE), draw(st.integers(0, 1000)) / 8
            line = f"{next_id},{count},{score},t{next_id}"
            next_id += 1
            kind = draw(st.sampled_from(["good"] * 6 + ["long", "short", "utf8", "text"]))
            if kind == "long":
                line += ",extra"
            elif kind == "short":
                line = line.rsplit(",", 1)[0]
            elif kind == "utf8":
                line = line.replace("t", "\udcff", 1)
            elif kind == "text":
                line = line.replace(f",{count},", ",many,", 1)
            lines.append((line, kind == "good"))
        collections.append(lines)
    return collections


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(collections=_files())
def test_every_good_row_is_stored_under_its_names_and_every_bad_line_quarantined(
    tmp_path: Path, collections: list[list[tuple[str, bool]]]
) -> None:
    lp = LocalProject(Path(tempfile.mkdtemp(dir=tmp_path)))
    lp.declare(
        '  t:\n    type: files\n    root: in\n    glob: "*.csv"\n    has_header: false\n'
        "    columns: [id, count, score, tag]\n    schema: {id: Int64, count: Int64, score: Float64}\n"
    )
    (lp.root / "in").mkdir()
    Project.init(lp.root).close()
    good: list[tuple[int, int, float, str]] = []
    bad: list[tuple[str, int]] = []
    read = 0
    for number, lines in enumerate(collections):
        name = f"f{number}.csv"
        data = "".join(line + "\n" for line, _ in lines).encode("utf-8", "surrogateescape")
        _write(lp.root / "in" / name, data)
        for index, (line, ok) in enumerate(lines, start=1):
            if ok:
                i, count, score, tag = line.split(",")
                good.append((int(i), int(count), float(score), tag))
            else:
                bad.append((f"in/{name}", index))
        read += len(lines)
        lp.collect()
    if not good:
        return
    table = lp.load("t")
    assert _data(table).schema == pl.Schema(
        {"id": pl.Int64, "count": pl.Int64, "score": pl.Float64, "tag": pl.String}
    )
    assert sorted(table.select("id", "count", "score", "tag").rows()) == sorted(good)
    quarantine = lp.load("t_quarantine") if bad else pl.DataFrame({"_origin": [], "_line": []})
    assert sorted(quarantine.select("_origin", "_line").rows()) == sorted(bad)
    assert read == table.height + quarantine.height


@pytest.mark.parametrize("mode", ["append", "mirror"])
def test_a_file_removed_from_a_folder_source(local_project, mode: str) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(f"  docs:\n    type: folder\n    root: docs\n    versions: {mode}\n")
    _write(lp.root / "docs" / "a.txt", "first")
    _write(lp.root / "docs" / "b.txt", "second")
    lp.collect()
    (lp.root / "docs" / "b.txt").unlink()
    out = _cli(lp.root, "collect")
    assert "removed docs/b.txt" in out
    paths = [e.path for e in lp.load("docs").entries]
    assert paths == (["a.txt", "b.txt"] if mode == "append" else ["a.txt"])
    assert lp.versions("docs") == (1 if mode == "append" else 2)
    assert "removed" not in _cli(lp.root, "collect")  # reported once
