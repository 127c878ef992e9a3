"""reports.stats against known results: textbook Wilson intervals, pass@k's closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.stats import NORMAL_ABOVE, bootstrap_mean_ci, pass_at_k, percentiles, wilson_interval


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in
# Medicine 17:857-872, Table I, method 3 (score interval without continuity correction).
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_textbook_table(k: int, n: int, low: float, high: float) -> None:
    iv = wilson_interval(k, n)
    assert iv.estimate == pytest.approx(k / n)
    assert iv.low == pytest.approx(low, abs=6e-5)
    assert iv.high == pytest.approx(high, abs=6e-5)
    assert iv.method == "wilson"


def test_wilson_edge_cases() -> None:
    assert math.isnan(wilson_interval(0, 0).estimate)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    narrow = wilson_interval(50, 100, confidence=0.5)
    wide = wilson_interval(50, 100, confidence=0.99)
    assert wide.low < narrow.low < 0.5 < narrow.high < wide.high


@given(n=st.integers(1, 60), data=st.data())
def test_pass_at_k_matches_closed_form(n: int, data: st.DataObject) -> None:
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_known_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is c/n
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # C(7,5)/C(10,5)
    assert pass_at_k(5, 0, 5) == 0.0
    assert pass_at_k(5, 1, 5) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    x = np.random.default_rng(7).normal(1.0, 1.0, 200)
    a = bootstrap_mean_ci(x, seed=3)
    b = bootstrap_mean_ci(x, seed=3)
    assert a == b
    assert a.low < x.mean() < a.high
    # For a mean of 200 normal values the bootstrap interval is close to the t interval.
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert a.high - a.low == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_ignores_nan_and_handles_constants() -> None:
    iv = bootstrap_mean_ci([1.0, float("nan"), 1.0])
    assert iv == (1.0, 1.0, 1.0, "bootstrap")
    assert math.isnan(bootstrap_mean_ci([]).estimate)


def test_cluster_bootstrap_is_wider_for_correlated_results() -> None:
    # 30 samples, 5 identical results each: 30 independent units, not 150.
    rng = np.random.default_rng(1)
    per_sample = rng.integers(0, 2, 30).astype(float)
    values = np.repeat(per_sample, 5)
    clusters = np.repeat(np.arange(30), 5)
    naive = bootstrap_mean_ci(values)
    clustered = bootstrap_mean_ci(values, clusters=clusters)
    assert clustered.method == "cluster-bootstrap"
    assert clustered.estimate == pytest.approx(values.mean())
    assert (clustered.high - clustered.low) > 1.8 * (naive.high - naive.low)
    # ...and about as wide as the interval of the 30 sample means themselves.
    of_means = bootstrap_mean_ci(per_sample)
    assert clustered.high - clustered.low == pytest.approx(of_means.high - of_means.low, rel=0.25)


def test_large_samples_use_the_normal_interval() -> None:
    x = np.random.default_rng(2).random(NORMAL_ABOVE + 1)
    iv = bootstrap_mean_ci(x)
    assert iv.method == "normal"
    half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert iv.high - iv.estimate == pytest.approx(half, rel=1e-3)


def test_percentiles_by_hand() -> None:
    p = percentiles([4.0, 1.0, 3.0, 2.0, float("nan")])
    # Linear interpolation: position q*(n-1) in the sorted values 1, 2, 3, 4.
    assert p == pytest.approx({"p50": 2.5, "p90": 3.7, "p95": 3.85, "p99": 3.97, "n": 4})
    empty = percentiles([])
    assert empty["n"] == 0 and math.isnan(empty["p99"])


def test_cluster_mean_ci_from_sums_equals_the_values_form() -> None:
    from reports.stats import cluster_mean_ci

    values = [1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0]
    clusters = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f"]
    via_values = bootstrap_mean_ci(values, clusters=clusters, seed=5)
    # per cluster (sorted by name) sums 2, 1, 0, 2, 1, 0 of size 2
    via_sums = cluster_mean_ci([2, 1, 0, 2, 1, 0], [2] * 6, seed=5)
    assert via_values == via_sums
    assert via_sums.estimate == pytest.approx(0.5)
    assert cluster_mean_ci([3, 0], [0, 0]).method == "none"  # no cluster with results


def test_usd_format() -> None:
    from reports.formatting import MISSING, usd

    assert [usd(v) for v in (9.4e-05, 0.001, 0.0013333, 0.5, 1234.5, 0)] == [
        "$0.000094",
        "$0.001",
        "$0.00133",
        "$0.50",
        "$1,234.50",
        "$0",
    ]
    assert usd(float("nan")) == usd(None) == MISSING
