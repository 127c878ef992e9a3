"""Regression gates: is the new run worse than its baseline beyond what the suite tolerates?

    base, new (RunSummary) ──► compatible? ──► valid? ──► per cell × metric: reports.compare
                                  │ no           │ no          │
                                  ▼              ▼             ▼ multiple-testing correction
                             BaselineMismatch  exit 3     verdicts ──► GateReport (exit 0 or 1)
                               (exit 2)

Decision rule, per gated metric (tolerance ``t`` for a score, limit ``L = 1 + max_increase`` for a
ratio, ``alpha = 1 - confidence``):

* the interval shown is the two-sided ``2·confidence - 1`` interval, so each end is a one-sided bound
  at ``confidence`` (a 95% gate shows a 90% interval). For a pass/fail score with one outcome per
  sample it is the inversion of the exact McNemar test itself (so interval and test always agree);
  otherwise it is a seeded paired percentile bootstrap;
* **fail** when the change is beyond the tolerance with evidence on both counts: the interval lies
  entirely beyond it (score: upper end ``< -t``; ratio: lower end ``> L``) *and* the one-sided test of
  "within tolerance" rejects at ``alpha`` after the gate's correction (Holm or Benjamini-Hochberg over
  every gated cell × metric);
* otherwise the metric passes, as **improved** (interval entirely better than no change), **ok**
  (interval entirely within the tolerance) or **inconclusive** (the interval straddles the tolerance:
  the data cannot tell; more samples would).

Metrics without a tolerance are measured and shown as **info**, never gated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evals.errors import ConfigError, ExitCode, GateFailed, RunFailed
from evals.suite import Gate, MetricGate
from reports.compare import (
    COUNT_PREFIX,
    DEFAULT_RESAMPLES,
    RATIO_METRICS,
    SCORE_PREFIX,
    MetricResult,
    RunSummary,
    compare_ratio,
    compare_scores,
    derive_seed,
    pair_units,
    ratio_inputs,
    summarize_run,
)

if TYPE_CHECKING:
    import pandas as pd

# Ungated metrics shown for reading when a gate does not name them.
INFO_RATIOS = ("latency_p50", "latency_p95", "cost_per_task")

VERDICTS = ("fail", "inconclusive", "ok", "improved", "info")


class InvalidComparison(RunFailed):
    """A run is not valid for comparison (too many infrastructure errors, nothing to pair): exit 3."""

    exit_code = ExitCode.RUN_FAILED


class BaselineMismatch(ConfigError):
    """The baseline was made from a different version of the suite: exit 2."""


@dataclass
class Validity:
    """Whether the two runs can be compared at all."""

    base_error_rate: float
    new_error_rate: float
    max_error_rate: float
    paired_units: int
    base_only: int  # units of the baseline that the new run lacks
    new_only: int
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons


@dataclass
class GateReport:
    """The outcome of comparing a run with its baseline under a gate."""

    base_label: str
    new_label: str
    suite_name: str
    correction: str
    results: list[MetricResult]
    validity: Validity
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # cell id -> axes, for labels
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[MetricResult]:
        return [r for r in self.results if r.verdict == "fail"]

    @property
    def valid(self) -> bool:
        return self.validity.valid

    @property
    def passed(self) -> bool:
        """True when the comparison is valid and no gated metric failed."""
        return self.valid and not self.failures

    @property
    def exit_code(self) -> ExitCode:
        """0 pass, 1 gate failed, 3 the runs are not valid for comparison."""
        if not self.valid:
            return ExitCode.RUN_FAILED
        return ExitCode.GATE_FAILED if self.failures else ExitCode.OK

    def summary(self) -> str:
        """One line for a terminal or a log."""
        if not self.valid:
            return "not valid for comparison: " + "; ".join(self.validity.reasons)
        counts = {v: sum(r.verdict == v for r in self.results) for v in VERDICTS}
        tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        head = "gate FAILED" if self.failures else "gate passed"
        return (
            f"{head}: {tally} ({len(self.results)} comparisons, {self.validity.paired_units} paired samples)"
        )

    def raise_for_status(self) -> None:
        """Raise ``InvalidComparison`` (exit 3) or ``GateFailed`` (exit 1) unless the gate passed."""
        if not self.valid:
            raise InvalidComparison(self.summary())
        if self.failures:
            names = ", ".join(sorted({f"{r.metric}@{r.cell_id[:12]}" for r in self.failures}))
            raise GateFailed(f"{self.summary()}; failed: {names}")


def cache_warnings(base: RunSummary, new: RunSummary) -> list[str]:
    """A warning per side whose finished tasks were mostly served from the response cache.

    A cache hit was not timed and not paid in that run: its latency is left out and its cost is the
    one recorded when the answer was first produced. A gate on latency or cost then compares old
    numbers (or nothing at all), and a "passed" means little: rerun with ``--no-cache``."""
    from reports.compare import CACHE_WARN_SHARE

    out = []
    for side, summary in (("baseline", base), ("new run", new)):
        cached = summary.cached
        if cached is None or cached[1] == 0 or cached[0] / cached[1] <= CACHE_WARN_SHARE:
            continue
        hits, done = cached
        out.append(
            f"{side} {summary.label}: {hits} of {done} finished tasks ({hits / done:.0%}) came from the "
            "response cache, so its latency and cost were not measured in that run (latency is n/a, "
            "cost is what the cached answers cost when first produced); run it with --no-cache"
        )
    return out


def describe_mismatch(base: RunSummary, new: RunSummary) -> str:
    """Say how two suite versions differ, from what the summaries hold (cells and samples)."""
    parts = [
        f"the baseline {base.label} was made from suite {base.suite_name!r} hash {base.suite_hash[:12]} "
        f"({base.cell_count} cells, {base.sample_count} samples); {new.label} is suite "
        f"{new.suite_name!r} hash {new.suite_hash[:12]} ({new.cell_count} cells, {new.sample_count} samples)"
    ]
    bc, nc = set(base.units["cell_id"]), set(new.units["cell_id"])
    if bc - nc:
        parts.append(f"{len(bc - nc)} cells only in the baseline")
    if nc - bc:
        parts.append(f"{len(nc - bc)} cells only in the new run")
    bs, ns = set(base.units["sample_id"]), set(new.units["sample_id"])
    if bs - ns:
        parts.append(f"{len(bs - ns)} samples only in the baseline")
    if ns - bs:
        parts.append(f"{len(ns - bs)} samples only in the new run")
    bsc, nsc = set(base.scorers), set(new.scorers)
    if bsc != nsc:
        parts.append(f"scorers {sorted(bsc)} vs {sorted(nsc)}")
    if len(parts) == 1:
        parts.append("same cells and samples: the prompts, settings or seeds of the tasks changed")
    return "; ".join(parts) + ". Save a new baseline, or compare anyway with --allow-suite-change."


def check_compatible(base: RunSummary, new: RunSummary) -> None:
    """Refuse a baseline from a different suite version (different hash of the task identities)."""
    if base.suite_hash and new.suite_hash and base.suite_hash != new.suite_hash:
        raise BaselineMismatch(describe_mismatch(base, new))


def default_gate(base: RunSummary, new: RunSummary) -> Gate:
    """The gate used when neither the caller nor the run gives one: no score may drop at all."""
    common = sorted(set(base.scorers) & set(new.scorers))
    return Gate(metrics=[MetricGate(metric=s, max_drop=0.0) for s in common])


def resolve_gate(gate: Gate | dict[str, Any] | None, base: RunSummary, new: RunSummary) -> Gate:
    """The gate to apply: the given one, else the new run's recorded gate, else ``default_gate``."""
    if isinstance(gate, Gate):
        return gate
    if gate is not None:
        return Gate.model_validate(gate)
    if new.gate:
        return Gate.model_validate(new.gate)
    return default_gate(base, new)


