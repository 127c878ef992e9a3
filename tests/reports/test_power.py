"""The gate planner: exact McNemar power, required samples and detectable drops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from evals.errors import ConfigError
from reports.power import (
    cell_probabilities,
    detectable_drop,
    mcnemar_power,
    plan_gate,
    predicted_power,
    required_samples,
)


def test_cell_probabilities() -> None:
    # Independent outcomes: p10 = p0 (1 - p1), p01 = p1 (1 - p0).
    p10, p01 = cell_probabilities(0.7, 0.1, correlation=0.0)
    assert (p10, p01) == pytest.approx((0.7 * 0.4, 0.6 * 0.3))
    # Any correlation keeps the margins: p10 - p01 is the drop.
    for rho in (0.0, 0.3, 0.9):
        p10, p01 = cell_probabilities(0.7, 0.1, correlation=rho)
        assert p10 - p01 == pytest.approx(0.1)
    assert sum(cell_probabilities(0.7, 0.1, 0.9)) < sum(cell_probabilities(0.7, 0.1, 0.3))


def test_exact_power_matches_a_direct_sum() -> None:
    n, p10, p01, alpha = 40, 0.2, 0.05, 0.05
    psi = p10 + p01
    direct = 0.0
    for m in range(1, n + 1):
        reject = sum(
            binom.pmf(k, m, p10 / psi)
            for k in range(m + 1)
            if binomtest(k, m, 0.5, alternative="greater").pvalue <= alpha
        )
        direct += binom.pmf(m, n, psi) * reject
    assert mcnemar_power(n, p10, p01, alpha) == pytest.approx(direct, abs=1e-9)


def test_size_without_a_drop_is_at_most_alpha() -> None:
    for n in (50, 200, 1000):
        assert mcnemar_power(n, 0.1, 0.1, 0.05) <= 0.05


def test_required_samples_is_the_first_n_with_enough_power() -> None:
    n = required_samples(0.7, 0.05, discordance=0.15)
    assert all(predicted_power(k, 0.7, 0.05, discordance=0.15) >= 0.8 for k in range(n, n + 3))
    assert predicted_power(n - 10, 0.7, 0.05, discordance=0.15) < 0.8
    # Normal approximation (Connor's formula) lands close to the exact answer.
    z = 1.6448536269514722 * math.sqrt(0.15) + 0.8416212335729143 * math.sqrt(0.15 - 0.05**2)
    assert n == pytest.approx((z / 0.05) ** 2, rel=0.08)


def test_what_makes_a_plan_need_more_samples() -> None:
    base = required_samples(0.7, 0.05)
    assert required_samples(0.7, 0.05, correlation=0.8) < base  # correlated outcomes: fewer discordant pairs
    assert required_samples(0.7, 0.05, hypotheses=10) > base  # many cells share the error rate
    assert required_samples(0.7, 0.05, tolerance=0.02) > base  # the drop must exceed the tolerance
    assert required_samples(0.7, 0.05, alpha=0.01) > base
    assert required_samples(0.7, 0.05, replicates=4) < base  # independent replicates average out noise
    assert required_samples(0.7, 0.05, replicates=4, icc=1.0) == pytest.approx(base, rel=0.1)


def test_detectable_drop_inverts_the_plan() -> None:
    drop = detectable_drop(500, 0.7, discordance=0.2)
    assert 0 < drop < 0.1
    assert predicted_power(500, 0.7, drop, discordance=0.2) == pytest.approx(0.8, abs=0.02)
    assert detectable_drop(500, 0.7, discordance=0.2) > detectable_drop(2000, 0.7, discordance=0.2)
    assert np.isnan(detectable_drop(3, 0.7))


def test_impossible_plans_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="tolerates"):
        required_samples(0.7, 0.02, tolerance=0.02)
    with pytest.raises(ConfigError, match="within"):
        required_samples(0.05, 0.1)
    with pytest.raises(ConfigError, match="discordance"):
        required_samples(0.7, 0.1, discordance=0.05)


def test_plan_gate_reads_the_gate_and_the_baseline(tmp_path: Path) -> None:
    from evals.suite import Gate, MetricGate
    from reports.baseline import save_baseline
    from tests.reports.make_run import standard_run

    gate = Gate(
        metrics=[
            MetricGate(metric="exact", max_drop=0.01),
            MetricGate(metric="latency_p95", max_increase=0.2),
        ]
    )
    plan = plan_gate(0.03, samples=400, cells=2, gate=gate, p0=0.7)
    assert plan.hypotheses == 4 and plan.tolerance == 0.01 and plan.alpha == pytest.approx(0.05)
    assert plan.required_samples == required_samples(0.7, 0.03, 0.05, 0.8, tolerance=0.01, hypotheses=4)
    assert plan.detectable_drop > 0.03  # 400 samples are not enough for 3 points
    assert any("samples per cell" in line for line in plan.lines())
    # A drop within the tolerance cannot be caught: said, not raised.
    assert plan_gate(0.01, samples=400, gate=gate, p0=0.7).required_samples is None
    base = save_baseline(standard_run(tmp_path / "run"), tmp_path / "base.json")
    from_file = plan_gate(0.1, samples=4, baseline=base)
    assert from_file.p0 == pytest.approx(
        5 / 7
    )  # 5 of the 7 scored samples pass and from_file.metric == "exact"
    assert from_file.p0_source.startswith("baseline")
