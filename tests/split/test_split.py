"""The split as a pure function: stability across dataset versions, stratified proportions,
group integrity, time cuts, the leak check and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.core.errors import CheckFailed, ConfigError, InvalidInput
from loopline.core.hashing import item_ids
from loopline.split import check, split


def _assignments(parts: dict[str, pl.DataFrame], key: str = "id") -> dict[object, str]:
    return {value: name for name, part in parts.items() for value in part[key].to_list()}


def _table(n: int, start: int = 0, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "id": list(range(start, start + n)),
            "x": rng.normal(size=n),
            "label": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).tolist(),
        }
    )


@settings(max_examples=40, deadline=None)
@given(
    old=st.integers(1, 300),
    new=st.integers(0, 300),
    seed=st.integers(0, 2**31),
    mode=st.sampled_from(["content", "key", "item_id"]),
)
def test_old_items_keep_their_split_when_rows_are_added(old: int, new: int, seed: int, mode: str) -> None:
    first = _table(old)
    grown = pl.concat([first, _table(new, start=old, seed=seed + 1)]).sample(
        fraction=1.0, shuffle=True, seed=seed
    )
    if mode == "item_id":
        first, grown = (t.with_columns(item_ids(t.select("id")).alias("_item_id")) for t in (first, grown))
    key = "id" if mode == "key" else None
    before = _assignments(split(first, seed=seed, key=key))
    after = _assignments(split(grown, seed=seed, key=key))
    assert {i: after[i] for i in before} == before
    assert len(after) == old + new


def test_ratios_and_seed() -> None:
    table = _table(20_000)
    parts = split(table)
    shares = {k: v.height / table.height for k, v in parts.items()}
    assert shares == pytest.approx({"train": 0.7, "validation": 0.15, "test": 0.15}, abs=0.015)
    assert sum(p.height for p in parts.values()) == table.height
    other = split(table, seed=1)
    assert _assignments(other) != _assignments(parts)  # another seed, another split
    assert _assignments(split(table.reverse())) == _assignments(parts)  # row order does not matter
    only = split(table, ratios={"train": 0.8, "test": 0.2})
    assert only["validation"].height == 0
    assert only["train"].height + only["test"].height == table.height


def test_stratified_proportions_are_exact_per_class() -> None:
    table = _table(5_003)
    parts = split(table, stratify="label", seed=3)
    counts = table["label"].value_counts()
    for label, n in counts.iter_rows():
        got = {k: int((v["label"] == label).sum()) for k, v in parts.items()}
        assert sum(got.values()) == n
        for name, share in {"train": 0.7, "validation": 0.15, "test": 0.15}.items():
            assert abs(got[name] - n * share) < 1, (label, got)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(90, 400), grow=st.floats(0.0, 0.1), seed=st.integers(0, 1000))
def test_stratified_growth_never_moves_items_between_train_and_test(n: int, grow: float, seed: int) -> None:
    """Ranks shift as a class grows, so items at a boundary move to the neighbouring split,
    none jumps train <-> test while a class grows by well under validation/train (~21 %)."""

    def balanced(count: int, start: int) -> pl.DataFrame:
        return pl.DataFrame({"id": range(start, start + count)}).with_columns(label=pl.col("id") % 3)

    first = balanced(n, 0)
    grown = pl.concat([first, balanced(int(n * grow), n)])
    before = _assignments(split(first, stratify="label", seed=seed))
    after = _assignments(split(grown, stratify="label", seed=seed))
    jumps = [i for i in before if {before[i], after[i]} == {"train", "test"}]
    assert not jumps


def test_group_rows_stay_together() -> None:
    rng = np.random.default_rng(1)
    table = _table(6_000).with_columns(user_id=pl.Series(rng.integers(0, 400, 6_000)))
    parts = split(table, group="user_id", seed=7)
    homes = {}
    for name, part in parts.items():
        for user in part["user_id"].unique().to_list():
            assert homes.setdefault(user, name) == name, f"user {user} in two splits"
    assert len(homes) == table["user_id"].n_unique()
    # a new user's rows do not move the old users
    more = pl.concat([table, _table(50, start=10**6).with_columns(user_id=pl.lit(10**6, pl.Int64))])
    again = split(more, group="user_id", seed=7)
    assert all(
        set(again[name]["user_id"].to_list()) >= set(parts[name]["user_id"].to_list()) for name in parts
    )


def test_time_split_cuts_at_the_dates() -> None:
    ts = pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 12, 31), "1d", eager=True)
    table = pl.DataFrame({"id": range(len(ts)), "ts": ts})
    parts = split(table, time={"column": "ts", "validation_from": "2024-09-01", "test_from": "2024-11-01"})
    assert parts["train"]["ts"].max() < parts["validation"]["ts"].min()
    assert str(parts["validation"]["ts"].min().date()) == "2024-09-01"
    assert str(parts["test"]["ts"].min().date()) == "2024-11-01"
    assert sum(p.height for p in parts.values()) == table.height
    numeric = split(pl.DataFrame({"id": range(10), "t": range(10)}), time={"column": "t", "test_from": 8})
    assert numeric["test"]["t"].to_list() == [8, 9] and numeric["validation"].height == 0


def test_leak_check_names_the_items() -> None:
    # the same content under two declared keys: it can land in two splits
    base = pl.DataFrame({"id": list(range(200)), "x": [i % 50 for i in range(200)]}).select("x")
    table = base.with_columns(_item_id=pl.Series([f"k{i}" for i in range(200)]))
    with pytest.raises(CheckFailed) as caught:
        split(table)
    message = caught.value.message
    assert "duplicate content" in message and "rows [" in message
    # one item id with two labels: stratified, it can land in two splits
    twice = pl.DataFrame({"_item_id": ["dup"] * 2 + [f"i{i}" for i in range(98)], "label": ["a", "b"] * 50})
    twice = twice.with_columns(v=pl.int_range(0, 100))
    parts_or_error = []
    for seed in range(40):
        try:
            parts_or_error.append(split(twice, stratify="label", seed=seed))
        except CheckFailed as exc:
            assert "item dup" in exc.message
            break
    else:
        pytest.fail("an item with two labels never landed in two splits")


def test_bad_input() -> None:
    tiny = pl.DataFrame({"x": range(12), "label": ["a"] * 10 + ["rare"] * 2})
    with pytest.raises(InvalidInput, match=r"class 'rare'.*2 item"):
        split(tiny, stratify="label")
    with pytest.raises(ConfigError, match="'lbl' is not in the input table"):
        check({"stratify": "lbl"}, {"table": {"x": "Int64", "label": "String"}})
    with pytest.raises(ConfigError, match="add up to 1"):
        check({"ratios": {"train": 0.7, "test": 0.2}}, {"table": None})
    with pytest.raises(ConfigError, match="cannot be combined"):
        check({"stratify": "label", "group": "x"}, {"table": None})
    with pytest.raises(ConfigError, match="unknown split"):
        check({"ratios": {"train": 0.5, "holdout": 0.5}}, {"table": None})
