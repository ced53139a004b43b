"""The statistics against SciPy on the raw samples: the sketch approximates the reference, so
figures agree within the sketch's resolution (1,001 quantiles), and exactly where nothing is
approximated (chi-square on counts, the corrections)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from loopline.monitor import adjust, column_drift, drift, profile_column
from loopline.monitor.drift import chi2_homogeneity, psi
from loopline.monitor.profile import BINS, DISCRETE_MAX, Profile, build_profile

RNG = np.random.default_rng(42)


def drift_of(reference: np.ndarray, current: np.ndarray):
    return column_drift(profile_column(pl.Series("x", reference)), pl.Series("x", current))


@pytest.mark.parametrize(
    ("reference", "current", "w_tolerance"),
    [
        (RNG.normal(0, 1, 100_000), RNG.normal(0.02, 1, 50_000), 0.01),  # a small shift
        (RNG.normal(0, 1, 20_000), RNG.normal(0, 1, 20_000), 0.01),  # none
        (RNG.exponential(1.0, 50_000), RNG.exponential(1.1, 10_000), 0.01),  # skewed
        (RNG.integers(0, 60, 30_000) / 10, RNG.integers(3, 60, 8_000) / 10, 1e-6),  # ties
        (RNG.lognormal(0, 2, 40_000), RNG.lognormal(0.05, 2, 40_000), 0.07),  # heavy tail
    ],
)
def test_ks_and_wasserstein_match_scipy_on_the_raw_samples(reference, current, w_tolerance):
    result = drift_of(reference, current)
    assert result.test == "ks"
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=2e-3)
    assert result.p_value == pytest.approx(expected.pvalue, rel=0.5, abs=5e-3)
    assert (result.p_value < 0.01) == (expected.pvalue < 0.01)
    w = stats.wasserstein_distance(reference, current)
    assert result.wasserstein == pytest.approx(w, rel=w_tolerance)


def test_chi_square_matches_scipy_and_new_categories_count():
    reference = RNG.choice(["a", "b", "c", "d"], p=[0.4, 0.3, 0.2, 0.1], size=20_000)
    current = RNG.choice(["a", "b", "c", "d", "e"], p=[0.38, 0.3, 0.2, 0.1, 0.02], size=5_000)
    result = drift_of(reference, current)
    labels = ["a", "b", "c", "d", "e"]
    table = [[int((reference == c).sum()) for c in labels], [int((current == c).sum()) for c in labels]]
    expected = stats.chi2_contingency(table, correction=False)
    assert result.test == "chi2"
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert result.labels == labels
    r = np.asarray(table[0], float)
    c = np.asarray(table[1], float)
    assert result.jensen_shannon == pytest.approx(distance.jensenshannon(r / r.sum(), c / c.sum(), base=2))


def test_psi_is_the_textbook_formula_on_reference_deciles():
    reference = RNG.normal(0, 1, 50_000)
    current = RNG.normal(0.5, 1, 50_000)
    result = drift_of(reference, current)
    profile = profile_column(pl.Series("x", reference))
    assert len(profile.bin_counts) == BINS
    edges = np.concatenate([[-np.inf], profile.edges, [np.inf]])
    r = np.histogram(reference, edges)[0] / reference.size
    c = np.histogram(current, edges)[0] / current.size
    assert result.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-6)
    assert 0.2 < result.psi < 0.35  # half a standard deviation: a PSI of about 0.25
    assert psi(np.array([50.0, 50.0]), np.array([50.0, 50.0])) == 0.0


def test_few_distinct_numbers_are_tested_as_categories():
    reference = RNG.integers(0, DISCRETE_MAX, 5_000)
    result = drift_of(reference, RNG.integers(0, DISCRETE_MAX, 5_000).astype(float))
    assert result.test == "chi2"
    assert result.labels is not None and "3" in result.labels  # 3 and 3.0 are one category
    assert result.p_value is not None and result.p_value > 0.001


def test_corrections_match_scipy_and_bonferroni():
    p = [*RNG.uniform(0, 0.2, 40).tolist(), 1e-8, 1e-5]
    assert adjust(p, "bh") == pytest.approx(stats.false_discovery_control(p, method="bh").tolist())
    assert adjust(p, "bonferroni") == pytest.approx(np.minimum(np.asarray(p) * len(p), 1).tolist())
    assert adjust(p, "none") == p
    holm = np.asarray(adjust(p, "holm"))
    assert np.all(holm <= np.asarray(adjust(p, "bonferroni")) + 1e-12)  # never less powerful
    assert adjust([0.01, 0.04, 0.03, 0.2], "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert chi2_homogeneity(np.array([10.0, 0.0]), np.array([0.0, 0.0])) == (0.0, 1.0)


def test_profile_round_trips_through_json_and_holds_no_rows():
    frame = pl.DataFrame({"x": RNG.normal(size=5_000), "c": RNG.choice(["u", "v"], size=5_000)})
    profile = build_profile(frame, prediction=frame["c"])
    again = Profile.from_json(profile.to_json())
    assert again == profile
    assert len(profile.columns["x"].quantiles) == 1001
    assert profile.columns["c"].categories.keys() == {"u", "v"}
    assert profile.prediction is not None and profile.prediction.kind == "categorical"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=30, max_size=400),
    categories=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=30, max_size=400),
    seed=st.integers(0, 2**16),
)
def test_a_window_like_the_reference_never_drifts(values, categories, seed):
    """The same values in any order (a resample would drift by chance now and then): no drift,
    whatever the data, so the sketch itself never invents a difference."""
    rng = np.random.default_rng(seed)
    n = min(len(values), len(categories))
    frame = pl.DataFrame({"x": values[:n], "c": categories[:n]})
    profile = build_profile(frame)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(2**31)))
    result = drift(profile.columns, shuffled)
    assert result["drifted_columns"] == 0
    assert not result["drifted"]
    for column in result["columns"]:
        assert column["p_value"] > 0.5
        assert column["psi"] == pytest.approx(0.0, abs=1e-9)
