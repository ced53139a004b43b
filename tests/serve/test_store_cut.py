"""Predictions are never lost: PostgreSQL is cut (through a proxy the test controls) while clients
keep posting; the writer spools to disk, writes the spool when the store is back, and a spool
left by a stopped server is written by the next one. Every request id lands exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopline.project import Project
from tests.conftest import PG_URL, _postgres_schema_url
from tests.serve.conftest import Load, register, running, wait_for
from tests.serve.tcp_proxy import TcpProxy

pytestmark = pytest.mark.skipif(not PG_URL, reason="LOOPLINE_TEST_DATABASE_URL is not set")


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Project, TcpProxy]]:
    assert PG_URL is not None
    for url in _postgres_schema_url(PG_URL):
        parsed = sa.make_url(url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxy.start()
        through = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        root = tmp_path / "p"
        root.mkdir()
        (root / "loopline.yaml").write_text(f"project:\n  store: '{through}'\nsteps: {{}}\n")
        project = Project.init(root)
        register(project, "iris", 1.0)
        project.promote("iris", 1, "production")
        try:
            yield project, proxy
        finally:
            proxy.restore()
            project.close()
            proxy.close()


def spooled(project: Project) -> list[Path]:
    return sorted((project.root / ".loopline" / "spool" / "predictions" / "iris").glob("*.json"))


def test_store_cut_under_load_loses_no_prediction_and_writes_none_twice(proxied):
    project, proxy = proxied
    app = project.serving_app("iris", poll_seconds=0.2, flush_seconds=0.05, auth=False)
    recorder = app.state.recorder
    with running(app) as url, Load(url) as load:
        load.wait(lambda a: len(a) >= 30, "load before the cut")
        proxy.cut()
        wait_for(lambda: recorder.stats.spooled_rows > 0, what="batches spooled while the store is cut")
        count = len(load.answers)
        load.wait(lambda a: len(a) >= count + 100, "load during the cut")
        assert spooled(project)
        proxy.restore()
        wait_for(lambda: recorder.stats.spooled_rows == 0 and not spooled(project), what="the spool written")
        count = len(load.answers)
        load.wait(lambda a: len(a) >= count + 30, "load after the cut")
        proxy.cut()  # and stop the server while the store is away: the spool stays on disk
        count = len(load.answers)
        load.wait(lambda a: len(a) >= count + 30, "load during the second cut")
    assert load.failures == [] and {s for s, _, _ in load.answers} == {200}
    assert spooled(project) and recorder.stats.failures > 0
    proxy.restore()
    answered = {rid for _, rid, _ in load.answers}
    assert len(answered) == len(load.answers)
    before = project.predictions.read("iris")
    assert before.height < len(answered)  # the last rows wait on disk

    again = project.serving_app("iris", flush_seconds=0.05, auth=False)  # the next server writes the spool
    with running(again):
        wait_for(lambda: not spooled(project), what="the next server to write the old spool")
    logged = project.predictions.read("iris")
    assert logged.height == len(answered)
    assert set(logged["request_id"]) == answered
