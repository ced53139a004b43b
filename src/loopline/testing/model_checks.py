"""Checks of the stores about models: the registry, the prediction log's index, monitoring and the
MLflow-compatible API's file index."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from loopline.core.errors import Conflict, InvalidInput, NotFound
from loopline.core.hashing import hash_text
from loopline.testing.expect import raises
from loopline.testing.samples import T0, artifact, run

if TYPE_CHECKING:
    from loopline.store.contracts import RegistryRepository
    from loopline.store.metadata.predictions import BatchRow
    from loopline.store.metadata.registry import ModelEvent, ModelVersion
    from loopline.testing.stores import MetadataStores

NOUN = "models"


def _models(s: MetadataStores, count: int) -> list[str]:
    """Ids of `count` stored model artifacts."""
    ids = []
    for n in range(count):
        model = artifact(f"model {n}", kind="model", rows=None)
        s.meta.add_version("model", model, source="step:train")
        ids.append(model.id)
    return ids


def _promote(repo: RegistryRepository, version: int | None) -> int | None:
    return repo.move_alias("churn", "production", version, kind="promote", actor="ann", reason="why")


def check_register_numbers_versions_and_refuses_what_is_no_model(s: MetadataStores) -> None:
    """register gives versions 1, 2 of a name; NotFound for an unknown artifact or run,
    InvalidInput for an artifact that is not a model."""
    first, second = _models(s, 2)
    s.meta.create_run(run("r1"))
    v1 = s.registry.register("churn", first, actor="ann", run_id="r1", metrics={"f1": 0.8})
    v2 = s.registry.register("churn", second, actor="ann")
    assert (v1.version, v2.version, v1.metrics, v1.run_id) == (1, 2, {"f1": 0.8}, "r1")
    assert [v.artifact_id for v in s.registry.versions("churn")] == [first, second]
    raises(NotFound, s.registry.register, "churn", hash_text("no such artifact"), actor="ann")
    raises(NotFound, s.registry.register, "churn", first, actor="ann", run_id="no-such-run")
    table = artifact("a table")
    s.meta.add_version("train", table, source="x")
    raises(InvalidInput, s.registry.register, "churn", table.id, actor="ann")
    raises(NotFound, s.registry.get_version, "churn", 9)
    raises(NotFound, s.registry.versions, "nope")
    assert [(m.name, m.versions) for m in s.registry.list_models()] == [("churn", 2)]


def check_aliases_move_roll_back_and_leave_a_history(s: MetadataStores) -> None:
    """move_alias returns the version it replaced; rollback undoes the latest promotion; every
    change is an event, oldest first."""
    for model_id in _models(s, 2):
        s.registry.register("churn", model_id, actor="ann")
    assert _promote(s.registry, 1) is None
    assert _promote(s.registry, 2) == 1
    assert s.registry.get_alias("churn", "production").version == 2
    assert s.registry.rollback("churn", "production", actor="ann", reason="bad") == (2, 1)
    assert s.registry.get_alias("churn", "production").aliases == ("production",)
    kinds = [e.kind for e in s.registry.history("churn")]
    assert kinds == ["register", "register", "promote", "promote", "rollback"], kinds
    raises(Conflict, s.registry.rollback, "churn", "production", actor="ann", reason="again")
    raises(NotFound, s.registry.get_alias, "churn", "staging")


def check_a_refused_promotion_writes_nothing(s: MetadataStores) -> None:
    """When move_alias's `check` raises, neither the alias nor the history changes."""
    for model_id in _models(s, 2):
        s.registry.register("churn", model_id, actor="ann")
    _promote(s.registry, 1)
    before = s.registry.history("churn")

    def refuse(version: ModelVersion, approvals: list[ModelEvent]) -> None:
        raise Conflict(f"version {version.version} has {len(approvals)} approvals")

    raises(
        Conflict,
        s.registry.move_alias,
        "churn",
        "production",
        2,
        kind="promote",
        actor="bob",
        reason="r",
        check=refuse,
    )
    assert s.registry.get_alias("churn", "production").version == 1, "a refused promotion moved the alias"
    assert s.registry.history("churn") == before, "a refused promotion left an event"
    s.registry.approve("churn", 2, "production", actor="carol", reason="ok")
    assert [e.actor for e in s.registry.approvals("churn", 2, "production")] == ["carol"]


