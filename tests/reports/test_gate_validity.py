"""Test-sized validity check of the gate: false alarms at the nominal level, power as planned.

Runs are simulated at the statistics level: every sample has its own difficulty (a Beta-distributed
pass probability shared by both runs), and each run draws seeded Bernoulli outcomes from it. An A/A
comparison draws both runs with the same probabilities; an A/B one lowers them by a known drop.
The full-size version is ``benchmarks/bench_gate_validity.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evals.cli import main
from evals.suite import MetricGate
from reports.gate import decide, score_result
from reports.power import mcnemar_power, predicted_power, required_samples

P0, CONCENTRATION = 0.7, 4.0


def _fail_rate(
    n: int, drop: float, sims: int, spec: MetricGate, *, replicates: int = 1, seed: int = 0
) -> float:
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(sims):
        p = rng.beta(P0 * CONCENTRATION, (1 - P0) * CONCENTRATION, n)
        q = p * (1 - drop / P0)
        base = (rng.random((replicates, n)) < p).mean(axis=0)
        new = (rng.random((replicates, n)) < q).mean(axis=0)
        result = score_result("cell", spec, base, new, rng=rng, resamples=500)
        fails += decide(result, 1 - spec.confidence) == "fail"
    return fails / sims


def _true_discordance(drop: float) -> float:
    # E[p (1 - q) + q (1 - p)] under the difficulty distribution, by a large seeded Monte Carlo.
    p = np.random.default_rng(99).beta(P0 * CONCENTRATION, (1 - P0) * CONCENTRATION, 1_000_000)
    q = p * (1 - drop / P0)
    return float(np.mean(p * (1 - q) + q * (1 - p)))


def test_false_alarm_rate_of_the_mcnemar_gate_is_nominal() -> None:
    n, sims = 500, 800
    psi = _true_discordance(0.0)
    # The exact test's size is below alpha (its p-values are discrete) and approaches it with n.
    size = mcnemar_power(n, psi / 2, psi / 2, 0.05)
    assert 0.03 <= size <= 0.05
    rate = _fail_rate(n, 0.0, sims, MetricGate(metric="ok", max_drop=0.0))
    assert abs(rate - size) <= 3 * np.sqrt(size * (1 - size) / sims), (rate, size)
    assert 0.03 <= rate <= 0.07, rate


def test_power_matches_the_planner() -> None:
    drop = 0.08
    psi = _true_discordance(drop)
    n = required_samples(P0, drop, 0.05, 0.8, discordance=psi)
    assert predicted_power(n, P0, drop, 0.05, discordance=psi) >= 0.8
    measured = _fail_rate(n, drop, 300, MetricGate(metric="ok", max_drop=0.0), seed=1)
    assert abs(measured - 0.8) <= 0.07, (n, measured)


def test_false_alarm_rate_of_the_permutation_gate_on_replicated_samples() -> None:
    rate = _fail_rate(120, 0.0, 250, MetricGate(metric="ok", max_drop=0.0), replicates=3, seed=2)
    assert 0.02 <= rate <= 0.08, rate


def _sim_suite(directory: Path, name: str, seed: int, accuracy: float) -> Path:
    """A 120-sample suite answered by the in-process sim engine (no latency, seeded answers)."""
    lines = [
        "name: e2e",
        f"seed: {seed}",
        "target:",
        "  provider: sim",
        "  concurrency: 16",
        f"  sim: {{zero_latency: true, base_accuracy: {accuracy}}}",
        "dataset:",
        "  samples:",
        *(f"    - {{id: s{i}, input: 'question {i} [[answer:{i}]]', target: '{i}'}}" for i in range(120)),
        "settings: {temperature: 0.5}",
        "scorers: [{name: exact_match}]",
        "gate:",
        "  metrics:",
        "    - {metric: exact_match, max_drop: 0.05}",
    ]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_few_comparisons_through_the_sim_engine(tmp_path: Path) -> None:
    runs = {}
    for name, seed, accuracy in (("a", 1, 0.95), ("b", 2, 0.95), ("c", 3, 0.95), ("worse", 4, 0.65)):
        suite = _sim_suite(tmp_path, name, seed, accuracy)
        runs[name] = tmp_path / "runs" / name
        assert (
            _exit_code(["run", str(suite), "--out", str(runs[name]), "--progress", "off", "--no-report"]) == 0
        )
    # Another seed is another version of the suite: refused unless asked for (exit 2).
    assert _exit_code(["compare", str(runs["a"]), str(runs["b"]), "-q"]) == 2
    # A/A: same settings, other seeds: no false alarm. A/B: a 30-point drop (0.705 -> 0.405) fails the gate.
    for other in ("b", "c"):
        assert _exit_code(["compare", str(runs["a"]), str(runs[other]), "-q", "--allow-suite-change"]) == 0
    assert _exit_code(["compare", str(runs["a"]), str(runs["worse"]), "-q", "--allow-suite-change"]) == 1
