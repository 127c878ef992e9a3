"""Paired comparison of two runs: join by cell and sample identity, then one statistic per metric.

    tasks + scores frames ──► unit table (one row per cell × sample) ──► pair(base, new)
                                                                             │ per cell, per metric
                                                                             ▼
                                                                        MetricResult

The unit of pairing and of resampling is a *sample within a cell*: replicates and multiple results of
one sample are averaged first, because they share the sample's difficulty and are not independent.
A baseline file (``reports.baseline``) stores exactly this unit table, so a run and a baseline compare
through the same code.

Two families of metrics:

* scores (one per scorer): the paired difference ``new - base`` of per-sample means and a one-sided
  test of ``H0: new - base >= -tolerance``: exact McNemar for pass/fail scores with one outcome per
  sample (its interval inverts the same test), else a paired permutation test with a paired
  bootstrap interval;
* ratios (latency and cost): ``new / base`` of a median, a p95, a mean cost per task or a cost per
  correct answer, with a paired bootstrap interval and a bootstrap test of ``H0: ratio <= 1 + max_increase``.

Verdicts and multiple-testing corrections are ``reports.gate``'s job; this module only measures.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evals.errors import ConfigError, StoreError

if TYPE_CHECKING:
    import pandas as pd

# The ratio metrics (new / base) a gate may name besides the scorers, with what each one measures.
RATIO_METRICS: dict[str, str] = {
    "latency_p50": "median task latency (s)",
    "latency_p95": "95th percentile task latency (s)",
    "ttft_p50": "median time to first token (s)",
    "ttft_p95": "95th percentile time to first token (s)",
    "cost_per_task": "mean cost per task (USD)",
    "cost_per_correct": "cost per correct answer (USD)",
}

SCORE_PREFIX = "score:"
COUNT_PREFIX = "count:"

# Columns of the unit table besides the per-scorer ones.
UNIT_COLUMNS = (
    "cell_id",
    "sample_id",
    "n_tasks",  # tasks of this sample in this cell (replicates), warm-up excluded
    "n_done",
    "n_errored",
    "latency_s",  # mean over done, non-cached tasks; NaN when none
    "ttft_s",
    "cost_sum",  # summed cost of done tasks whose cost is known
    "n_cost",  # how many done tasks had a known cost
    "n_cached",  # done tasks served from the response cache (not timed; cost not paid in this run)
)

# A side whose finished tasks are mostly cache hits measured neither latency nor cost in that run.
CACHE_WARN_SHARE = 0.5

ScoreKind = Literal["binary", "continuous"]
TestName = Literal["mcnemar", "bootstrap", "permutation"]

DEFAULT_RESAMPLES = 2000


@dataclass
class RunSummary:
    """One side of a comparison: a run or a baseline file, reduced to its unit table."""

    label: str  # a path, for messages
    suite_name: str
    suite_hash: str
    harness_version: str
    units: pd.DataFrame  # UNIT_COLUMNS + score:<scorer>, count:<scorer>
    scorers: dict[str, ScoreKind]
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # cell id -> axes
    run_id: str | None = None
    gate: dict[str, Any] | None = None  # the run's gate section, when the run recorded one

    @property
    def error_rate(self) -> float:
        """Errored tasks over tasks that finished (done or errored); 0 when nothing finished."""
        done = float(self.units["n_done"].sum())
        errored = float(self.units["n_errored"].sum())
        return errored / (done + errored) if done + errored else 0.0

    @property
    def cached(self) -> tuple[int, int] | None:
        """(done tasks served from the cache, done tasks); None when unknown (an older baseline)."""
        if "n_cached" not in self.units or self.units["n_cached"].isna().all():
            return None
        return int(self.units["n_cached"].fillna(0).sum()), int(self.units["n_done"].sum())

    @property
    def cell_count(self) -> int:
        return int(self.units["cell_id"].nunique())

    @property
    def sample_count(self) -> int:
        return int(self.units["sample_id"].nunique())


@dataclass
class MetricResult:
    """One metric of one cell, measured on paired units. ``verdict`` is filled in by ``reports.gate``."""

    cell_id: str
    metric: str
    kind: Literal["score", "ratio"]
    test: str  # mcnemar | permutation | bootstrap | none
    n: int  # paired units used
    base: float
    new: float
    change: float  # score: new - base; ratio: new / base
    ci_low: float
    ci_high: float
    confidence: float
    tolerance: float | None  # score: the largest acceptable drop (absolute); ratio: 1 + max_increase
    p_value: float | None  # one-sided test of "within tolerance"; None when the metric is not gated
    p_change: float | None = None  # two-sided test of "no change at all" (exact McNemar), for reading
    p_adjusted: float | None = None
    verdict: str = "info"
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)  # e.g. discordant pair counts


# --------------------------------------------------------------------------------------------------
# Unit tables


def _as_float(col: pd.Series) -> pd.Series:
    """Any numeric or nullable column (boolean, Int64, object with None) as float64 with NaN."""
    import pandas as pd

    return pd.Series(col.to_numpy(dtype=float, na_value=np.nan), index=col.index)


def unit_table(scores: pd.DataFrame, tasks: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, ScoreKind]]:
    """Reduce a run's task and score frames to one row per (cell, sample).

    ``tasks`` needs task_id, cell_id, sample_id, status, cache_hit, latency_s, ttft_s, cost;
    ``scores`` needs task_id, result_index, scorer, pass_id, value, passed. Only the latest scoring
    pass counts. A pass/fail score counts ``passed``; a continuous score counts ``value``; a scorer
    failure (both null) is left out rather than counted as wrong.
    """
    import pandas as pd

    missing = {"task_id", "cell_id", "sample_id", "status", "cache_hit", "latency_s", "ttft_s", "cost"} - set(
        tasks.columns
    )
    if missing:
        raise StoreError(f"tasks frame lacks columns {sorted(missing)}")
    t = tasks.copy()
    t["is_done"] = t["status"] == "done"
    t["is_errored"] = t["status"] == "errored"
    cache = _as_float(t["cache_hit"]).fillna(0) > 0
    # A cached answer was not timed in this run: its latency says nothing about the server. Nor is
    # an answer fetched by polling an earlier submission after a conflict (its times measure the poll).
    polled = (
        (t["resolved_by"] == "conflict_poll").fillna(False).astype(bool)
        if "resolved_by" in t.columns
        else pd.Series(False, index=t.index)
    )
    timed = t["is_done"] & ~cache & ~polled
    t["cached"] = t["is_done"] & cache
    t["lat"] = _as_float(t["latency_s"]).where(timed)
    t["ttf"] = _as_float(t["ttft_s"]).where(timed)
    # ``cost`` is what the answer cost when produced (kept for cache hits): the price of the setting.
    t["c"] = _as_float(t["cost"]).where(t["is_done"])
    t["has_c"] = t["c"].notna()
    grouped = t.groupby(["cell_id", "sample_id"], sort=True)
    units = pd.DataFrame(
        {
            "n_tasks": grouped.size(),
            "n_done": grouped["is_done"].sum(),
            "n_errored": grouped["is_errored"].sum(),
            "latency_s": grouped["lat"].mean(),
            "ttft_s": grouped["ttf"].mean(),
            "cost_sum": grouped["c"].sum(min_count=1),
            "n_cost": grouped["has_c"].sum(),
            "n_cached": grouped["cached"].sum(),
        }
    )
    kinds: dict[str, ScoreKind] = {}
    if len(scores):
        s = scores.copy()
        latest = s.groupby(["task_id", "result_index", "scorer"])["pass_id"].transform("max")
        s = s[s["pass_id"] == latest]
        done_ids = t.loc[t["is_done"], ["task_id", "cell_id", "sample_id"]]
        s = s.drop(columns=[c for c in ("cell_id", "sample_id") if c in s.columns]).merge(
            done_ids, on="task_id", how="inner"
        )
        passed, value = _as_float(s["passed"]), _as_float(s["value"])
        s["v"] = passed.where(passed.notna(), value)
        for scorer, rows in s.groupby("scorer", sort=True):
            name = str(scorer)
            kinds[name] = "binary" if rows["passed"].notna().all() else "continuous"
            g = rows.dropna(subset=["v"]).groupby(["cell_id", "sample_id"])["v"]
            units[SCORE_PREFIX + name] = g.mean()
            units[COUNT_PREFIX + name] = g.size()
            units[COUNT_PREFIX + name] = units[COUNT_PREFIX + name].fillna(0).astype("int64")
    units = units.reset_index()
    for col in ("n_tasks", "n_done", "n_errored", "n_cost", "n_cached"):
        units[col] = units[col].astype("int64")
    return units, kinds


def _run_db(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    db = path / "run.sqlite" if path.is_dir() else path
    if not db.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no run.sqlite)")
    return db


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The ``run`` row of a run database, as a dict."""
    db = _run_db(run_dir)
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM run LIMIT 1").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: {exc}") from exc
    if row is None:
        raise StoreError(f"{db}: no run manifest")
    return dict(row)


