"""Planning a gate: how many samples it needs to catch a drop, and the smallest drop it can catch.

The model is the gate's own test on a pass/fail score: paired outcomes (baseline, new) per sample,
the one-sided exact McNemar test of ``H0: p_new - p_base >= -tolerance`` at level ``alpha``.

Assumption, stated because power depends on it: a pair is *discordant* (passes in one run, fails in
the other) with probability ``psi``. Either give ``discordance=psi`` (measured, e.g. from two runs of
the same settings: the share of samples whose outcome flipped), or let it follow from the phi
``correlation`` between a sample's outcomes in the two runs::

    p11 = p0 p1 + rho sqrt(p0 (1 - p0) p1 (1 - p1)),  p10 = p0 - p11,  p01 = p1 - p11,  psi = p10 + p01

with ``p1 = p0 - drop``. The default ``rho = 0.5`` means a sample's difficulty explains half the
outcome: LLM evaluations are usually more correlated (lower ``psi``, fewer samples needed), so the
default errs on the side of more samples.

With one outcome per sample the power is computed exactly (the sum over the binomial number of
discordant pairs). With replicates (or several results per task) the gate averages each sample and
uses a paired permutation test; power is then the normal approximation, with the variance of a
sample's mean difference ``(psi - drop^2) (1 + (r - 1) icc) / r`` (``icc``: the correlation of the
paired differences of two replicates of one sample; 0 when replicates are independent draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.errors import ConfigError
from evals.suite import Gate


def cell_probabilities(p0: float, drop: float, correlation: float = 0.5) -> tuple[float, float]:
    """``(p10, p01)``: the chances that a sample passes only in the baseline, or only in the new run."""
    p1 = p0 - drop
    if not (0 < p0 < 1 and 0 <= p1 <= 1):
        raise ConfigError(f"baseline rate {p0} and drop {drop} must leave both rates within [0, 1]")
    p11 = p0 * p1 + correlation * math.sqrt(p0 * (1 - p0) * p1 * (1 - p1))
    # The correlation cannot push the joint probability outside what the margins allow.
    p11 = min(max(p11, max(0.0, p0 + p1 - 1)), min(p0, p1))
    return p0 - p11, p1 - p11


def _discordance(
    p0: float, drop: float, correlation: float, discordance: float | None
) -> tuple[float, float]:
    if discordance is None:
        return cell_probabilities(p0, drop, correlation)
    if not drop <= discordance <= 1:
        raise ConfigError(f"discordance {discordance} must lie between the drop {drop} and 1")
    # A drop of ``drop`` with discordance psi splits the discordant pairs as (psi + drop) / 2 vs the rest.
    return (discordance + drop) / 2, (discordance - drop) / 2


def mcnemar_power(n: int, p10: float, p01: float, alpha: float, tolerance: float = 0.0) -> float:
    """Exact power of the gate's one-sided McNemar test with ``n`` paired samples.

    Sums, over the binomial number ``m`` of discordant pairs, the chance that the count of
    "passed only in the baseline" pairs reaches the test's critical value at that ``m``.
    """
    from scipy.stats import binom

    psi = p10 + p01
    if n <= 0 or psi <= 0:
        return 0.0
    m = np.arange(1, n + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta0 = (m + n * tolerance) / (2 * m)  # the test's null proportion, given m (see compare.py)
    testable = theta0 < 1
    k = binom.isf(alpha, m, np.minimum(theta0, 1 - 1e-12))  # reject when X > k
    reject = np.where(testable, binom.sf(k, m, p10 / psi), 0.0)
    return float(np.sum(binom.pmf(m, n, psi) * reject))


def _normal_power(n: float, p10: float, p01: float, alpha: float, tolerance: float, design: float) -> float:
    from scipy.stats import norm

    drop = p10 - p01
    psi = p10 + p01
    if drop <= tolerance or n <= 0:
        return float(alpha) if drop == tolerance else 0.0
    sd0 = math.sqrt(max(psi - tolerance**2, 1e-12) * design)
    sd1 = math.sqrt(max(psi - drop**2, 1e-12) * design)
    z = (math.sqrt(n) * (drop - tolerance) - norm.isf(alpha) * sd0) / sd1
    return float(norm.cdf(z))


def predicted_power(
    n: int,
    p0: float,
    drop: float,
    alpha: float = 0.05,
    *,
    replicates: int = 1,
    correlation: float = 0.5,
    discordance: float | None = None,
    tolerance: float = 0.0,
    icc: float = 0.0,
    hypotheses: int = 1,
) -> float:
    """Chance that the gate fails a run whose pass rate truly dropped by ``drop`` from ``p0``.

    ``hypotheses``: how many cell × metric tests share the correction; the plan uses
    ``alpha / hypotheses`` (Bonferroni), a safe bound for Holm.
    """
    p10, p01 = _discordance(p0, drop, correlation, discordance)
    a = alpha / max(hypotheses, 1)
    if replicates == 1:
        return mcnemar_power(n, p10, p01, a, tolerance)
    design = (1 + (replicates - 1) * icc) / replicates
    return _normal_power(n, p10, p01, a, tolerance, design)


def required_samples(
    p0: float,
    drop: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    replicates: int = 1,
    correlation: float = 0.5,
    discordance: float | None = None,
    tolerance: float = 0.0,
    icc: float = 0.0,
    hypotheses: int = 1,
    max_n: int = 1_000_000,
) -> int:
    """The smallest number of samples (per cell) for the gate to catch ``drop`` with ``power``.

    ``p0``: the baseline pass rate; ``alpha``: 1 - the gate's confidence; ``tolerance``: the gate's
    ``max_drop`` (a drop must exceed it to be caught). Raises ``ConfigError`` when no sample count
    up to ``max_n`` reaches the power (e.g. a drop not larger than the tolerance).
    """
    if drop <= tolerance:
        raise ConfigError(
            f"a drop of {drop} cannot be caught by a gate that tolerates drops up to {tolerance}"
        )
    p10, p01 = _discordance(p0, drop, correlation, discordance)
    a = alpha / max(hypotheses, 1)
    design = (1 + (replicates - 1) * icc) / replicates
    from scipy.optimize import brentq

    # The normal approximation gives the neighbourhood; with one outcome per sample the exact power
    # then decides (it is a saw-tooth in n, so take the first n from which it stays above target).
    def gap(n: float) -> float:
        return _normal_power(n, p10, p01, a, tolerance, design) - power

    if gap(max_n) < 0:
        raise ConfigError(f"more than {max_n} samples would be needed to catch a drop of {drop}")
    n_normal = math.ceil(brentq(gap, 1e-6, max_n))
    if replicates > 1:
        return n_normal

    def holds(n: int) -> bool:
        return all(mcnemar_power(k, p10, p01, a, tolerance) >= power for k in range(n, min(n + 3, max_n + 1)))

    # Coarse steps up from below the approximation, then back down one step at a time.
    step = max(1, n_normal // 100)
    n = max(1, int(n_normal * 0.8))
    while n <= max_n and not holds(n):
        n += step
    while n > 1 and holds(n - 1):
        n -= 1
    if n <= max_n:
        return n
    raise ConfigError(f"more than {max_n} samples would be needed to catch a drop of {drop}")


def detectable_drop(
    n: int,
    p0: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    replicates: int = 1,
    correlation: float = 0.5,
    discordance: float | None = None,
    tolerance: float = 0.0,
    icc: float = 0.0,
    hypotheses: int = 1,
) -> float:
    """The smallest drop from ``p0`` the gate catches with ``power`` given ``n`` samples per cell.

    Returns ``nan`` when even the largest possible drop (to a pass rate of 0) is not caught.
    """
    from scipy.optimize import brentq

    def gap(drop: float) -> float:
        return (
            predicted_power(
                n,
                p0,
                drop,
                alpha,
                replicates=replicates,
                correlation=correlation,
                discordance=None if discordance is None else max(discordance, drop),
                tolerance=tolerance,
                icc=icc,
                hypotheses=hypotheses,
            )
            - power
        )

    lo, hi = tolerance + 1e-9, p0
    if gap(hi) < 0:
        return float("nan")
    if gap(lo) >= 0:
        return lo
    # Exact power is a saw-tooth in the drop too; brentq still finds a crossing within tolerance.
    return float(brentq(gap, lo, hi, xtol=1e-4))


@dataclass(frozen=True)
class PowerPlan:
    """The answer of ``evals plan SUITE --detect DROP`` for one gated pass/fail metric."""

    metric: str
    p0: float
    p0_source: str  # "baseline FILE", "given" or "assumed 0.5 (the worst case)"
    drop: float
    tolerance: float
    alpha: float
    power: float
    samples: int  # samples per cell in the suite now
    replicates: int
    hypotheses: int
    correlation: float
    discordance: float | None
    required_samples: int | None  # None when the drop cannot be caught (not above the tolerance)
    detectable_drop: float  # with the suite's current samples; nan when no drop is caught

    def lines(self) -> list[str]:
        """Human-readable lines for the plan command."""
        assumed = (
            f"discordance {self.discordance:.3f} (given)"
            if self.discordance is not None
            else f"outcome correlation {self.correlation:g} between runs (assumed)"
        )
        need = (
            f"{self.required_samples:,} samples per cell"
            if self.required_samples is not None
            else f"impossible: the gate tolerates drops up to {self.tolerance:g}"
        )
        can = "none" if math.isnan(self.detectable_drop) else f"{self.detectable_drop:.3f}"
        return [
            f"gate power for {self.metric}: baseline pass rate {self.p0:.3f} ({self.p0_source}), "
            f"one-sided alpha {self.alpha:g} over {self.hypotheses} test(s), tolerance {self.tolerance:g}, "
            f"{self.replicates} replicate(s), {assumed}",
            f"to catch a drop of {self.drop:g} with {self.power:.0%} power: {need}",
            f"smallest drop caught with {self.power:.0%} power by the current {self.samples:,} samples: {can}",
        ]


def plan_gate(
    detect: float,
    *,
    samples: int,
    cells: int = 1,
    replicates: int = 1,
    gate: Gate | None = None,
    p0: float | None = None,
    baseline: str | Path | None = None,
    power: float = 0.8,
    correlation: float = 0.5,
    discordance: float | None = None,
) -> PowerPlan:
    """Plan a suite's gate: samples needed to catch ``detect``, and the smallest drop caught now.

    The gated metric is the gate's first score metric with a ``max_drop`` (its confidence, tolerance
    and the correction's number of tests are used); without a gate, a 95% gate with no tolerance.
    The baseline pass rate comes from ``baseline`` (a baseline file), else ``p0``, else 0.5, the
    rate with the most discordance and so the most samples needed.
    """
    spec = next((m for m in (gate.metrics if gate else []) if m.max_drop is not None), None)
    metric = spec.metric if spec else "score"
    confidence = spec.confidence if spec else 0.95
    source = "given"
    if baseline is not None:
        from reports.baseline import load_baseline
        from reports.compare import SCORE_PREFIX

        summary = load_baseline(baseline)
        name = (
            metric if spec else next((s for s, k in sorted(summary.scorers.items()) if k == "binary"), None)
        )
        column = SCORE_PREFIX + str(name)
        if name is None or column not in summary.units:
            raise ConfigError(f"{baseline}: no pass/fail score {metric!r} to take the baseline rate from")
        p0, source, metric = float(summary.units[column].mean()), f"baseline {baseline}", str(name)
    elif p0 is None:
        p0, source = 0.5, "assumed 0.5 (the worst case)"
    tolerance = 0.0
    if spec is not None and spec.max_drop is not None:
        tolerance = spec.max_drop * p0 if spec.relative else spec.max_drop
    gated = sum(m.max_drop is not None or m.max_increase is not None for m in gate.metrics) if gate else 1
    hypotheses = max(1, cells * max(gated, 1)) if (gate is None or gate.correction != "none") else 1
    alpha = 1 - confidence
    try:
        needed: int | None = required_samples(
            p0,
            detect,
            alpha,
            power,
            replicates=replicates,
            correlation=correlation,
            discordance=discordance,
            tolerance=tolerance,
            hypotheses=hypotheses,
        )
    except ConfigError:
        if detect > tolerance:
            raise
        needed = None
    return PowerPlan(
        metric=metric,
        p0=p0,
        p0_source=source,
        drop=detect,
        tolerance=tolerance,
        alpha=alpha,
        power=power,
        samples=samples,
        replicates=replicates,
        hypotheses=hypotheses,
        correlation=correlation,
        discordance=discordance,
        required_samples=needed,
        detectable_drop=detectable_drop(
            samples,
            p0,
            alpha,
            power,
            replicates=replicates,
            correlation=correlation,
            discordance=discordance,
            tolerance=tolerance,
            hypotheses=hypotheses,
        ),
    )