def _metric_specs(gate: Gate, base: RunSummary, new: RunSummary) -> list[MetricGate]:
    """Gated metrics first, then every other scorer and the usual latency/cost ratios as info rows."""
    common = set(base.scorers) & set(new.scorers)
    specs: list[MetricGate] = []
    seen: set[str] = set()
    for spec in gate.metrics:
        if spec.metric in RATIO_METRICS:
            if spec.max_drop is not None:
                raise ConfigError(
                    f"gate metric {spec.metric}: a cost or latency takes max_increase, not max_drop"
                )
        elif spec.metric in common:
            if spec.max_increase is not None:
                raise ConfigError(f"gate metric {spec.metric}: a score takes max_drop, not max_increase")
        else:
            known = sorted(common) + sorted(RATIO_METRICS)
            raise ConfigError(
                f"gate metric {spec.metric!r} is not measured in both runs (known: {', '.join(known)})"
            )
        if spec.metric == "cost_per_correct" and spec.scorer is None:
            binary = sorted(s for s in common if base.scorers[s] == "binary")
            if not binary:
                raise ConfigError("cost_per_correct needs a pass/fail scorer; none is shared by both runs")
            spec = spec.model_copy(update={"scorer": binary[0]})
        specs.append(spec)
        seen.add(spec.metric)
    for name in sorted(common) + list(INFO_RATIOS):
        if name not in seen:
            specs.append(MetricGate(metric=name))
    return specs


