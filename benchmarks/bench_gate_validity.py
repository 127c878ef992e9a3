"""Measure the regression gate's false alarm rate and power over many simulated comparisons.

    .venv/bin/python benchmarks/bench_gate_validity.py [--sims 2000] [--resamples 2000] [--seed 0] [--out FILE.md]

Runs are simulated at the statistics level. Every sample has its own difficulty: a pass probability
``p_i ~ Beta(p0 k, (1 - p0) k)`` (``k = 4``: wide spread, as in real benchmarks) shared by both runs.
Each run draws seeded Bernoulli outcomes from it (one per sample, or ``r`` replicates averaged).

* A/A: both runs use ``p_i`` (two runs of the same settings with different seeds). The share of
  comparisons the gate fails is its false alarm rate; nominal: ``1 - confidence`` = 5%.
* boundary: the new run really drops by exactly the tolerance, the worst case the gate must still
  pass; the failure rate must stay at or below the nominal level.
* A/B: the new run uses ``p_i (1 - drop / p0)`` (a drop of ``drop`` on average). The failure rate is
  the power, compared with ``reports.power.predicted_power`` given the simulation's true discordance.
* family: ten cells compared at once, all A/A; the share of comparisons where *any* cell fails is
  the family-wise error rate, controlled by Holm and not by no correction.

Every figure comes with its 95% Clopper-Pearson interval over the simulated comparisons. The
statistical core called is the gate's own (``reports.gate.score_result`` / ``decide``), the same code
``evals compare`` runs on real data.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from evals.suite import MetricGate
from reports.compare import compare_ratio, ratio_inputs
from reports.gate import apply_correction, decide, score_result
from reports.power import predicted_power, required_samples

P0 = 0.7
CONCENTRATION = 4.0


@dataclass
class Row:
    scenario: str
    n: int
    sims: int
    fails: int
    expected: str
    seconds: float

    def line(self) -> str:
        ci = binomtest(self.fails, self.sims).proportion_ci(0.95, method="exact")
        rate = self.fails / self.sims
        return (
            f"| {self.scenario} | {self.n} | {self.sims} | {rate:.1%} | [{ci.low:.1%}, {ci.high:.1%}] "
            f"| {self.expected} | {self.seconds:.0f} |"
        )


def difficulty(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.beta(P0 * CONCENTRATION, (1 - P0) * CONCENTRATION, n)


def true_discordance(drop: float) -> float:
    """E[p (1 - q) + q (1 - p)] over the difficulty distribution (large seeded Monte Carlo)."""
    p = difficulty(np.random.default_rng(12345), 2_000_000)
    q = p * (1 - drop / P0)
    return float(np.mean(p * (1 - q) + q * (1 - p)))


def score_sims(
    n: int, drop: float, sims: int, spec: MetricGate, *, replicates: int, resamples: int, seed: int
) -> int:
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(sims):
        p = difficulty(rng, n)
        q = p * (1 - drop / P0)
        base = (rng.random((replicates, n)) < p).mean(axis=0)
        new = (rng.random((replicates, n)) < q).mean(axis=0)
        r = score_result("cell", spec, base, new, rng=rng, resamples=resamples)
        fails += decide(r, 1 - spec.confidence) == "fail"
    return fails


def latency_sims(n: int, growth: float, sims: int, resamples: int, seed: int) -> int:
    """A/A (growth 0) on p95 latency: per-sample base latency shared by both runs, lognormal noise."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    spec = MetricGate(metric="latency_p95", max_increase=0.0)
    fails = 0
    for _ in range(sims):
        size = rng.lognormal(0.0, 0.5, n)  # long prompts are slow in both runs
        pairs = pd.DataFrame(
            {
                "latency_s_b": size * rng.lognormal(0.0, 0.3, n),
                "latency_s_n": size * rng.lognormal(0.0, 0.3, n) * (1 + growth),
            }
        )
        arrays, stat, bv, nv, _ = ratio_inputs(pairs, spec.metric, None)
        out = compare_ratio(
            arrays, stat, bv, nv, max_increase=spec.max_increase, rng=rng, resamples=resamples
        )
        from reports.compare import MetricResult

        r = MetricResult(
            cell_id="c",
            metric=spec.metric,
            kind="ratio",
            test="bootstrap",
            n=n,
            base=bv,
            new=nv,
            change=out["change"],
            ci_low=out["ci"][0],
            ci_high=out["ci"][1],
            confidence=spec.confidence,
            tolerance=out["tolerance"],
            p_value=out["p_value"],
        )
        fails += decide(r, 0.05) == "fail"
    return fails