def check_removal_approvals_and_registrants_for_four_eyes(s: MetadataStores) -> None:
    """registrant names who registered a version; a removal approval is its own kind; a delete's
    `check` sees the version the alias points at and its removal approvals, and may refuse."""
    (model_id,) = _models(s, 1)
    s.registry.register("churn", model_id, actor="ann")
    assert s.registry.registrant("churn", 1) == "ann"
    _promote(s.registry, 1)
    s.registry.approve("churn", 1, "production", actor="carol", reason="retire", kind="approve_removal")
    assert s.registry.approvals("churn", 1, "production") == [], "a removal approval approved a promotion"
    removals = s.registry.approvals("churn", 1, "production", kind="approve_removal")
    assert [(e.kind, e.actor) for e in removals] == [("approve_removal", "carol")]
    seen: list[tuple[int, list[str]]] = []

    def refuse(version: ModelVersion, approvals: list[ModelEvent]) -> None:
        seen.append((version.version, [a.actor for a in approvals]))
        raise Conflict("refused")

    raises(
        Conflict,
        s.registry.move_alias,
        "churn",
        "production",
        None,
        kind="alias_delete",
        actor="dave",
        reason="r",
        check=refuse,
    )
    assert seen == [(1, ["carol"])], seen
    assert s.registry.get_alias("churn", "production").version == 1, "a refused delete removed the alias"


def check_concurrent_registrations_get_consecutive_numbers(s: MetadataStores) -> None:
    """Six threads registering one model at once get versions 1 to 6, none twice."""
    ids = _models(s, 6)
    got: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(ids))

    def register(model_id: str) -> None:
        try:
            start.wait()
            got.append(s.registry.register("churn", model_id, actor="ann").version)
        except BaseException as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"a concurrent registration raised {errors[0]!r}"
    assert sorted(got) == list(range(1, 7)), f"versions handed out: {sorted(got)}"


def _batches(count: int) -> list[BatchRow]:
    from loopline.store.metadata.predictions import BatchRow

    return [
        BatchRow(
            f"b{n}",
            "churn",
            1,
            T0 + timedelta(hours=n),
            T0 + timedelta(hours=n, minutes=30),
            10,
            hash_text(f"b{n}"),
        )
        for n in range(count)
    ]


