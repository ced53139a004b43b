"""SQL source (`type: sql`): the rows of a query or a table on any SQLAlchemy URL, read in
batches, incremental by a watermark column.

SQLAlchemy is imported here although storage libraries live in store/: the database read is the
user's, not loopline's own store, and .importlinter exempts this one module by name (the
`storage-libraries` contract). Keeping the reading beside the Batch it builds keeps one source in
one module, as the other readers are.

Incremental reads: with `watermark: updated_at`, a collection reads only the rows whose
watermark is at or after the largest value saved by the last successful collection, through a
bound parameter (`SELECT * FROM (query) AS q WHERE q.updated_at >= :wm ORDER BY q.updated_at`).
`>=` rather than `>` re-reads the boundary rows so that a row written later with the same
watermark value is not missed; the item ids drop the ones already collected.

Updated rows: an item is identified by its declared `key`, or else by its whole content. So
without a key a row updated in place (new watermark, changed values) is a new item and the old
one stays in the dataset's history; with a key it is the same item and is not collected again.

Secrets: a URL with a password belongs in an environment variable named by `url_env`; it is
read at collect time and never recorded (the step params hold only the variable's name), and
a password is refused in `url`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from loopline.collect import Batch, CollectContext
from loopline.collect.merge import unseen, with_provenance
from loopline.collect.spec import SourceSpec
from loopline.core.errors import InvalidInput, StorageError

OPTIONS = {"url", "url_env", "query", "table", "watermark", "batch_size"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class SqlRows:
    """What one read found: the rows, one origin per row, the new state and figures."""

    frame: pl.DataFrame
    origins: list[str]
    state: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def validate(spec: SourceSpec) -> None:
    """The declaration alone (no connection): exactly one of url/url_env and of query/table."""
    unknown = sorted(set(spec.options) - OPTIONS)
    if unknown:
        raise spec.fail(f"unknown option `{unknown[0]}`", hint=f"options are {', '.join(sorted(OPTIONS))}")
    url, url_env = spec.option("url"), spec.option("url_env")
    if (url is None) == (url_env is None):
        raise spec.fail(
            "give exactly one of `url` and `url_env`",
            hint="url: sqlite:///data.db, or url_env: DATABASE_URL to keep credentials out of loopline.yaml",
        )
    if url is not None:
        try:
            parsed = make_url(str(url))
        except sa.exc.ArgumentError:
            raise spec.fail(
                "`url` is not a SQLAlchemy URL", hint="e.g. postgresql+psycopg://host/db"
            ) from None
        if parsed.password:
            raise spec.fail(
                "`url` holds a password, and loopline.yaml must not",
                hint="export the URL in an environment variable and name it: url_env: DATABASE_URL",
            )
    elif not isinstance(url_env, str) or not _ENV.match(url_env):
        raise spec.fail("`url_env` must name an environment variable", hint="url_env: DATABASE_URL")
    query, table = spec.option("query"), spec.option("table")
    if (query is None) == (table is None):
        raise spec.fail("give exactly one of `query` and `table`", hint="table: orders, or query: SELECT ...")
    if query is not None:
        text = str(query).strip().rstrip(";").strip()
        if not re.match(r"(?is)^(select|with)\b", text) or ";" in text:
            raise spec.fail(
                "`query` must be one SELECT statement", hint="e.g. query: SELECT id, total FROM orders"
            )
    if table is not None and not (isinstance(table, str) and all(_NAME.match(p) for p in table.split("."))):
        raise spec.fail(
            f"`table` {table!r} is not a table name", hint="e.g. table: orders or table: sales.orders"
        )
    mark = spec.option("watermark")
    if mark is not None and not (isinstance(mark, str) and _NAME.match(mark)):
        raise spec.fail("`watermark` must be a column name", hint="e.g. watermark: updated_at")
    size = spec.option("batch_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise spec.fail("`batch_size` must be a whole number above 0", hint="e.g. batch_size: 10000")


def _url(spec: SourceSpec, root: Path) -> sa.URL:
    name = spec.option("url_env")
    if name is not None:
        raw = os.environ.get(name)
        if not raw:
            raise InvalidInput(
                f"source {spec.name!r}: the environment variable {name} is not set",
                hint=f"export {name}=<SQLAlchemy URL> before collecting (it is never stored)",
            )
        try:
            url = make_url(raw)
        except sa.exc.ArgumentError:
            raise InvalidInput(
                f"source {spec.name!r}: ${name} does not hold a SQLAlchemy URL", hint="e.g. sqlite:///data.db"
            ) from None
    else:
        url = make_url(spec.option("url"))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute() and not url.database.startswith("file:"):
            url = url.set(database=str(root / path))  # relative to the project, not to the shell
    return url


def _statement(spec: SourceSpec, dialect: sa.Dialect, mark_value: Any) -> tuple[str, dict[str, Any]]:
    quote = dialect.identifier_preparer.quote
    table = spec.option("table")
    base = (
        f"SELECT * FROM {'.'.join(quote(p) for p in table.split('.'))}"
        if table
        else str(spec.option("query")).strip().rstrip(";").strip()
    )
    mark = spec.option("watermark")
    if not mark:
        return base, {}
    column = f"q.{quote(mark)}"
    where = f" WHERE {column} >= :loopline_watermark" if mark_value is not None else ""
    params = {"loopline_watermark": mark_value} if mark_value is not None else {}
    return f"SELECT * FROM ({base}) AS q{where} ORDER BY {column}", params


def _encode(value: Any) -> dict[str, Any]:
    """A watermark as JSON state, with its type so the next read binds the same type."""
    for kind, cls in (("datetime", datetime), ("date", date)):
        if isinstance(value, cls):
            return {"watermark": value.isoformat(), "watermark_type": kind}
    if isinstance(value, Decimal):
        return {"watermark": str(value), "watermark_type": "decimal"}
    if isinstance(value, bytes):
        return {"watermark": value.hex(), "watermark_type": "bytes"}
    return {"watermark": value}


def _decode(state: dict[str, Any]) -> Any:
    value, kind = state.get("watermark"), state.get("watermark_type")
    if value is None:
        return None
    decoders: dict[str, Callable[[str], Any]] = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "decimal": Decimal,
        "bytes": bytes.fromhex,
    }
    decode = decoders.get(kind or "")
    return decode(value) if decode else value


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    try:
        return max(a, b)
    except TypeError:
        return max(a, b, key=str)


def _column(name: str, values: list[Any]) -> pl.Series:
    """A column as the database typed it; a column mixing types (SQLite allows it) as text."""
    try:
        return pl.Series(name, values)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def read(spec: SourceSpec, ctx: CollectContext) -> Batch:
    rows = _read_rows(spec, root=ctx.root, state=ctx.state)
    table = with_provenance(
        rows.frame,
        source=spec.name,
        origins=pl.Series(rows.origins, dtype=pl.String),
        collected_at=ctx.collected_at,
        run_id=ctx.run_id,
        key=spec.key,
    )
    return Batch(table=table, state=rows.state, report={**rows.report, "new": unseen(table, ctx.previous)})


def _read_rows(spec: SourceSpec, *, root: Path, state: dict[str, Any]) -> SqlRows:
    url = _url(spec, root)
    secrets = [s for s in (url.password, os.environ.get(spec.option("url_env") or "")) if s]

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(str(secret), "***")
        return text

    label = spec.option("table") or "query"
    mark = spec.option("watermark")
    previous = _decode(state)
    size = int(spec.option("batch_size") or 10_000)
    frames: list[pl.DataFrame] = []
    origins: list[str] = []
    watermark = previous
    batches = 0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            sql, params = _statement(spec, conn.dialect, previous)
            result = conn.execution_options(stream_results=True, yield_per=size).execute(sa.text(sql), params)
            columns = list(map(str, result.keys()))
            _check_columns(spec, columns)
            for chunk in result.partitions(size):
                batches += 1
                values = list(zip(*chunk, strict=True))
                frame = pl.DataFrame([_column(c, list(v)) for c, v in zip(columns, values, strict=True)])
                top = frame[mark].max() if mark else None
                if top is not None:
                    watermark = _later(watermark, top)
                origins.extend(_origins(spec, label, frame, len(origins)))
                frames.append(frame)
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(
            scrub(f"source {spec.name!r}: the database refused to read {label!r}: {detail}"),
            hint=f"check `{'table' if spec.option('table') else 'query'}`"
            + (f" and `watermark: {mark}`" if mark else "")
            + f" of source {spec.name!r}; the previous version stays current",
        ) from exc
    finally:
        engine.dispose()
    if frames:
        frame = pl.concat(frames, how="vertical_relaxed")
    else:
        frame = pl.DataFrame({c: pl.Series(c, [], dtype=pl.String) for c in columns})
    new_state = _encode(watermark) if mark and watermark is not None else {}
    report = {"rows": frame.height, "batches": batches}
    return SqlRows(frame, origins, new_state, report)


def _check_columns(spec: SourceSpec, columns: list[str]) -> None:
    doubles = sorted({c for c in columns if columns.count(c) > 1})
    if doubles:
        raise InvalidInput(
            f"source {spec.name!r}: the result has two columns named {doubles[0]!r}",
            hint="give them distinct names with AS in the query",
        )
    missing = [k for k in spec.key if k not in columns]
    if missing:
        raise InvalidInput(
            f"source {spec.name!r}: key column {missing[0]!r} is not in the result",
            hint=f"columns are {', '.join(columns)}",
        )


def _origins(spec: SourceSpec, label: str, frame: pl.DataFrame, offset: int) -> list[str]:
    if spec.key:
        keys = frame.select(list(spec.key)).rows()
        return [
            f"{label}#" + ",".join(f"{k}={v}" for k, v in zip(spec.key, row, strict=True)) for row in keys
        ]
    return [f"{label}#row {offset + i}" for i in range(1, frame.height + 1)]
