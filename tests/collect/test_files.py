"""The files source on real files: incremental collection with provenance, quarantine of bad
records by line number, schema overrides, JSON Lines and Parquet, bounded memory on a big CSV,
refusal to read outside the root, and a source feeding a pipeline step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loopline.collect import CollectContext, merge, parse_source
from loopline.collect import files as files_source
from loopline.collect.merge import with_provenance
from loopline.core.errors import ConfigError
from loopline.core.hashing import hash_table
from loopline.core.types import TableFile
from tests.collect.conftest import LocalProject
from tests.collect.test_merge import in_memory_merge
from tests.conftest import BIN, cli

PEOPLE = """\
  people:
    type: files
    root: data
    glob: "*.csv"
    schema: {age: Int64}
"""


def _csv(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


@pytest.fixture
def people(local_project) -> LocalProject:  # type: ignore[no-untyped-def]
    lp = local_project(PEOPLE)
    _csv(lp.root / "data" / "a.csv", "id,name,age\n1,ann,30\n2,bob,41\n")
    return lp


def test_first_collect_creates_v1_with_provenance(people: LocalProject) -> None:
    run = people.collect()
    table = people.load("people")
    assert table.select("id", "name", "age").rows() == [(1, "ann", 30), (2, "bob", 41)]
    assert table["_origin"].to_list() == ["data/a.csv:2", "data/a.csv:3"]
    assert set(table["_source"]) == {"people"}
    assert set(table["_run_id"]) == {run.id}
    assert table.schema["_collected_at"] == pl.Datetime("us", "UTC")
    assert abs((datetime.now(UTC) - table["_collected_at"][0]).total_seconds()) < 120
    assert table["_item_id"].n_unique() == 2
    outputs = {k: v for step in run.steps for k, v in step.outputs.items()}
    assert outputs["people"] == hash_table(table)  # the batch's own file, hashed when stored
    assert {"files_seen": 1.0, "files_read": 1.0, "rows_read": 2.0}.items() <= people.figures[
        "people"
    ].items()
    assert people.versions("people") == 1


def test_nothing_new_adds_no_version_and_reads_no_file(people: LocalProject) -> None:
    people.collect()
    people.collect()
    assert people.figures["people"]["files_read"] == 0
    assert people.figures["people"]["added"] == 0
    os.utime(people.root / "data" / "a.csv")  # touched, same bytes: hashed, not parsed
    people.collect()
    assert people.figures["people"]["files_read"] == 0
    listing = json.loads(cli("datasets", "--json", cwd=people.root, check=True).stdout)
    assert {d["name"]: d["versions"] for d in listing}["people"] == 1


def test_new_file_adds_only_its_rows_and_seen_rows_are_never_duplicated(people: LocalProject) -> None:
    people.collect()
    # b.csv repeats bob (already collected from a.csv) and brings cy
    _csv(people.root / "data" / "b.csv", "id,name,age\n2,bob,41\n3,cy,25\n")
    people.collect()
    assert people.figures["people"]["files_read"] == 1  # a.csv unchanged: not read again
    assert people.figures["people"]["added"] == 1
    table = people.load("people")
    assert sorted(table["name"]) == ["ann", "bob", "cy"]
    assert table.filter(pl.col("name") == "bob")["_origin"].to_list() == ["data/a.csv:3"]
    # rows appended to a.csv: the file is read again, only the new row is added
    with open(people.root / "data" / "a.csv", "a") as fh:
        fh.write("4,dee,52\n")
    people.collect()
    assert people.figures["people"]["added"] == 1
    assert people.load("people").height == 4
    assert people.versions("people") == 3

    diff = json.loads(cli("diff", "people@1", "people@2", "--json", cwd=people.root, check=True).stdout)
    assert (diff["added"], diff["removed"], diff["unchanged"]) == (1, 0, 2)
    assert diff["sample"]["added"][0]["name"] == "cy"
    lineage = cli("lineage", "people", cwd=people.root, check=True).stdout
    assert "collect.people" in lineage
    art = json.loads(cli("lineage", "people", "--json", cwd=people.root, check=True).stdout)["artifact"]
    assert art["source"] == "step:collect.people" and art["version"] == 3


BAD_CSV = (
    b"id,name,age\n"
    b"1,ann,30\n"  # line 2: good
    b"2,bob,abc\n"  # line 3: abc is not Int64
    b"3,cy\n"  # line 4: one field short
    b"4,dee,40,extra\n"  # line 5: one field too many
    b"5,\xff\xfeeve,22\n"  # line 6: not UTF-8
    b"6,fay,27\n"  # line 7: good
)


def test_malformed_rows_are_quarantined_with_line_numbers(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(PEOPLE)
    _csv(lp.root / "data" / "bad.csv", BAD_CSV)
    lp.collect()
    table = lp.load("people")
    assert table.select("id", "name", "age").rows() == [(1, "ann", 30), (6, "fay", 27)]
    assert table["_origin"].to_list() == ["data/bad.csv:2", "data/bad.csv:7"]
    quarantine = lp.load("people_quarantine").sort("_line")
    assert quarantine["_line"].to_list() == [3, 4, 5, 6]
    assert set(quarantine["_origin"]) == {"data/bad.csv"}
    reasons = quarantine["_reason"].to_list()
    assert "abc" in reasons[0] and "Int64" in reasons[0] and "age" in reasons[0]
    assert "expected 3 fields, found 2" in reasons[1]
    assert "expected 3 fields, found 4" in reasons[2]
    assert "UTF-8" in reasons[3]
    assert quarantine["_raw"].to_list()[:3] == ["2,bob,abc", "3,cy", "4,dee,40,extra"]
    assert quarantine["_raw"][3].startswith("5,") and quarantine["_raw"][3].endswith("eve,22")
    figures = lp.figures["people"]
    assert figures["rows_read"] == 6 == table.height + quarantine.height
    assert figures["rows_quarantined"] == 4
    lp.collect()  # nothing new: the same bad rows are not quarantined twice
    assert lp.versions("people_quarantine") == 1


def test_blank_lines_and_multiline_fields_keep_true_line_numbers(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(PEOPLE)
    _csv(lp.root / "data" / "q.csv", 'id,name,age\n1,"ann\nsmith",30\n\n2,bob\n3,"cy, jr",7\n')
    lp.collect()
    table = lp.load("people")
    assert table.select("id", "name").rows() == [(1, "ann\nsmith"), (3, "cy, jr")]
    assert table["_origin"].to_list() == ["data/q.csv:2", "data/q.csv:6"]
    assert lp.load("people_quarantine")["_line"].to_list() == [5]


def test_schema_overrides(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(
        """\
  users:
    type: files
    root: in
    glob: "*.csv"
    schema: {zip: String, signup: Date, score: float, active: Boolean}