def family_sims(cells: int, n: int, sims: int, correction: str, resamples: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    spec = MetricGate(metric="ok", max_drop=0.0)
    any_fail = 0
    for _ in range(sims):
        results = []
        for c in range(cells):
            p = difficulty(rng, n)
            base = (rng.random(n) < p).astype(float)
            new = (rng.random(n) < p).astype(float)
            results.append(score_result(f"c{c}", spec, base, new, rng=rng, resamples=resamples))
        apply_correction(results, correction)
        any_fail += any(decide(r, 0.05) == "fail" for r in results)
    return any_fail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated comparisons per scenario")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap/permutation resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    sims, res, seed = args.sims, args.resamples, args.seed

    gate0 = MetricGate(metric="ok", max_drop=0.0)
    drop_ab = 0.05
    psi_ab = true_discordance(drop_ab)
    n_ab = required_samples(P0, drop_ab, 0.05, 0.8, discordance=psi_ab)
    psi_03 = true_discordance(0.03)
    pred_03 = predicted_power(500, P0, 0.03, 0.05, discordance=psi_03)
    rows: list[Row] = []

    def run(name: str, n: int, expected: str, fn: Callable[[], int], count: int = sims) -> None:
        t = time.perf_counter()
        fails = fn()
        rows.append(Row(name, n, count, fails, expected, time.perf_counter() - t))
        print(rows[-1].line(), file=sys.stderr, flush=True)

    run(
        "A/A pass/fail, McNemar",
        200,
        "5% (at most)",
        lambda: score_sims(200, 0, sims, gate0, replicates=1, resamples=res, seed=seed + 1),
    )
    run(
        "A/A pass/fail, McNemar",
        1000,
        "5% (at most)",
        lambda: score_sims(1000, 0, sims, gate0, replicates=1, resamples=res, seed=seed + 2),
    )
    run(
        "A/A pass/fail, bootstrap test",
        200,
        "5%",
        lambda: score_sims(
            200,
            0,
            sims,
            MetricGate(metric="ok", max_drop=0.0, test="bootstrap"),
            replicates=1,
            resamples=res,
            seed=seed + 3,
        ),
    )
    run(
        "A/A 3 replicates, permutation",
        150,
        "5%",
        lambda: score_sims(150, 0, sims, gate0, replicates=3, resamples=res, seed=seed + 4),
    )
    run(
        "boundary: true drop = tolerance 0.03",
        500,
        "5% (at most)",
        lambda: score_sims(
            500,
            0.03,
            sims,
            MetricGate(metric="ok", max_drop=0.03),
            replicates=1,
            resamples=res,
            seed=seed + 5,
        ),
    )
    run(
        f"A/B drop {drop_ab}, planner's n",
        n_ab,
        f"{predicted_power(n_ab, P0, drop_ab, 0.05, discordance=psi_ab):.1%} (planned 80%)",
        lambda: score_sims(n_ab, drop_ab, sims, gate0, replicates=1, resamples=res, seed=seed + 6),
    )
    run(
        "A/B drop 0.03",
        500,
        f"{pred_03:.1%} (planner)",
        lambda: score_sims(500, 0.03, sims, gate0, replicates=1, resamples=res, seed=seed + 7),
    )
    run("A/A latency p95 ratio, bootstrap", 300, "5%", lambda: latency_sims(300, 0.0, sims, res, seed + 8))
    fam = max(sims // 2, 1000)
    run(
        "family of 10 A/A cells, no correction",
        200,
        "up to 40% (1 - 0.95^10)",
        lambda: family_sims(10, 200, fam, "none", res, seed + 9),
        fam,
    )
    run(
        "family of 10 A/A cells, Holm",
        200,
        "5% (at most)",
        lambda: family_sims(10, 200, fam, "holm", res, seed + 9),
        fam,
    )

    header = [
        f"Gate validity, seed {seed}, {res} resamples; baseline pass rate {P0}, per-sample difficulty "
        f"Beta({P0 * CONCENTRATION:g}, {(1 - P0) * CONCENTRATION:g}); confidence 95%.",
        f"True discordance: {psi_ab:.3f} at drop {drop_ab}, {psi_03:.3f} at drop 0.03.",
        "",
        "| scenario | samples | comparisons | gate failed | 95% CI | expected | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    table = "\n".join(header + [r.line() for r in rows]) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