def _frames_from_sql(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the task and score frames straight from the run database (used when ``reports.load`` is absent)."""
    import pandas as pd

    tasks_sql = """
        SELECT t.task_id, t.cell_id, t.sample_id, t.replicate, t.status, t.error_class, t.attempts,
               t.cache_hit, a.t_done - a.t_sent AS latency_s, a.t_first_token - a.t_sent AS ttft_s,
               t.usage_completion_tokens AS completion_tokens, t.usage_prompt_tokens AS prompt_tokens,
               t.usage_thinking_tokens AS thinking_tokens, t.cost, t.cost_spent,
               CASE WHEN json_valid(a.notes_json) THEN json_extract(a.notes_json, '$.resolved_by') END
                 AS resolved_by
        FROM tasks t
        LEFT JOIN attempts a ON a.task_id = t.task_id AND a.number = t.attempts
        WHERE t.warmup = 0
    """
    scores_sql = """
        SELECT s.task_id, t.cell_id, t.sample_id, t.replicate, s.result_index, s.scorer, s.pass_id,
               s.value, s.passed
        FROM scores s JOIN tasks t ON t.task_id = s.task_id
        WHERE t.warmup = 0
    """
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            tasks = pd.read_sql_query(tasks_sql, con)
            scores = pd.read_sql_query(scores_sql, con)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise StoreError(f"{db}: {exc}") from exc
    return scores, tasks


def load_frames(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (scores, tasks) frames of a run, through the reports loader (``reports.frames.load``).

    Falls back to reading the database directly only if that loader is not importable, so the
    comparison keeps working in a reduced install.
    """
    db = _run_db(run_dir)
    try:
        from reports.frames import load
    except ImportError:
        return _frames_from_sql(db)
    run = load(db, texts=False)
    return run.scores, run.tasks


def summarize_run(run_dir: str | Path) -> RunSummary:
    """Read a run directory (or its ``run.sqlite``) into a ``RunSummary``."""
    manifest = read_manifest(run_dir)
    scores, tasks = load_frames(run_dir)
    units, kinds = unit_table(scores, tasks)
    expanded: dict[str, Any] = {}
    if manifest.get("expanded_json"):
        try:
            expanded = json.loads(manifest["expanded_json"])
        except json.JSONDecodeError:
            expanded = {}
    cells: dict[str, dict[str, Any]] = {}
    db = _run_db(run_dir)
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            for cell_id, axes_json in con.execute("SELECT cell_id, axes_json FROM cells"):
                cells[str(cell_id)] = json.loads(axes_json or "{}")
    except (sqlite3.Error, json.JSONDecodeError) as exc:
        raise StoreError(f"{db}: {exc}") from exc
    gate = expanded.get("gate") if isinstance(expanded, dict) else None
    return RunSummary(
        label=str(run_dir),
        suite_name=str(manifest.get("suite_name", "")),
        suite_hash=str(manifest.get("suite_hash", "")),
        harness_version=str(manifest.get("harness_version", "")),
        units=units,
        scorers=kinds,
        cells=cells,
        run_id=manifest.get("run_id"),
        gate=gate if isinstance(gate, dict) else None,
    )


def pair_units(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Inner join of two unit tables on (cell_id, sample_id); columns get ``_b`` and ``_n`` suffixes."""
    return base.merge(new, on=["cell_id", "sample_id"], how="inner", suffixes=("_b", "_n"), sort=True)


# --------------------------------------------------------------------------------------------------
# Statistics


def derive_seed(seed: int, *parts: str) -> np.random.Generator:
    """A generator seeded from ``seed`` and names, so each (cell, metric) gets its own stable stream."""
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(p.encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def bootstrap_distribution(
    arrays: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int,
    rng: np.random.Generator,
    max_cells: int = 4_000_000,
) -> np.ndarray:
    """Paired bootstrap: resample unit indices (the same for every array), vectorised in batches.

    ``statistic(*arrays_resampled, axis=-1)`` receives arrays of shape (batch, n) and returns (batch,).
    Batches keep memory bounded (``max_cells`` indices at a time) for large suites.
    """
    n = len(arrays[0])
    batch = max(1, min(resamples, max_cells // max(n, 1)))
    out = np.empty(resamples)
    done = 0
    while done < resamples:
        b = min(batch, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        out[done : done + b] = statistic(*(a[idx] for a in arrays), axis=-1)
        done += b
    return out


def _two_sided_bounds(dist: np.ndarray, confidence: float) -> tuple[float, float]:
    # Each end is a one-sided bound at ``confidence``: the gate reads the upper end for a drop and
    # the lower end for an improvement, so the pair is the two-sided (2c - 1) interval.
    lo, hi = np.quantile(dist, [1 - confidence, confidence])
    return float(lo), float(hi)


def mcnemar_margin_pvalue(n10: int, n01: int, n: int, margin: float) -> float:
    """One-sided exact test of ``H0: p(new) - p(base) >= -margin`` on paired pass/fail outcomes.

    ``n10``: pairs that passed in the base and failed in the new run; ``n01``: the reverse. Given the
    ``m = n10 + n01`` discordant pairs, ``n10 ~ Binomial(m, theta)``; at the boundary of H0,
    ``theta = (psi + margin) / (2 psi)`` with ``psi`` the discordance rate, estimated by ``m / n``. With
    ``margin = 0`` this is exactly the one-sided exact McNemar test (``theta = 1/2``).
    """
    from scipy.stats import binom

    m = n10 + n01
    if m == 0 or n == 0:
        return 1.0
    psi = m / n
    theta = (psi + margin) / (2 * psi)
    if theta >= 1:
        # The observed discordance cannot even produce a drop as large as the margin.
        return 1.0
    # P(X >= n10) under Binomial(m, theta): the exact binomial test's one-sided p-value.
    return float(binom.sf(n10 - 1, m, max(theta, 0.0)))


def mcnemar_interval(n10: int, n01: int, n: int, confidence: float) -> tuple[float, float]:
    """The interval of ``p(new) - p(base)`` obtained by inverting ``mcnemar_margin_pvalue``.

    The test rejects a margin ``t`` exactly when its ``theta(t)`` lies below the one-sided
    Clopper-Pearson lower bound ``theta_L`` of ``n10 / m``, so the upper end of the interval is
    ``psi (1 - 2 theta_L)``; the lower end is the same for the reversed comparison. "The interval
    lies beyond the tolerance" and "the test rejects at the tolerance" are thus one statement.
    """
    from scipy.stats import beta

    m = n10 + n01
    if n == 0 or m == 0:
        return 0.0, 0.0
    psi = m / n
    alpha = 1 - confidence

    def upper(worse: int, better: int) -> float:
        theta_low = float(beta.ppf(alpha, worse, better + 1)) if worse > 0 else 0.0
        return psi * (1 - 2 * theta_low)

    return -upper(n01, n10), upper(n10, n01)


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(x - y, axis=axis))


def _mean(d: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(d, axis=axis))


def compare_scores(
    base: np.ndarray,
    new: np.ndarray,
    *,
    max_drop: float | None,
    relative: bool = False,
    confidence: float = 0.95,
    test: str = "auto",
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Paired comparison of one score on ``n`` units (arrays of per-unit means, aligned).

    Returns base, new, change (new - base), the bootstrap interval, the tolerance (absolute drop),
    the chosen test and its one-sided p-value for ``H0: change >= -tolerance`` (None if not gated).
    """
    from scipy.stats import permutation_test

    base = np.asarray(base, dtype=float)
    new = np.asarray(new, dtype=float)
    n = len(base)
    out: dict[str, Any] = {"n": n, "extra": {}}
    if n == 0:
        return {
            **out,
            "base": np.nan,
            "new": np.nan,
            "change": np.nan,
            "ci": (np.nan, np.nan),
            # A gated score with nothing to pair stays gated: the gate reads it as inconclusive.
            "tolerance": None if max_drop is None else (np.nan if relative else max_drop),
            "test": "none",
            "p_value": None,
            "p_change": None,
        }
    b_mean, n_mean = float(base.mean()), float(new.mean())
    diff = new - base
    binary = bool(np.isin(base, (0.0, 1.0)).all() and np.isin(new, (0.0, 1.0)).all())
    chosen = test
    if test == "auto":
        chosen = "mcnemar" if binary else "permutation"
    if chosen == "mcnemar" and not binary:
        raise ConfigError(
            "the McNemar test needs one pass/fail outcome per sample; this score is averaged over "
            "replicates or results (use test: permutation or bootstrap)"
        )
    tolerance = None if max_drop is None else (max_drop * abs(b_mean) if relative else max_drop)
    n10 = int(((base == 1) & (new == 0)).sum())
    n01 = int(((base == 0) & (new == 1)).sum())
    dist = np.empty(0)
    if chosen == "mcnemar":
        ci = mcnemar_interval(n10, n01, n, confidence)
    else:
        dist = bootstrap_distribution((diff,), _mean, resamples=resamples, rng=rng)
        ci = _two_sided_bounds(dist, confidence)
    p_change = None
    if binary:
        from statsmodels.stats.contingency_tables import mcnemar

        n11 = int(((base == 1) & (new == 1)).sum())
        n00 = n - n10 - n01 - n11
        out["extra"] = {"base_only_pass": float(n10), "new_only_pass": float(n01)}
        p_change = float(mcnemar([[n11, n10], [n01, n00]], exact=True).pvalue)
    p_value: float | None = None
    if tolerance is not None:
        if chosen == "mcnemar":
            p_value = mcnemar_margin_pvalue(n10, n01, n, tolerance)
        elif chosen == "permutation":
            # Shift by the tolerance, then swap within pairs (sign flips of the shifted difference).
            if np.allclose(diff + tolerance, 0):
                p_value = 1.0
            else:
                res = permutation_test(
                    (new + tolerance, base),
                    _mean_diff,
                    permutation_type="samples",
                    alternative="less",
                    n_resamples=resamples,
                    vectorized=True,
                    rng=rng,
                )
                p_value = float(res.pvalue)
        elif chosen == "bootstrap":
            p_value = float((1 + np.count_nonzero(dist >= -tolerance)) / (len(dist) + 1))
        else:
            raise ConfigError(f"unknown test {chosen!r}: use auto, mcnemar, permutation or bootstrap")
    return {
        **out,
        "base": b_mean,
        "new": n_mean,
        "change": n_mean - b_mean,
        "ci": ci,
        "tolerance": tolerance,
        "test": chosen,
        "p_value": p_value,
        "p_change": p_change,
    }


def _quantile_stat(q: float) -> Callable[..., np.ndarray]:
    def stat(b: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.log(np.quantile(n, q, axis=axis)) - np.log(np.quantile(b, q, axis=axis))

    return stat


def _ratio_of_sums(
    bn: np.ndarray, bd: np.ndarray, nn: np.ndarray, nd: np.ndarray, axis: int = -1
) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.sum(nn, axis=axis) / np.sum(nd, axis=axis)) - np.log(
            np.sum(bn, axis=axis) / np.sum(bd, axis=axis)
        )


def compare_ratio(
    arrays: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    base_value: float,
    new_value: float,
    *,
    max_increase: float | None,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Paired bootstrap of ``log(new / base)`` for a latency or cost statistic.

    ``statistic(*arrays, axis)`` returns the log ratio. The test of ``H0: ratio <= 1 + max_increase``
    is the bootstrap one: the share of resampled ratios at or below the limit.
    """
    n = len(arrays[0])
    empty = {
        "n": n,
        "base": base_value,
        "new": new_value,
        "change": np.nan,
        "ci": (np.nan, np.nan),
        "tolerance": None if max_increase is None else 1 + max_increase,
        "test": "bootstrap",
        "p_value": None,
        "p_change": None,
        "extra": {},
    }
    if n == 0 or not (base_value > 0 and np.isfinite(base_value) and np.isfinite(new_value)):
        return empty
    dist = bootstrap_distribution(arrays, statistic, resamples=resamples, rng=rng)
    dist = dist[np.isfinite(dist)]
    if len(dist) == 0:
        return empty
    lo, hi = _two_sided_bounds(dist, confidence)
    p_value = None
    if max_increase is not None:
        limit = np.log1p(max_increase)
        p_value = float((1 + np.count_nonzero(dist <= limit)) / (len(dist) + 1))
    return {
        **empty,
        "change": new_value / base_value,
        "ci": (float(np.exp(lo)), float(np.exp(hi))),
        "p_value": p_value,
    }


def ratio_inputs(
    pairs: pd.DataFrame, metric: str, scorer: str | None
) -> tuple[tuple[np.ndarray, ...], Callable[..., np.ndarray], float, float, str]:
    """The paired arrays, the log-ratio statistic and the point values of one ratio metric.

    Returns (arrays, statistic, base value, new value, note). Units where either side lacks the
    measurement are dropped.
    """
    if metric in ("latency_p50", "latency_p95", "ttft_p50", "ttft_p95"):
        col = "latency_s" if metric.startswith("latency") else "ttft_s"
        q = 0.5 if metric.endswith("p50") else 0.95
        sub = pairs[[f"{col}_b", f"{col}_n"]].dropna()
        sub = sub[(sub > 0).all(axis=1)]
        b, n = sub[f"{col}_b"].to_numpy(float), sub[f"{col}_n"].to_numpy(float)
        if len(b) == 0:
            return (b, n), _quantile_stat(q), np.nan, np.nan, "no timed tasks"
        return (b, n), _quantile_stat(q), float(np.quantile(b, q)), float(np.quantile(n, q)), ""
    if metric in ("cost_per_task", "cost_per_correct"):
        base_ok = pairs["n_cost_b"] > 0
        new_ok = pairs["n_cost_n"] > 0
        sub = pairs[base_ok & new_ok]
        if metric == "cost_per_task":
            num_b, den_b = sub["cost_sum_b"], sub["n_cost_b"]
            num_n, den_n = sub["cost_sum_n"], sub["n_cost_n"]
            note = ""
        else:
            if scorer is None:
                raise ConfigError("cost_per_correct needs a pass/fail scorer (gate key: scorer)")
            col, cnt = SCORE_PREFIX + scorer, COUNT_PREFIX + scorer
            if f"{col}_b" not in sub:
                raise ConfigError(f"cost_per_correct: no scorer named {scorer!r} in both runs")
            sub = sub.dropna(subset=[f"{col}_b", f"{col}_n"])
            # Cost of the tasks divided by the number of correct results they produced.
            num_b, den_b = sub["cost_sum_b"], sub[f"{col}_b"] * sub[f"{cnt}_b"]
            num_n, den_n = sub["cost_sum_n"], sub[f"{col}_n"] * sub[f"{cnt}_n"]
            note = f"correct = {scorer}"
        arrays = tuple(x.to_numpy(float) for x in (num_b, den_b, num_n, den_n))
        if len(sub) == 0:
            return arrays, _ratio_of_sums, np.nan, np.nan, "cost unknown"
        with np.errstate(divide="ignore", invalid="ignore"):
            bv = float(arrays[0].sum() / arrays[1].sum())
            nv = float(arrays[2].sum() / arrays[3].sum())
        return arrays, _ratio_of_sums, bv, nv, note
    raise ConfigError(f"unknown metric {metric!r}")
