"""The SQL source on a SQLite file and (when LOOPLINE_TEST_DATABASE_URL is set) on PostgreSQL in
a fresh schema: watermark increments, batches, keys and updated rows, the URL kept secret, and
bad SQL failing the collection while the previous version stays current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from loopline.collect import parse_source
from loopline.core.errors import ConfigError
from loopline.project import Project
from tests.conftest import cli, write_project

ROWS = [
    (1, "ada", 12.5, "2026-01-01 10:00:00"),
    (2, "bob", 7.0, "2026-01-02 10:00:00"),
    (3, "cy", 30.0, "2026-01-03 10:00:00"),
]


def insert(url: str, rows: list[tuple[Any, ...]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for row in rows:
            conn.execute(
                sa.text("INSERT INTO orders VALUES (:id, :customer, :total, :at)"),
                dict(zip(("id", "customer", "total", "at"), row, strict=True)),
            )
    engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


@pytest.fixture
def db(store_url: str) -> Iterator[str]:
    """A source database holding `orders`: a SQLite file, or a fresh PostgreSQL schema."""
    execute(
        store_url,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer VARCHAR(20), total DOUBLE PRECISION, "
        "updated_at TIMESTAMP)",
    )
    insert(store_url, ROWS)
    yield store_url


class Proj:
    def __init__(self, root: Path, sources: str) -> None:
        self.root = root
        write_project(root, "sources:\n" + sources)
        Project.init(root).close()

    def collect(self) -> dict[str, float]:
        project = Project.open(self.root)
        try:
            run = project.collect([])
            assert run.status == "succeeded", [s.error for s in run.steps]
            return {m["key"]: m["value"] for m in project.metrics(run.id)}
        finally:
            project.close()

    def failed(self) -> str:
        project = Project.open(self.root)
        try:
            run = project.collect([])
            assert run.status == "failed"
            return run.steps[0].error or ""
        finally:
            project.close()

    def load(self, ref: str = "orders") -> pl.DataFrame:
        project = Project.open(self.root)
        try:
            return project.load(ref)
        finally:
            project.close()

    def versions(self) -> int:
        project = Project.open(self.root)
        try:
            return len(project.versions("orders"))
        finally:
            project.close()

    def state(self) -> dict[str, Any]:
        project = Project.open(self.root)
        try:
            return project.meta.source_state("orders")
        finally:
            project.close()


def source(url: str, extra: str = "") -> str:
    return f"  orders:\n    type: sql\n    url: '{url}'\n    table: orders\n{extra}"


def test_watermark_reads_only_new_rows_and_updated_rows_become_new_items(db: str, tmp_path: Path) -> None:
    proj = Proj(tmp_path / "proj", source(db, "    watermark: updated_at\n"))
    first = proj.collect()
    assert (first["rows"], first["added"], first["items"]) == (3, 3, 3)
    frame = proj.load()
    assert frame["id"].to_list() == [1, 2, 3] and frame["total"].to_list() == [12.5, 7.0, 30.0]
    assert frame["_origin"].to_list() == ["orders#row 1", "orders#row 2", "orders#row 3"]
    assert proj.state()["watermark"].startswith("2026-01-03")
    # nothing new: only the boundary row is read again, and no version is added
    again = proj.collect()
    assert (again["rows"], again["added"], again["new"]) == (1, 0, 0) and proj.versions() == 1
    # two new rows and one row updated in place (no key: its new content is a new item)
    insert(db, [(4, "dee", 1.0, "2026-01-04 10:00:00"), (5, "eve", 2.0, "2026-01-05 10:00:00")])
    execute(db, "UPDATE orders SET total = 13.5, updated_at = '2026-01-06 10:00:00' WHERE id = 1")
    third = proj.collect()
    assert (third["rows"], third["added"], third["items"]) == (4, 3, 6) and proj.versions() == 2
    assert proj.load()["id"].to_list() == [1, 2, 3, 4, 5, 1]
    assert proj.load("orders@1").height == 3  # the first version is unchanged
    assert proj.state()["watermark"].startswith("2026-01-06")


def test_a_key_makes_an_updated_row_the_same_item(db: str, tmp_path: Path) -> None:
    proj = Proj(tmp_path / "proj", source(db, "    key: [id]\n    watermark: updated_at\n"))
    proj.collect()
    assert proj.load()["_origin"].to_list() == ["orders#id=1", "orders#id=2", "orders#id=3"]
    execute(db, "UPDATE orders SET total = 99.0, updated_at = '2026-01-09 10:00:00' WHERE id = 2")
    figures = proj.collect()
    assert (figures["rows"], figures["added"]) == (2, 0) and proj.versions() == 1  # row 2 and the boundary
    assert proj.load()["total"].to_list() == [12.5, 7.0, 30.0]


def test_query_is_streamed_in_batches(db: str, tmp_path: Path) -> None:
    insert(db, [(i, f"c{i}", float(i), "2026-02-01 00:00:00") for i in range(10, 20)])
    query = "SELECT id, total FROM orders WHERE total >= 10;"
    decl = f"  orders:\n    type: sql\n    url: '{db}'\n    query: {query}\n"
    proj = Proj(tmp_path / "proj", decl + "    batch_size: 4\n")
    figures = proj.collect()
    assert figures["rows"] == 12 and figures["batches"] == 3  # 12 rows, 4 at a time
    assert sorted(proj.load()["id"].to_list()) == [1, 3, *range(10, 20)]
    assert proj.load().columns[:2] == ["id", "total"]


def test_relative_sqlite_path_is_relative_to_the_project(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    url = f"sqlite:///{root / 'shop.db'}"
    execute(url, "CREATE TABLE orders (id INTEGER, customer TEXT, total REAL, updated_at TEXT)")
    insert(url, ROWS[:2])
    proj = Proj(root, source("sqlite:///shop.db"))
    assert proj.collect()["added"] == 2


def test_sql_errors_fail_the_collection_and_keep_the_previous_version(db: str, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_project(root, "sources:\n" + source(db, "    watermark: updated_at\n"))
    cli("init", cwd=root, check=True)
    cli("collect", cwd=root, check=True)
    execute(db, "DROP TABLE orders")
    gone = cli("collect", cwd=root)
    assert gone.returncode == 1
    assert "source 'orders': the database refused to read 'orders'" in gone.stdout
    assert "check `table` and `watermark: updated_at`" in gone.stdout
    versions = json.loads(cli("datasets", "--json", cwd=root, check=True).stdout)
    assert [(d["name"], d["version"], d["rows"]) for d in versions if d["name"] == "orders"] == [
        ("orders", 1, 3)
    ]
    # bad SQL that looks like a SELECT passes the declaration check and fails at collect time
    write_project(
        root, f"sources:\n  orders:\n    type: sql\n    url: '{db}'\n    query: SELECT FROM WHERE\n"
    )
    bad = cli("collect", "--json", cwd=root)
    assert bad.returncode == 1
    (step,) = json.loads(bad.stdout)["steps"]
    assert step["status"] == "failed" and "refused to read 'query'" in step["error"]
    assert (
        json.loads(cli("lineage", "orders", "--json", cwd=root, check=True).stdout)["artifact"]["version"]
        == 1
    )


def test_url_env_keeps_the_url_secret(db: str, tmp_path: Path) -> None:
    if db.startswith("postgresql"):
        secret = "pw-Zq81-never-stored"  # PostgreSQL here trusts local connections: any password works
        url = db.replace("postgres@", f"postgres:{secret}@", 1)
    else:
        secret = str(Path(db.removeprefix("sqlite:///")).parent)
        url = db
    root = tmp_path / "proj"
    decl = "sources:\n  orders:\n    type: sql\n    url_env: SHOP_DB\n    table: orders\n    key: [id]\n"
    write_project(root, decl)
    cli("init", cwd=root, check=True)
    env = {"SHOP_DB": url}
    ran = cli("collect", "--json", cwd=root, env=env, check=True)
    run_id = json.loads(ran.stdout)["run_id"]
    shown = cli("show", run_id, "--json", cwd=root, check=True)
    assert "SHOP_DB" in shown.stdout
    lineage = cli("lineage", "orders", cwd=root, check=True)
    assert "made by step collect.orders" in lineage.stdout
    again = cli("collect", cwd=root, env=env, check=True)
    assert "0 new item(s), 3 in all" in again.stdout
    unset = cli("collect", cwd=root, env={"SHOP_DB": ""})
    assert unset.returncode == 1 and "SHOP_DB is not set" in unset.stdout
    outputs = "".join(r.stdout + r.stderr for r in (ran, shown, lineage, again, unset))
    assert secret not in outputs
    leaked = [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        ({"table": "orders"}, "exactly one of `url` and `url_env`"),
        ({"url": "sqlite:///a.db", "url_env": "X", "table": "t"}, "exactly one of `url` and `url_env`"),
        ({"url": "postgresql://u:hunter2@h/db", "table": "t"}, "holds a password"),
        ({"url": "not a url", "table": "t"}, "not a SQLAlchemy URL"),
        ({"url_env": "1BAD", "table": "t"}, "`url_env` must name"),
        ({"url": "sqlite:///a.db"}, "exactly one of `query` and `table`"),
        ({"url": "sqlite:///a.db", "query": "DELETE FROM t"}, "one SELECT"),
        ({"url": "sqlite:///a.db", "query": "SELECT 1; DROP TABLE t"}, "one SELECT"),
        ({"url": "sqlite:///a.db", "table": "t; DROP TABLE t"}, "not a table name"),
        ({"url": "sqlite:///a.db", "table": "t", "watermark": "a b"}, "column name"),
        ({"url": "sqlite:///a.db", "table": "t", "batch_size": 0}, "batch_size"),
        ({"url": "sqlite:///a.db", "table": "t", "password": "x"}, "unknown option `password`"),
    ],
)
def test_bad_declarations_are_config_errors(decl: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_source("orders", {"type": "sql", **decl})
    assert "'orders'" in str(info.value) and "hunter2" not in str(info.value)


def test_cli_bad_declaration_exits_2_before_reading(tmp_path: Path) -> None:
    write_project(
        tmp_path, "sources:\n  orders:\n    type: sql\n    url: sqlite:///x.db\n    query: DROP TABLE t\n"
    )
    result = cli("collect", cwd=tmp_path)
    assert result.returncode == 2 and "`query` must be one SELECT statement" in result.stdout + result.stderr
    assert not (tmp_path / "x.db").exists()