"""
    )
    _csv(
        lp.root / "in" / "u.csv",
        "zip,signup,score,active\n00123,2024-01-31,1,true\n02139,2024-02-29,2,false\n",
    )
    lp.collect()
    table = lp.load("users")
    assert table.schema["zip"] == pl.String and table["zip"].to_list() == ["00123", "02139"]
    assert table.schema["signup"] == pl.Date and table["signup"][1] == date(2024, 2, 29)
    assert table.schema["score"] == pl.Float64
    assert table["active"].to_list() == [True, False]
    _csv(
        lp.root / "in" / "v.csv",
        "zip,signup,score,active\n10001,not-a-date,3,true\n10002,2024-03-01,4,maybe\n",
    )
    lp.collect()
    assert lp.load("users").height == 2
    reasons = lp.load("users_quarantine").sort("_line")["_reason"].to_list()
    assert "signup" in reasons[0] and "not-a-date" in reasons[0] and "Date" in reasons[0]
    assert "active" in reasons[1] and "maybe" in reasons[1]


def test_jsonl_and_parquet(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(
        """\
  events:
    type: files
    root: ev
    glob: "**/*.jsonl"
  metrics:
    type: files
    root: pq
    glob: "*.parquet"
    schema: {value: Int64}
"""
    )
    _csv(lp.root / "ev" / "day1" / "a.jsonl", '{"user": "u1", "n": 1}\n{"user": "u2", "n": 2}\n')
    _csv(lp.root / "ev" / "b.jsonl", '{"user": "u3", "n": 3}\n{not json\n[1, 2]\n{"user": "u4", "n": 4}\n')
    (lp.root / "pq").mkdir()
    pl.DataFrame({"k": ["a", "b", "c"], "value": ["1", "x", "3"]}).write_parquet(lp.root / "pq" / "m.parquet")
    lp.collect()
    events = lp.load("events").sort("n")
    assert events.select("user", "n").rows() == [("u1", 1), ("u2", 2), ("u3", 3), ("u4", 4)]
    assert events["_origin"].to_list() == [
        "ev/day1/a.jsonl:1",
        "ev/day1/a.jsonl:2",
        "ev/b.jsonl:1",
        "ev/b.jsonl:4",
    ]
    bad = lp.load("events_quarantine").sort("_line")
    assert bad["_line"].to_list() == [2, 3]
    assert "invalid JSON" in bad["_reason"][0] and "not a JSON object" in bad["_reason"][1]
    assert lp.figures["events"]["rows_read"] == 6
    metrics = lp.load("metrics")
    assert metrics.schema["value"] == pl.Int64 and metrics["value"].to_list() == [1, 3]
    assert metrics["_origin"].to_list() == ["pq/m.parquet:1", "pq/m.parquet:3"]
    mq = lp.load("metrics_quarantine")
    assert mq["_line"].to_list() == [2] and json.loads(mq["_raw"][0]) == {"k": "b", "value": "x"}


def _oracle_batch(
    root: Path, files: list[str], run: Any, table: pl.DataFrame, previous: pl.DataFrame | None
) -> pl.DataFrame:
    """What the in-memory reader made of new CSV files (each read whole, concatenated with
    relaxed types), with the run's provenance."""
    read = [
        pl.read_csv(root / "data" / f, schema_overrides={"age": pl.Int64, "score": pl.String})
        .with_row_index("line", offset=2)
        .filter(pl.col("score").cast(pl.Float64, strict=False).is_not_null())  # n/a is quarantined
        .with_columns(pl.col("score").cast(pl.Int64 if f == "a.csv" else pl.Float64))
        for f in files
    ]
    origins = [f"data/{f}:{line}" for f, frame in zip(files, read, strict=True) for line in frame["line"]]
    frames = [frame.drop("line") for frame in read]
    mine = table.filter(pl.col("_run_id") == run.id)
    before = [pl.DataFrame(schema=previous.drop("^_.*$").schema)] if previous is not None else []
    return with_provenance(  # rows take the source's columns (null where a file lacks one)
        pl.concat([*before, *frames], how="diagonal_relaxed"),
        source="people",
        origins=pl.Series(origins, dtype=pl.String),
        collected_at=mine["_collected_at"][0],
        run_id=run.id,
    )