def decide(r: MetricResult, alpha: float) -> str:
    """The verdict of one measured metric (the rule of the module docstring), after correction."""
    if r.tolerance is None or r.p_value is None:
        return "info" if r.tolerance is None else "inconclusive"
    if not (np.isfinite(r.ci_low) and np.isfinite(r.ci_high)):
        return "inconclusive"
    p = r.p_adjusted if r.p_adjusted is not None else r.p_value
    if r.kind == "score":
        if r.ci_high < -r.tolerance and p < alpha:
            return "fail"
        if r.ci_low > 0:
            return "improved"
        return "ok" if r.ci_low >= -r.tolerance else "inconclusive"
    if r.ci_low > r.tolerance and p < alpha:
        return "fail"
    if r.ci_high < 1:
        return "improved"
    return "ok" if r.ci_high <= r.tolerance else "inconclusive"


def apply_correction(results: list[MetricResult], correction: str) -> None:
    """Fill ``p_adjusted`` of every gated result: Holm (FWER), Benjamini-Hochberg (FDR) or none."""
    from statsmodels.stats.multitest import multipletests

    gated = [r for r in results if r.p_value is not None and r.tolerance is not None]
    if not gated:
        return
    pvals = np.array([r.p_value for r in gated], dtype=float)
    if correction == "none" or len(gated) == 1:
        adjusted = pvals
    else:
        method = {"holm": "holm", "bh": "fdr_bh"}.get(correction)
        if method is None:
            raise ConfigError(f"unknown correction {correction!r}: use none, holm or bh")
        # The adjusted p-values do not depend on alpha; each is compared with its own metric's alpha.
        adjusted = multipletests(pvals, alpha=0.05, method=method)[1]
    for r, p in zip(gated, adjusted, strict=True):
        r.p_adjusted = float(p)


def _validity(base: RunSummary, new: RunSummary, gate: Gate, paired: int) -> Validity:
    keys_b = set(zip(base.units["cell_id"], base.units["sample_id"], strict=True))
    keys_n = set(zip(new.units["cell_id"], new.units["sample_id"], strict=True))
    v = Validity(
        base_error_rate=base.error_rate,
        new_error_rate=new.error_rate,
        max_error_rate=gate.max_error_rate,
        paired_units=paired,
        base_only=len(keys_b - keys_n),
        new_only=len(keys_n - keys_b),
    )
    for side, run, rate in (("baseline", base, v.base_error_rate), ("new run", new, v.new_error_rate)):
        if rate > gate.max_error_rate:
            v.reasons.append(
                f"{side} {run.label}: {rate:.1%} of tasks ended in an infrastructure error "
                f"(gate max_error_rate {gate.max_error_rate:.1%})"
            )
    if paired == 0:
        v.reasons.append("no (cell, sample) is present in both runs")
    return v


def measure(cell_id: str, spec: MetricGate, cell: pd.DataFrame, *, seed: int, resamples: int) -> MetricResult:
    """Measure one metric of one cell on its paired units (``pair_units`` rows); no verdict yet."""
    rng = derive_seed(seed, cell_id, spec.metric)
    if spec.metric in RATIO_METRICS:
        arrays, stat, bv, nv, note = ratio_inputs(cell, spec.metric, spec.scorer)
        out = compare_ratio(
            arrays,
            stat,
            bv,
            nv,
            max_increase=spec.max_increase,
            confidence=spec.confidence,
            resamples=resamples,
            rng=rng,
        )
        return _result(cell_id, spec, "ratio", out, note)
    col, cnt = SCORE_PREFIX + spec.metric, COUNT_PREFIX + spec.metric
    sub = cell.dropna(subset=[f"{col}_b", f"{col}_n"])
    sub = sub[(sub[f"{cnt}_b"] > 0) & (sub[f"{cnt}_n"] > 0)]
    return score_result(
        cell_id,
        spec,
        sub[f"{col}_b"].to_numpy(float),
        sub[f"{col}_n"].to_numpy(float),
        rng=rng,
        resamples=resamples,
    )


