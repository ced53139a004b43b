"""The route x role matrix of an app, generated from its routes: one request per route and per
role (and without credentials), the expected answer read from the app's rule table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from loopline.core.identity import ROLES, Principal
from loopline.serve.access import Key, Rule, routes_of

NOBODY = "nobody"  # no credentials
COLUMNS = (*ROLES, NOBODY)
PARAMS = {
    "project": "reviews",
    "task_id": "1",
    "digest": "0" * 64,
    "report_id": "r1",
    "model_id": "m-1",
    "artifact_path": "1/run1/artifacts/model.pkl",
    "rest": "nope",
    "name": "m",
    "version": "1",
    "run_id": "r-1",
    "env_id": "e-1",
    "dataset": "reviews",
    "key": "loss",
    "request_id": "req-1",
    "model": "m",
    "ref": "reviews",
    "tag_key": "k",
    "upload_id": "0" * 32,
    "part_number": "1",
}


@dataclass(frozen=True)
class Cell:
    key: Key
    column: str
    status: int
    allowed: bool

    def __str__(self) -> str:
        wanted = "allowed" if self.allowed else "refused"
        return f"{self.key[0]} {self.key[1]} as {self.column}: {self.status}, the table says {wanted}"


def allowed(rule: Rule, column: str) -> bool:
    if not rule.signed_in:
        return True
    if column == NOBODY:
        return False
    principal = Principal(name=column, role=column)  # type: ignore[arg-type]
    if rule.approver and not principal.can_approve:
        return False
    if rule.resource is None or rule.level is None:
        return True
    return principal.allows(rule.resource, rule.level)


def url_of(key: Key) -> str:
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m[1]], key[1])
    return path + "/app.css" if key[0] == "*" else path


def refused(response: Any) -> bool:
    """401/403, or a page's redirect to the sign-in page."""
    to_sign_in = response.status_code == 303 and response.headers.get("location") == "/signin"
    return response.status_code in (401, 403) or to_sign_in


def run_matrix(
    client: TestClient,
    rules: Mapping[Key, Rule],
    tokens: Mapping[str, str],
    bodies: Mapping[Key, Any],
    cells: list[tuple[Key, str]],
) -> list[Cell]:
    """Send each cell's request; return the cells whose answer is not what the table says."""
    wrong = []
    for key, column in cells:
        rule = rules.get(key)
        expected = rule is not None and allowed(rule, column)
        headers = {} if column == NOBODY else {"Authorization": f"Bearer {tokens[column]}"}
        method = "GET" if key[0] == "*" else key[0]
        body = bodies.get(key)
        content = body if isinstance(body, bytes) else None
        json = None if isinstance(body, bytes) else body
        if body is None and method in ("POST", "PUT", "PATCH"):
            json = {}
        response = client.request(method, url_of(key), headers=headers, json=json, content=content)
        public = rule is not None and not rule.signed_in  # the handler's own answer: any but 5xx
        if (refused(response) == expected and not public) or response.status_code >= 500:
            wrong.append(Cell(key, column, response.status_code, expected))
    return wrong


def unlisted(app: Any, rules: Mapping[Key, Rule]) -> list[Key]:
    """Routes of app that the table does not list (each makes the matrix test fail)."""
    return [key for key, _ in routes_of(app.routes) if key not in rules]


def cells_of(app: Any, rules: Mapping[Key, Rule]) -> tuple[list[tuple[Key, str]], list[tuple[Key, str]]]:
    """(refused cells, allowed cells) of every route of app, as the table has it."""
    keys = [key for key, _ in routes_of(app.routes)]
    every = [(key, column) for key in keys for column in COLUMNS]
    no = [c for c in every if not (c[0] in rules and allowed(rules[c[0]], c[1]))]
    return no, [c for c in every if c not in no]


def snapshot(engine: sa.Engine, root: Path) -> dict[str, Any]:
    """Every row of every table, and every file under root but the database's own."""
    tables: dict[str, Any] = {}
    with engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{name}"')).all()
            tables[name] = sorted(repr(tuple(row)) for row in rows)
    files = sorted(
        (str(p.relative_to(root)), p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file() and not re.search(r"\.db(-wal|-shm|-journal)?$", p.name)
    )
    return {"tables": tables, "files": files}