def test_streamed_collect_gives_the_in_memory_table_and_id(people: LocalProject) -> None:
    """Slices of 2 rows, ids grouped 3 at a time: every file and slice boundary is crossed."""
    people.declare(PEOPLE + "    evolve: [add_columns, missing_columns, widen]\n")
    data = people.root / "data"
    _csv(data / "a.csv", "id,name,age,score\n1,ann,30,1\n2,bob,41,2\n1,ann,30,1\n3,cy,25,3\n")
    _csv(data / "b.csv", "id,name,age,score,city\n2,bob,41,2.0,\n4,dee,52,4.5,Oslo\n5,eve,19,5.5,\n")
    rounds = [["a.csv", "b.csv"], ["c.csv"], ["d.csv"]]
    previous: pl.DataFrame | None = None
    with pytest.MonkeyPatch.context() as patch:
        for module in (files_source, merge):
            patch.setattr(module, "_SLICE", 2)
        patch.setattr(merge, "_IDS_PER_PASS", 3)
        for number, new in enumerate(rounds, start=1):
            if number == 2:  # a row seen before, and two new ones
                _csv(
                    data / "c.csv",
                    "id,name,age,score,city\n4,dee,52,4.5,Oslo\n6,fay,27,6.0,\n7,gus,33,7.5,Rome\n",
                )
            if number == 3:  # a new column, and a value that is not a number (quarantined)
                _csv(data / "d.csv", "id,name,age,score,zone\n8,hal,44,n/a,7\n9,ivy,38,9.0,\n")
            run = people.collect()
            table = people.load("people")
            expected, added = in_memory_merge(previous, _oracle_batch(people.root, new, run, table, previous))
            assert_frame_equal(table, expected)
            assert people.figures["people"]["added"] == added == (5, 2, 1)[number - 1]
            outputs = {k: v for step in run.steps for k, v in step.outputs.items()}
            assert outputs["people"] == hash_table(expected)
            previous = table
    assert previous is not None and previous.schema["score"] == pl.Float64 and "zone" in previous.columns
    assert people.load("people_quarantine")["_raw"].to_list() == ["8,hal,44,n/a,7"]
    assert not list((people.root / ".loopline" / "tmp").iterdir())  # each scratch folder removed


