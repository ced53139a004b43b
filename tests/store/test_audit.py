"""The audit log on SQLite and PostgreSQL: an event per write in the write's own transaction,
one unforked chain under concurrent writers, who acted from the current principal, and every
kind of tampering done directly in SQL caught by verify, naming the event."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loopline.core.audit import GENESIS, event_hash, verify_events
from loopline.core.errors import InvalidInput
from loopline.core.hashing import hash_text
from loopline.core.identity import Principal, acting
from loopline.core.types import Artifact
from loopline.store.metadata import MetadataStore
from loopline.store.metadata.audit import AuditLog, append
from loopline.store.metadata.database import Change
from loopline.store.metadata.engine import normalize_url


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(store_url, actor="alice", journal=append)
    yield opened
    opened.close()


def artifact(n: int) -> Artifact:
    return Artifact(id=hash_text(f"art {n}"), kind="table", blob=hash_text(f"blob {n}"), size=10 + n)


def add(store: MetadataStore, count: int) -> None:
    for n in range(count):
        store.add_version("iris", artifact(n), source="iris.csv")


def sql(store: MetadataStore, statement: str) -> None:
    """Tamper with the rows directly, as someone with the database's password would."""
    engine = sa.create_engine(normalize_url(store.url))
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def test_each_write_appends_one_linked_event(store: MetadataStore):
    add(store, 3)
    log = AuditLog(store)
    events = sorted(log.events(), key=lambda e: e.seq)
    assert [e.seq for e in events] == [1, 2, 3]
    assert [(e.actor, e.auth, e.action, e.object) for e in events] == [
        ("alice", "local", "dataset.add_version", f"iris@{n}") for n in (1, 2, 3)
    ]
    assert json.loads(events[0].after or "") == {"artifact": artifact(0).id, "version": 1}
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert all(e.hash == event_hash(e.to_json()) for e in events)
    checked = log.verify()
    assert checked.broken is None and checked.events == 3
    assert checked.head == log.head() and log.head() is not None and log.head().seq == 3


def test_a_change_and_its_event_commit_or_roll_back_together(store: MetadataStore):
    def fails(conn: sa.Connection) -> None:
        store.database.journal(conn, Change("alice", "dataset.add_version", "x"))  # type: ignore[misc]
        raise InvalidInput("the work fails after the event was appended")

    with pytest.raises(InvalidInput):
        store.database.write(fails, Change("alice", "never", "x"))
    assert AuditLog(store).events() == []

    def broken_journal(conn: sa.Connection, change: Change) -> None:
        append(conn, change)
        raise InvalidInput("the journal fails after appending")

    store.database.journal = broken_journal
    with pytest.raises(InvalidInput):
        store.add_version("iris", artifact(1), source="iris.csv")
    store.database.journal = append
    assert store.versions("iris") == [] and AuditLog(store).events() == []
    add(store, 1)
    assert [e.seq for e in AuditLog(store).events()] == [1]


def test_the_acting_principal_is_the_actor(store: MetadataStore):
    bob = Principal("bob", "scientist", auth="token", request_id="req-7")
    with acting(bob):
        store.add_version("iris", artifact(1), source="iris.csv")
    store.database.record(store.database.change("labeling.export", "p", after={"answers": 3}))
    newest, first = AuditLog(store).events()
    assert (first.actor, first.auth, first.request_id) == ("bob", "token", "req-7")
    assert (newest.actor, newest.auth, newest.action, newest.after) == (
        "alice",
        "local",
        "labeling.export",
        '{"answers":3}',
    )
    assert [e.seq for e in AuditLog(store).events(actor="bob")] == [1]
    assert [e.seq for e in AuditLog(store).events(object="iris")] == [1]
    assert AuditLog(store).events(object="ir") == []
    assert [e.seq for e in AuditLog(store).events(limit=1)] == [2]


def test_concurrent_writers_never_fork_the_chain(store: MetadataStore):
    threads, each = 6, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            start.wait()
            for n in range(each):
                store.add_version(f"d{t}", artifact(100 * t + n), source="x")
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors
    checked = AuditLog(store).verify()
    assert checked.broken is None and checked.events == threads * each


def test_an_export_verifies_offline(store: MetadataStore, tmp_path):
    add(store, 4)
    path = tmp_path / "audit.jsonl"
    with path.open("w", encoding="utf-8") as out:
        assert AuditLog(store).export(out) == 4
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    head, broken = verify_events(lines)
    assert broken is None and head is not None and head.seq == 4
    assert verify_events(lines, f"{head.seq}:{head.hash}")[1] is None
    assert verify_events(lines[:2], f"{head.seq}:{head.hash}")[1].seq == 3  # type: ignore[union-attr]
    lines[1]["actor"] = "mallory"
    assert verify_events(lines)[1].seq == 2  # type: ignore[union-attr]


# Each tampering, done in SQL on 5 events, and the event verify must name.
TAMPERING = {
    "update": (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"], 3),
    "update and rehash": (["UPDATE audit_events SET object = 'x', hash = '{rehashed}' WHERE seq = 3"], 4),
    "delete": (["DELETE FROM audit_events WHERE seq = 2"], 2),
    "insert": (
        [
            "INSERT INTO audit_events (seq, at, actor, auth, action, object, prev_hash, hash) "
            "VALUES (6, '2030-01-01T00:00:00+00:00', 'mallory', 'local', 'model.promote', 'x', "
            "'{h}', '{h}')"
        ],
        6,
    ),
    "swap": (
        [
            "UPDATE audit_events SET seq = 100 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 100",
        ],
        2,
    ),
    "truncate": (["DELETE FROM audit_events WHERE seq >= 4"], 4),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_verify_names_the_first_broken_link(store: MetadataStore, tampering: str):
    add(store, 5)
    log = AuditLog(store)
    kept = log.head()
    assert kept is not None and log.verify().broken is None
    statements, seq = TAMPERING[tampering]
    third = next(e for e in log.events() if e.seq == 3).to_json() | {"object": "x"}
    for statement in statements:
        sql(store, statement.format(h="f" * 64, rehashed=event_hash(third)))
    broken = log.verify().broken
    assert broken is not None and broken.seq == seq, broken
    with_head = log.verify(f"{kept.seq}:{kept.hash}").broken
    assert with_head is not None and with_head.seq == seq


def test_a_tail_cut_with_its_head_row_is_caught_against_the_kept_head(store: MetadataStore):
    add(store, 5)
    log = AuditLog(store)
    kept = log.head()
    assert kept is not None
    keep = {e.seq: e.hash for e in log.events()}
    sql(store, "DELETE FROM audit_events WHERE seq >= 4")
    sql(store, f"UPDATE audit_head SET seq = 3, hash = '{keep[3]}'")  # the head row rewritten too
    assert log.verify().broken is None, "without a kept head a clean cut looks like a shorter log"
    broken = log.verify(f"{kept.seq}:{kept.hash}").broken
    assert broken is not None and broken.seq == 4 and "tail was cut" in broken.problem
    assert log.verify(kept.hash).broken is not None, "a bare hash is checked too"