def score_result(
    cell_id: str,
    spec: MetricGate,
    base: np.ndarray,
    new: np.ndarray,
    *,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
) -> MetricResult:
    """Measure one score from aligned per-sample arrays; ``decide`` turns it into a verdict.

    This is the statistical core of a score gate without any frame handling, which is what the
    validity simulations call thousands of times.
    """
    out = compare_scores(
        base,
        new,
        max_drop=spec.max_drop,
        relative=spec.relative,
        confidence=spec.confidence,
        test=spec.test,
        resamples=resamples,
        rng=rng,
    )
    return _result(cell_id, spec, "score", out, "")


def _result(cell_id: str, spec: MetricGate, kind: str, out: dict[str, Any], note: str) -> MetricResult:
    if out["n"] == 0 and not note:
        note = "nothing to pair"
    return MetricResult(
        cell_id=cell_id,
        metric=spec.metric,
        kind=kind,  # type: ignore[arg-type]
        test=out["test"] if out["tolerance"] is not None else "none",
        n=int(out["n"]),
        base=float(out["base"]),
        new=float(out["new"]),
        change=float(out["change"]),
        ci_low=float(out["ci"][0]),
        ci_high=float(out["ci"][1]),
        confidence=spec.confidence,
        tolerance=out["tolerance"],
        p_value=out["p_value"],
        p_change=out["p_change"],
        note=note,
        extra=out["extra"],
    )


def evaluate(
    base: RunSummary,
    new: RunSummary,
    gate: Gate | dict[str, Any] | None = None,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    allow_suite_change: bool = False,
) -> GateReport:
    """Compare ``new`` with ``base`` under ``gate`` (see the module docstring for the decision rule).

    Raises ``BaselineMismatch`` when the suite hashes differ (unless ``allow_suite_change``) and
    ``ConfigError`` for a gate naming an unknown metric. An invalid comparison is not raised: the
    report says so (``report.valid``, ``report.exit_code == 3``).
    """
    warnings: list[str] = []
    if allow_suite_change:
        if base.suite_hash != new.suite_hash:
            warnings.append("suite changed since the baseline; comparing the samples and cells both have")
    else:
        check_compatible(base, new)
    warnings.extend(cache_warnings(base, new))
    g = resolve_gate(gate, base, new)
    specs = _metric_specs(g, base, new)
    pairs = pair_units(base.units, new.units)
    # Only samples that finished in both runs pair; errored ones are counted by the validity check.
    pairs = pairs[(pairs["n_done_b"] > 0) & (pairs["n_done_n"] > 0)]
    validity = _validity(base, new, g, len(pairs))
    results = [
        measure(str(cell_id), spec, cell, seed=seed, resamples=resamples)
        for cell_id, cell in pairs.groupby("cell_id", sort=True)
        for spec in specs
    ]
    apply_correction(results, g.correction)
    for r in results:
        # Each metric keeps its own confidence (a gate may hold the same metric twice).
        r.verdict = decide(r, 1 - r.confidence)
    cells = {**base.cells, **new.cells}
    return GateReport(
        base_label=base.label,
        new_label=new.label,
        suite_name=new.suite_name,
        correction=g.correction,
        results=results,
        validity=validity,
        cells=cells,
        warnings=warnings,
    )


def load_side(path: str | Path) -> RunSummary:
    """A run directory (or its run.sqlite) or a saved baseline file."""
    from reports.baseline import is_baseline_file, load_baseline

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{path}: no such run directory or baseline file")
    if p.is_file() and is_baseline_file(p):
        return load_baseline(p)
    return summarize_run(p)


def compare_paths(
    base_path: str | Path,
    new_path: str | Path,
    gate: Gate | dict[str, Any] | None = None,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    allow_suite_change: bool = False,
) -> GateReport:
    """``evaluate`` on two paths, each a run directory or a baseline file."""
    return evaluate(
        load_side(base_path),
        load_side(new_path),
        gate,
        seed=seed,
        resamples=resamples,
        allow_suite_change=allow_suite_change,
    )


def check_against_baseline(
    run_dir: str | Path,
    baseline_path: str | Path,
    gate: Gate | dict[str, Any] | None = None,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> GateReport:
    """Compare a finished run with a committed baseline file (``evals run SUITE --baseline FILE``).

    Returns the report; its ``exit_code`` is 0 (pass), 1 (gate failed) or 3 (not valid for
    comparison), and ``raise_for_status()`` raises the matching ``EvalsError``. Raises
    ``BaselineMismatch`` (exit 2) when the baseline comes from another version of the suite.
    """
    return compare_paths(baseline_path, run_dir, gate, seed=seed, resamples=resamples)