def test_overrides_are_cast_a_slice_at_a_time(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(
        '  events:\n    type: files\n    root: ev\n    glob: "*.jsonl"\n    schema: {v: Int64}\n'
        "    evolve: [add_columns]\n"
    )
    lines = ['{"k": "a", "v": "1"}', '{"k": "b", "v": "x"}', '{"k": "c", "v": "3"}', '{"k": "d", "v": "y"}']
    _csv(lp.root / "ev" / "a.jsonl", "\n".join([*lines, '{"k": "e", "v": "5"}']) + "\n")
    _csv(lp.root / "ev" / "b.jsonl", '{"k": "z", "v": "bad", "extra": 1}\n')  # no row passes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files_source, "_SLICE", 2)
        lp.collect()
    table = lp.load("events")
    assert table.select("k", "v").rows() == [("a", 1), ("c", 3), ("e", 5)]
    assert table["_origin"].to_list() == ["ev/a.jsonl:1", "ev/a.jsonl:3", "ev/a.jsonl:5"]
    assert "extra" not in table.columns  # a file whose every row was rejected adds no column
    bad = lp.load("events_quarantine")
    assert bad.select("_origin", "_line", "_raw").rows() == [
        ("ev/a.jsonl", 2, lines[1]),
        ("ev/a.jsonl", 4, lines[3]),
        ("ev/b.jsonl", 1, '{"k": "z", "v": "bad", "extra": 1}'),
    ]
    assert lp.figures["events"]["rows_read"] == 6 and lp.figures["events"]["rows_quarantined"] == 3


def _peak_rss_kb(cwd: Path) -> int:
    """Peak resident memory of one `loopline collect` process (its own, measured by a parent),
    with Polars on two threads (each thread holds morsels of its own: the bound is for two)."""
    code = (
        "import os, resource, subprocess, sys\n"
        f"subprocess.run([{str(BIN / 'loopline')!r}, 'collect'], check=True, capture_output=True,"
        " env={**os.environ, 'POLARS_MAX_THREADS': '2'})\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def _wide_csv(path: Path, rows: int) -> None:
    """A CSV of five columns, ~110 bytes a row (1.4 million rows: 150 MB)."""
    pl.select(id=pl.int_range(rows)).with_columns(
        name=pl.format("user-{}", pl.col("id")),
        age=pl.col("id") % 90,
        score=pl.col("id") * 0.5,
        note=pl.format(
            "row {} of the big file, a sentence long enough to make it wide: {}",
            pl.col("id"),
            pl.col("id") * 7,
        ),
    ).write_csv(path)
    assert path.stat().st_size > rows * 100


def test_big_csv_is_collected_in_bounded_memory(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(PEOPLE.replace("people", "big") + "    evolve: [add_columns]\n")
    _csv(lp.root / "data" / "a.csv", "id,name,age\n1,ann,30\n")
    baseline = _peak_rss_kb(lp.root)  # a first version of one row
    rows = 1_400_000
    _wide_csv(lp.root / "data" / "big.csv", rows)
    peak = _peak_rss_kb(lp.root)  # the big file read, merged with the first version
    assert lp.load("big").height == rows + 1
    # Read, identified and written a slice of rows at a time, the new version streamed from the
    # previous one and the slices: memory is a few slices, Polars' CSV read-ahead and one share
    # of the ids, whatever the file's size. Measured: ~155 MB above a one-row collect (held
    # whole, as before, this file took ~525 MB); narrower rows, 50 MB to 650 MB: flat.
    assert (peak - baseline) // 1024 < 300, (peak, baseline)


def test_big_malformed_csv_is_collected_in_bounded_memory(local_project) -> None:  # type: ignore[no-untyped-def]
    """One short row sends a 150 MB file down the careful path (Python's csv module, line by
    line): its good records stream through a scratch file, the bad one is quarantined."""
    lp = local_project(PEOPLE.replace("people", "big") + "    evolve: [add_columns]\n")
    _csv(lp.root / "data" / "a.csv", "id,name,age,score,note\n1,ann,30,0.5,hi\n")
    baseline = _peak_rss_kb(lp.root)
    rows = 1_400_000
    big = lp.root / "data" / "big.csv"
    _wide_csv(big, rows)
    with big.open("a") as fh:
        fh.write("7,short row\n")
    peak = _peak_rss_kb(lp.root)
    assert lp.load("big").height == rows + 1
    bad = lp.load("big_quarantine")
    assert bad.select("_origin", "_line").rows() == [("data/big.csv", rows + 2)]
    # Measured: ~175 MB above a one-row collect; holding the good records (as before): ~380 MB.
    assert (peak - baseline) // 1024 < 250, (peak, baseline)


def test_root_or_glob_with_dotdot_is_a_config_error_exit_2(tmp_path: Path, local_project) -> None:  # type: ignore[no-untyped-def]
    outside = _csv(tmp_path / "secret" / "s.csv", "a\n1\n")
    for decl in (
        '    type: files\n    root: ../secret\n    glob: "*.csv"\n',
        '    type: files\n    root: data\n    glob: "../../secret/*.csv"\n',
        f'    type: files\n    root: {outside.parent}\n    glob: "*.csv"\n',
    ):
        lp = local_project("  leak:\n" + decl)
        (lp.root / "data").mkdir(exist_ok=True)
        result = cli("collect", cwd=lp.root)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "loopline.yaml:3" in result.stderr and "leak" in result.stderr
        assert "Traceback" not in result.stderr
        assert json.loads(cli("runs", "--json", cwd=lp.root, check=True).stdout) == []


def test_symlink_escapes_are_refused(tmp_path: Path, local_project) -> None:  # type: ignore[no-untyped-def]
    secret = _csv(tmp_path / "secret" / "s.csv", "id,name,age\n99,secret,1\n")
    lp = local_project(PEOPLE.replace('"*.csv"', '"**/*.csv"'))
    _csv(lp.root / "data" / "ok.csv", "id,name,age\n1,ann,30\n")
    (lp.root / "data" / "link.csv").symlink_to(secret)  # a file leaving the root
    (lp.root / "data" / "dir").symlink_to(secret.parent, target_is_directory=True)  # a folder leaving it
    _csv(lp.root / "data" / "extra.txt", "id,name,age\n5,eve,5\n")
    (lp.root / "data" / "inside.csv").symlink_to(lp.root / "data" / "extra.txt")  # inside: fine
    lp.collect()
    table = lp.load("people")
    assert "secret" not in table["name"].to_list()
    assert set(table["_origin"]) == {"data/ok.csv:2", "data/inside.csv:2"}
    assert lp.figures["people"]["files_refused"] == 2
    refused = lp.load("people_quarantine")
    assert set(refused["_origin"]) == {"data/link.csv", "data/dir"}
    assert all(r.startswith("refused: symlink") for r in refused["_reason"])

    # a root that is itself a symlink out of the project: the declaration is refused
    lp2 = LocalProject(tmp_path / "p2")
    lp2.declare(PEOPLE)
    (lp2.root / "data").symlink_to(secret.parent, target_is_directory=True)
    result = cli("collect", cwd=lp2.root)
    assert result.returncode == 2 and "outside the project" in result.stderr


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        ('    type: files\n    root: nowhere\n    glob: "*.csv"\n', "does not exist"),
        ('    type: files\n    root: data\n    glob: "*.csv"\n    format: xml\n', "unknown format 'xml'"),
        ('    type: files\n    root: data\n    glob: "*.txt"\n', "cannot tell the format"),
        ("    type: files\n    root: data\n", "needs `glob`"),
        (
            '    type: files\n    root: data\n    glob: "*.csv"\n    schema: {a: Money}\n',
            "unknown type 'Money'",
        ),
        ('    type: files\n    root: data\n    glob: "*.csv"\n    sep: ";"\n', "unknown option 'sep'"),
    ],
)
def test_bad_declaration_exits_2_naming_the_line_before_reading(
    local_project,
    decl: str,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    lp = local_project("  first:\n    type: folder\n    root: data\n  broken:\n" + decl)
    _csv(lp.root / "data" / "a.csv", "a\n1\n")
    result = cli("collect", cwd=lp.root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "loopline.yaml:6" in result.stderr and message in result.stderr, result.stderr
    assert json.loads(cli("runs", "--json", cwd=lp.root, check=True).stdout) == []  # nothing ran


STEPS_PY = """
import polars as pl

def adults(table):
    return table.filter(pl.col("age") >= 18).select("id", "name", "age")
"""


def test_source_as_a_pipeline_input_is_a_cache_hit_when_nothing_arrived(local_project) -> None:  # type: ignore[no-untyped-def]
    lp = local_project(
        PEOPLE,
        steps=(
            "steps:\n  adults:\n    uses: steps:adults\n    inputs: {table: people}\n    outputs: [grown]\n"
        ),
        steps_py=STEPS_PY,
    )
    _csv(lp.root / "data" / "a.csv", "id,name,age\n1,ann,30\n2,kid,9\n")
    first = json.loads(cli("run", "--json", cwd=lp.root, check=True).stdout)
    assert [(s["name"], s["status"]) for s in first["steps"]] == [
        ("collect.people", "ran"),
        ("adults", "ran"),
    ]
    second = json.loads(cli("run", "--json", cwd=lp.root, check=True).stdout)
    assert {s["name"]: s["status"] for s in second["steps"]}["adults"] == "cached"
    _csv(lp.root / "data" / "b.csv", "id,name,age\n3,cy,44\n")
    third = json.loads(cli("run", "--json", cwd=lp.root, check=True).stdout)
    assert {s["name"]: s["status"] for s in third["steps"]}["adults"] == "ran"
    assert sorted(lp.load("grown")["name"]) == ["ann", "cy"]


# -- invariant: every record is kept or quarantined, never lost --------------------------------

_GOOD = st.tuples(st.integers(-(10**6), 10**6), st.text("abcxyz ,\"'", min_size=0, max_size=6))
_LINE = st.one_of(
    _GOOD.map(lambda g: ("good", g)),
    st.just(("short", None)),
    st.just(("long", None)),
    st.just(("notint", None)),
    st.just(("latin1", None)),
)


def _render(kind: str, good: tuple[int, str] | None) -> bytes:
    if kind == "good":
        assert good is not None
        text = good[1].replace('"', '""')
        return f'{good[0]},"{text}"\n'.encode()
    return {
        "short": b"7\n",
        "long": b"1,a,b\n",
        "notint": b"x1,a\n",
        "latin1": b"8,caf\xe9\n",
    }[kind]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=25))
def test_rows_in_equal_rows_kept_plus_quarantined(tmp_path: Path, lines: list[tuple[str, object]]) -> None:
    folder = tmp_path / f"h{abs(hash(tuple(map(str, lines))))}"
    _csv(folder / "f.csv", b"n,s\n" + b"".join(_render(k, g) for k, g in lines))  # type: ignore[arg-type]
    (folder / "loopline.yaml").write_text("")
    spec = parse_source(
        "h", {"type": "files", "glob": "*.csv", "schema": {"n": "Int64"}}, f"{folder / 'loopline.yaml'}:1"
    )
    ctx = CollectContext(folder, {}, None, None, "run", datetime.now(UTC), scratch=folder / "scratch")  # type: ignore[arg-type]
    batch = files_source.read(spec, ctx)
    table = batch.table.scan().collect() if isinstance(batch.table, TableFile) else batch.table
    assert table is not None
    rejected = batch.quarantine.height if batch.quarantine is not None else 0
    assert batch.report["rows_read"] == len(lines) == table.height + rejected
    assert rejected == sum(1 for k, _ in lines if k != "good")
    if table.height:
        assert table["n"].to_list() == [g[0] for k, g in lines if k == "good"]


def test_validate_refuses_without_a_project_file() -> None:
    with pytest.raises(ConfigError, match="outside the project"):
        parse_source("x", {"type": "files", "root": "../up", "glob": "*.csv"})
    with pytest.raises(ConfigError, match="leaves the root"):
        parse_source("x", {"type": "files", "root": "a", "glob": "b/../../c.csv"})
