"""Statistics of the reports: confidence intervals, pass@k, percentiles.

- ``wilson_interval``: the Wilson score interval of a proportion (``scipy.stats.binomtest``).
- ``bootstrap_mean_ci``: the mean with a bootstrap interval. Independent values use
  ``scipy.stats.bootstrap`` (BCa). When ``clusters`` are given (several results of one sample:
  replicates, ``numberResults`` > 1, several results per task), whole clusters are resampled (a
  seeded cluster bootstrap, percentile method) because results of one sample are correlated and
  treating them as independent would make the interval too narrow. Above ``NORMAL_ABOVE`` (2,000)
  independent units (values, or clusters) the bootstrap distribution of a mean is normal to well
  within the precision reported, so the interval is the normal one with a cluster-robust
  (linearised ratio) standard error; this keeps a one-million-result report in seconds.
- ``pass_at_k``: the unbiased estimator 1 - C(n-c, k) / C(n, k) (``evals.scoring.pass_at_k``).
- ``percentiles``: p50, p90, p95, p99 (linear interpolation between order statistics) and n.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

# pass@k lives with the scorers (the runner needs it too); re-exported here so report code finds
# every statistic in one module.
from evals.scoring import pass_at_k

NORMAL_ABOVE = 2_000
"""Independent units (values, or clusters) above which the normal approximation replaces the bootstrap."""

DEFAULT_RESAMPLES = 2_000


class Interval(NamedTuple):
    """A point estimate with its confidence interval. NaN everywhere when there is no data."""

    estimate: float
    low: float
    high: float
    method: str = "none"


__all__ = ["Interval", "bootstrap_mean_ci", "cluster_mean_ci", "pass_at_k", "percentiles", "wilson_interval"]

_EMPTY = Interval(math.nan, math.nan, math.nan, "none")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of ``k`` successes out of ``n`` trials."""
    from scipy import stats

    if n <= 0:
        return _EMPTY
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must lie between 0 and n={n}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = ci.low, ci.high
    return Interval(k / n, float(low), float(high), "wilson")


def _as_array(values: Iterable[float] | np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray[Any, Any],
    clusters: Sequence[Any] | np.ndarray[Any, Any] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Interval:
    """Mean of ``values`` with a bootstrap confidence interval; NaN values are ignored.

    ``clusters`` (same length as ``values``) names the unit each value belongs to, usually the
    sample id; the interval then resamples whole clusters. The result is deterministic for a seed.
    """
    x = _as_array(values)
    keep = ~np.isnan(x)
    x = x[keep]
    if x.size == 0:
        return _EMPTY
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        # Every resample has the same mean: the interval is a point (and BCa would divide by zero).
        return Interval(mean, mean, mean, "bootstrap")
    if clusters is not None:
        groups = np.asarray(clusters, dtype=object)[keep]
        _, codes = np.unique(groups.astype(str), return_inverse=True)
        sums = np.bincount(codes, weights=x)
        sizes = np.bincount(codes).astype(float)
        if sizes.max() > 1:
            return cluster_mean_ci(sums, sizes, confidence, seed, n_resamples)
    if x.size > NORMAL_ABOVE:
        return _normal_interval(mean, x, np.ones_like(x), confidence)
    from scipy import stats

    res = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        # BCa corrects bias and skew, which matters for the small samples of a CI run; its
        # jackknife is quadratic in n, affordable below NORMAL_ABOVE.
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        # BCa is undefined for some degenerate samples (e.g. one differing value); fall back to
        # the percentile interval of the same resamples rather than report nothing.
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(res.bootstrap_distribution, [alpha, 1 - alpha]))
    return Interval(mean, low, high, "bootstrap")


def cluster_mean_ci(
    sums: Sequence[float] | np.ndarray[Any, Any],
    sizes: Sequence[float] | np.ndarray[Any, Any],
    confidence: float = 0.95,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Interval:
    """Mean over clusters given each cluster's sum and size (e.g. per-sample totals of scores):
    sum(sums) / sum(sizes), with the seeded cluster-bootstrap interval (normal above NORMAL_ABOVE
    clusters). ``bootstrap_mean_ci(values, clusters)`` reduces to this."""
    sums = np.asarray(sums, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    keep = sizes > 0
    sums, sizes = sums[keep], sizes[keep]
    if sums.size == 0:
        return _EMPTY
    mean = float(sums.sum() / sizes.sum())
    if sums.size == 1 or np.allclose(sums / sizes, mean):
        # Every resample has the same mean when every cluster does.
        return Interval(mean, mean, mean, "cluster-bootstrap")
    m = sums.size
    if m > NORMAL_ABOVE:
        return _normal_interval(mean, sums, sizes, confidence)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    # Resample clusters with replacement; the mean of a resample is its total over its size.
    # Batches bound memory to about 8 MB whatever the number of clusters.
    batch = max(1, 1_000_000 // m)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, batch):
        stop = min(n_resamples, start + batch)
        idx = rng.integers(0, m, size=(stop - start, m))
        means[start:stop] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), "cluster-bootstrap")


def _normal_interval(
    mean: float, sums: np.ndarray[Any, Any], sizes: np.ndarray[Any, Any], confidence: float
) -> Interval:
    """Normal interval of a ratio mean with a cluster-robust (linearised) standard error."""
    from statistics import NormalDist  # the stdlib's, so this path needs no scipy import

    m = sums.size
    total = sizes.sum()
    resid = sums - mean * sizes
    se = math.sqrt(m / (m - 1) * float((resid**2).sum())) / total
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return Interval(mean, float(mean - z * se), float(mean + z * se), "normal")


PERCENTILES = (50, 90, 95, 99)


def percentiles(values: Iterable[float] | np.ndarray[Any, Any]) -> dict[str, float]:
    """``{"p50", "p90", "p95", "p99", "n"}`` of the finite values (NaN percentiles when none)."""
    x = _as_array(values)
    x = x[np.isfinite(x)]
    out: dict[str, float] = {}
    if x.size:
        qs = np.percentile(x, PERCENTILES)
        out = {f"p{p}": float(q) for p, q in zip(PERCENTILES, qs, strict=True)}
    else:
        out = {f"p{p}": math.nan for p in PERCENTILES}
    out["n"] = int(x.size)
    return out