def check_prediction_batches_are_indexed_once_and_by_window(s: MetadataStores) -> None:
    """add_batches skips a key already indexed (a retried write adds nothing); batches() keeps
    those overlapping [since, until), oldest first."""
    rows = _batches(3)
    s.predictions.add_batches(rows[:2])
    s.predictions.add_batches(rows)
    assert [b.key for b in s.predictions.batches("churn")] == ["b0", "b1", "b2"], "a batch was indexed twice"
    assert s.predictions.batches("churn")[1] == rows[1], "a batch did not round-trip"
    window = s.predictions.batches("churn", since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    assert [b.key for b in window] == ["b1"], [b.key for b in window]
    assert s.predictions.models() == ["churn"]
    assert s.predictions.batches("other") == []


def check_add_batches_counts_the_batches_it_added(s: MetadataStores) -> None:
    """add_batches returns how many batches were new: not those indexed already."""
    rows = _batches(3)
    assert s.predictions.add_batches([]) == 0
    first = s.predictions.add_batches(rows[:2])
    assert first == 2, f"two new batches counted as {first}"
    again = s.predictions.add_batches(rows)
    assert again == 1, f"one new batch among three counted as {again}"


def check_a_later_truth_replaces_the_earlier(s: MetadataStores) -> None:
    """put_truths keeps one truth per request id: the one posted last."""
    assert s.predictions.put_truths("churn", {"req-1": '"yes"', "req-2": '"no"'}, T0) == 2
    s.predictions.put_truths("churn", {"req-1": '"no"'}, T0 + timedelta(hours=1))
    got = {rid: text for rid, text, _ in s.predictions.truths("churn")}
    assert got == {"req-1": '"no"', "req-2": '"no"'}, got
    assert [rid for rid, _, _ in s.predictions.truths("churn", since=T0 + timedelta(minutes=1))] == ["req-1"]


def check_monitoring_profiles_reports_and_alert_states(s: MetadataStores) -> None:
    """A second profile of a model version replaces the first; reports list newest first and are
    found by artifact id prefix; an alert state is one per (model, rule), the last one set."""
    raises(NotFound, s.monitoring.profile, "churn", 1)
    old, new = (
        artifact("profile old", kind="json", rows=None),
        artifact("profile new", kind="json", rows=None),
    )
    s.monitoring.put_profile("churn", 1, old, None)
    s.monitoring.put_profile("churn", 1, new, "source")
    assert s.monitoring.profile("churn", 1).id == new.id
    for n in range(2):
        report = artifact(f"report {n}", kind="json", rows=None)
        window = {"since": None, "until": None, "rows": 10 * n}
        s.monitoring.add_report(report, {"model": "churn", "version": 1, "window": window, "alerts": []})
    assert [r.rows for r in s.monitoring.reports("churn")] == [10, 0], "reports are not newest first"
    assert (
        s.monitoring.report_artifact(artifact("report 1", kind="json", rows=None).id[:8]).id
        == artifact("report 1", kind="json", rows=None).id
    )
    raises(NotFound, s.monitoring.report_artifact, "0" * 12)
    s.monitoring.set_alert_state("churn", "drift", "firing", 0.4, sent=True)
    s.monitoring.set_alert_state("churn", "drift", "ok", 0.1, sent=False)
    assert s.monitoring.alert_states("churn") == {"drift": "ok"}
    assert [(a["rule"], a["state"]) for a in s.monitoring.alerts(["churn"])] == [("drift", "ok")]


def check_mlflow_files_are_indexed_by_path(s: MetadataStores) -> None:
    """put_file indexes an artifact path to (blob, size), a second put of the path replacing it;
    files_under lists the files below a folder, relative to it, sorted."""
    blob, other = hash_text("file bytes"), hash_text("other bytes")
    s.mlflow.put_file("exp/run/model/MLmodel", blob, 10)
    s.mlflow.put_file("exp/run/model/model.pkl", other, 20)
    assert s.mlflow.file("exp/run/model/MLmodel") == (blob, 10)
    s.mlflow.put_file("exp/run/model/MLmodel", other, 20)
    assert s.mlflow.file("exp/run/model/MLmodel") == (other, 20)
    assert s.mlflow.files_under("exp/run/model") == [("MLmodel", other, 20), ("model.pkl", other, 20)]
    assert s.mlflow.files_under("exp/other") == []
    raises(NotFound, s.mlflow.file, "exp/run/none")


CHECKS = (
    check_register_numbers_versions_and_refuses_what_is_no_model,
    check_aliases_move_roll_back_and_leave_a_history,
    check_a_refused_promotion_writes_nothing,
    check_removal_approvals_and_registrants_for_four_eyes,
    check_concurrent_registrations_get_consecutive_numbers,
    check_prediction_batches_are_indexed_once_and_by_window,
    check_add_batches_counts_the_batches_it_added,
    check_a_later_truth_replaces_the_earlier,
    check_monitoring_profiles_reports_and_alert_states,
    check_mlflow_files_are_indexed_by_path,
)
