"""MLflow's search filter grammar (loopline.core.search_filter): what parses to which clauses, and
that every refusal names the construct and where it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.core.errors import InvalidInput
from loopline.core.search_filter import Clause, Spec, order_key, parse, split_order, tokenize
from loopline.core.search_specs import (
    EXPERIMENTS,
    LOGGED_MODEL_ORDER,
    LOGGED_MODELS,
    MLFLOW_RUNS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUN_ORDER,
    RUNS,
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("metrics.f1 > 0.9", [Clause("metrics", "f1", ">", 0.9)]),
        ("metric.loss <= -1e-3", [Clause("metrics", "loss", "<=", -0.001)]),
        ("params.C = '1'", [Clause("params", "C", "=", "1")]),
        ('parameters.C != "1"', [Clause("params", "C", "!=", "1")]),
        ("params.model LIKE 'tr%'", [Clause("params", "model", "LIKE", "tr%")]),
        ("params.model ilike '%EE'", [Clause("params", "model", "ILIKE", "%EE")]),
        ("tags.mlflow.runName = 'x'", [Clause("tags", "mlflow.runName", "=", "x")]),
        (
            "tag.`mlflow.prompt.is_prompt` != 'true'",
            [Clause("tags", "mlflow.prompt.is_prompt", "!=", "true")],
        ),
        ("tags.\"my key\" = 'v'", [Clause("tags", "my key", "=", "v")]),
        ("tags.team IS NULL", [Clause("tags", "team", "IS NULL", None)]),
        ("params.lr is not null", [Clause("params", "lr", "IS NOT NULL", None)]),
        ("attributes.run_id IN ('a', \"b\")", [Clause("attributes", "run_id", "IN", ("a", "b"))]),
        ("attr.run_name NOT IN ('x')", [Clause("attributes", "name", "NOT IN", ("x",))]),
        ("run.status = 'FINISHED'", [Clause("attributes", "mlflow_status", "=", "FINISHED")]),
        ("`Run name` LIKE 'a%'", [Clause("attributes", "name", "LIKE", "a%")]),
        ("start_time >= 1000", [Clause("attributes", "started_at", ">=", 1000.0)]),
        ("user_id = 'ann'", [Clause("attributes", "user", "=", "ann")]),
        ("experiment_id IN ('1', '2')", [Clause("attributes", "experiment_id", "IN", ("1", "2"))]),
        (
            "metrics.f1>0.9 AND params.C='1' and tags.t != 'x'",
            [
                Clause("metrics", "f1", ">", 0.9),
                Clause("params", "C", "=", "1"),
                Clause("tags", "t", "!=", "x"),
            ],
        ),
        # load_table's filter: double quotes and LIKE wildcards inside a single-quoted value
        (
            'tags.mlflow.loggedArtifacts LIKE \'%"path"%:%"t.json",%"type"%:%"table"%\'',
            [Clause("tags", "mlflow.loggedArtifacts", "LIKE", '%"path"%:%"t.json",%"type"%:%"table"%')],
        ),
        ("params.p = 'it\\'s'", [Clause("params", "p", "=", "it\\'s")]),  # kept raw, as MLflow does
    ],
)
def test_the_grammar(text: str, want: list[Clause]) -> None:
    assert parse(text, MLFLOW_RUNS) == want


def test_every_search_has_its_own_keys() -> None:
    assert parse("name LIKE 'a%' and tags.t = 'x'", EXPERIMENTS)[0] == Clause(
        "attributes", "name", "LIKE", "a%"
    )
    assert parse("creation_time > 5", EXPERIMENTS) == [Clause("attributes", "created_at", ">", 5.0)]
    assert parse("name IN ('a')", REGISTERED_MODELS) == [Clause("attributes", "name", "IN", ("a",))]
    assert parse("version_number >= 2 and source_path LIKE 'x%'", MODEL_VERSIONS) == [
        Clause("attributes", "version", ">=", 2.0),
        Clause("attributes", "source", "LIKE", "x%"),
    ]
    assert parse("metrics.acc > 0.5 and params.lr = '0.1'", LOGGED_MODELS)[0].kind == "metrics"
    assert parse("status = 'succeeded'", RUNS) == [Clause("attributes", "status", "=", "succeeded")]


def test_the_shell_spelling_is_loose_only() -> None:
    assert parse("params.C=1 and params.m==tree", RUNS, loose=True) == [
        Clause("params", "C", "=", "1"),
        Clause("params", "m", "=", "tree"),
    ]
    assert parse("metrics.f1>'0.5'", RUNS, loose=True) == [Clause("metrics", "f1", ">", 0.5)]
    with pytest.raises(InvalidInput, match="quoted string"):
        parse("params.C=1", RUNS)
    with pytest.raises(InvalidInput, match="'==' is unknown"):
        parse("params.C=='1'", RUNS)


@pytest.mark.parametrize(
    ("spec", "text", "needles"),
    [
        (RUNS, "params.a = 'x' OR params.b = 'y'", ["OR is not supported", "position 16"]),
        (RUNS, "(params.a = 'x')", ["parentheses grouping", "position 1"]),
        (RUNS, "params.a = 'x' and (params.b = 'y')", ["parentheses", "position 20"]),
        (RUNS, "colour = 'red'", ["unknown run attribute 'colour'", "position 1"]),
        (RUNS, "datasets.name = 'x'", ["unknown key type 'datasets'", "position 1"]),
        (RUNS, "params.C > '1'", ["> is not supported for params.C", "position 10"]),
        (RUNS, "metrics.f1 LIKE '1%'", ["LIKE is not supported for metrics.f1", "position 12"]),
        (RUNS, "start_time IN ('1')", ["IN is not supported for start_time", "position 12"]),
        (RUNS, "run_name IS NULL", ["IS NULL is not supported for run_name", "position 10"]),
        (
            RUNS,
            "metrics.f1 > 'high'",
            ["metrics.f1 compares with 'high', which is not a number", "position 14"],
        ),
        (RUNS, "metrics.f1 > inf", ["is not a number", "position 14"]),
        (RUNS, "start_time > 1e30", ["is not a time", "position 14"]),
        (RUNS, "params.C = 1", ["params.C compares with a quoted string", "position 12"]),
        (RUNS, "params.C = 'x", ["unclosed quote", "position 12"]),
        (RUNS, "params.C = 'x' params.D = 'y'", ["expected AND", "position 16"]),
        (RUNS, "params.C", ["params.C has no comparison", "found the end", "position 9"]),
        (RUNS, "metrics.f1 >", ["compares with the end, which is not a number", "position 13"]),
        (RUNS, "tags.=x", ["expected a key after 'tags.'", "position 6"]),
        (RUNS, "run_id IN ()", ["IN list must not be empty", "position 12"]),
        (RUNS, "run_id IN (1, 2)", ["IN list holds quoted strings", "position 12"]),
        (RUNS, "run_id IN ('a' 'b')", ["expected ',' or ')'", "position 16"]),
        (RUNS, "run_id IN 'a'", ["takes a list", "position 11"]),
        (RUNS, "experiment_id = 'x1'", ["is not a number", "position 17"]),
        (RUNS, "tags.t IS 'x'", ["expected NULL after IS", "position 11"]),
        (RUNS, "params.C = 'x' and", ["expected a key", "position 19"]),
        (RUNS, "params.C ~ 'x'", ["unexpected '~'", "position 10"]),
        (EXPERIMENTS, "params.C = 'x'", ["params keys are not searchable", "position 1"]),
        (EXPERIMENTS, "creation_time LIKE '1%'", ["LIKE is not supported for creation_time", "position 15"]),
        (REGISTERED_MODELS, "tags.t IS NULL", ["IS NULL is not supported for tags.t", "position 8"]),
        (REGISTERED_MODELS, "creation_timestamp > 1", ["unknown registered model attribute", "position 1"]),
        (MODEL_VERSIONS, "metrics.a > 1", ["metrics keys are not searchable", "position 1"]),
        (LOGGED_MODELS, "params.lr IN ('1')", ["IN is not supported for params.lr", "position 11"]),
    ],
)
def test_each_refusal_names_the_construct_and_its_place(spec: Spec, text: str, needles: list[str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(text, spec)
    rendered = raised.value.render()
    for needle in needles:
        assert needle in rendered


def test_an_empty_filter_is_refused_and_tokens_carry_positions() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        parse("   ", RUNS)
    assert [(t.kind, t.pos) for t in tokenize("a.b>=1")] == [
        ("word", 1),
        ("op", 4),
        ("number", 6),
        ("end", 7),
    ]


def test_order_keys() -> None:
    assert split_order("metrics.f1 desc") == ("metrics.f1", True)
    assert split_order("name") == ("name", False)
    assert order_key("metrics.f1", RUNS, RUN_ORDER) == ("metrics", "f1")
    assert order_key("attributes.start_time", RUNS, RUN_ORDER) == ("attributes", "started_at")
    assert order_key("creation_timestamp", Spec("logged model", {}, {}), LOGGED_MODEL_ORDER) == (
        "attributes",
        "created_at",
    )
    with pytest.raises(InvalidInput, match="run order_by: unknown run attribute 'colour'"):
        order_key("colour", RUNS, RUN_ORDER)
    with pytest.raises(InvalidInput, match="tags keys are not searchable"):
        order_key("tags.t", Spec("experiment", {}, {}), {"name": "name"})
    with pytest.raises(InvalidInput, match="unexpected"):
        order_key("name name", RUNS, RUN_ORDER)


PIECES = [*"abmst.`'\"()=!<>%_\\, 01-eE", "AND ", " OR ", " IN ", " NOT ", " LIKE ", " IS NULL"]
PIECES += ["metrics.", "params.", "tags.", "run_id", "name", "start_time", "'x'", "1.5"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_any_text_parses_or_is_invalid_input(text: str) -> None:
    """Whatever a client sends, the parser answers clauses or InvalidInput (a 400), nothing else."""
    for spec in (MLFLOW_RUNS, EXPERIMENTS, REGISTERED_MODELS, MODEL_VERSIONS, LOGGED_MODELS):
        for loose in (False, True):
            try:
                clauses = parse(text, spec, loose=loose)
            except InvalidInput:
                continue
            assert clauses and all(isinstance(c, Clause) for c in clauses)
