"""Drift detection on 25 columns with 5 known shifts, some small: all 5 flagged, none of the 20
others, under each correction; and what the correction buys when nothing moved."""

from __future__ import annotations

import pytest

from loopline.monitor import build_profile, drift
from tests.monitor.shifts import SHIFTED, frames


@pytest.fixture(scope="module")
def workload():
    reference, current = frames(30_000)
    return build_profile(reference), current, reference


@pytest.mark.parametrize("correction", ["holm", "bh", "bonferroni"])
def test_five_known_shifts_are_found_and_nothing_else(workload, correction):
    profile, current, _ = workload
    result = drift(profile.columns, current, correction=correction)
    flagged = {c["name"] for c in result["columns"] if c["drifted"]}
    assert flagged == set(SHIFTED)
    assert result["share"] == pytest.approx(5 / 25)
    assert result["drifted"]
    tests = {c["name"]: c["test"] for c in result["columns"]}
    assert tests["num_00"] == "ks" and tests["cat_1"] == "chi2"


def test_a_fresh_sample_of_the_reference_distribution_does_not_drift(workload):
    profile, _, _ = workload
    _, current = frames(30_000, seed=8)
    unshifted = current.drop(list(SHIFTED))
    result = drift(profile.columns, unshifted)
    assert result["drifted_columns"] == 0
    assert result["tested"] == 20


def test_min_psi_keeps_only_the_large_moves(workload):
    profile, current, _ = workload
    result = drift(profile.columns, current, min_psi=0.05)
    flagged = {c["name"] for c in result["columns"] if c["drifted"]}
    assert flagged == {"num_07", "cat_3"}  # the small moves have a PSI near 0.01
