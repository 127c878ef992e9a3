"""The per-cell tables: scores with confidence intervals, pass@k, errors, finish reasons.

Score of a cell for one scorer: the mean of its values over the cell's scored results. Interval:

- pass/fail scorer and one result per sample: Wilson score interval;
- several results per sample (replicates or numberResults > 1): cluster bootstrap by sample;
- continuous scorer, one result per sample: bootstrap of the mean.

pass@1 is the mean over samples of c/n; pass@k (k = the smallest n of any sample of the cell) is the
mean over samples of 1 - C(n-c, k)/C(n, k), where n is the number of results of the sample and c
the number that passed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from reports import columns as C
from reports.frames import Run, to_frame
from reports.stats import bootstrap_mean_ci, pass_at_k, wilson_interval

if TYPE_CHECKING:
    import pandas as pd


def score_interval(
    groups: pd.DataFrame, confidence: float = 0.95, seed: int = 0
) -> tuple[int, float, float, float, str]:
    """(n, mean, low, high, method) of one cell and scorer, from its per-sample sums
    (``Run.score_groups()`` rows: n, total, graded, passed)."""
    from reports.stats import cluster_mean_ci

    g = groups[groups["n"] > 0]
    n = int(g["n"].sum())
    if n == 0:
        return 0, math.nan, math.nan, math.nan, "none"
    clustered = bool((g["n"] > 1).any())
    binary = bool((g["graded"] == g["n"]).all())
    mean = float(g["total"].sum()) / n
    if binary and not clustered:
        iv = wilson_interval(int(g["passed"].sum()), n, confidence)
        # The estimate is the mean value, which equals the pass rate for 0/1 scorers.
        return n, mean, iv.low, iv.high, iv.method
    if not clustered:
        iv = bootstrap_mean_ci(g["total"].to_numpy(dtype=float), confidence=confidence, seed=seed)
    else:
        iv = cluster_mean_ci(g["total"].to_numpy(dtype=float), g["n"].to_numpy(dtype=float), confidence, seed)
    return n, iv.estimate, iv.low, iv.high, iv.method


def pass_at_k_table(run: Run, ks: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)) -> pd.DataFrame:
    """pass@k per (cell, scorer) for each k in ``ks`` not larger than the smallest n of any
    sample, and for k = that smallest n.

    Columns: cell_id, scorer, k, pass_at_k, samples."""
    import pandas as pd

    g = run.score_groups()
    per_sample = g[g["graded"] > 0].rename(columns={"graded": "n", "n": "valued", "passed": "c"})
    if per_sample.empty:
        return pd.DataFrame(columns=["cell_id", "scorer", "k", "pass_at_k", "samples"])
    rows = []
    for (cell_id, scorer), grp in per_sample.groupby(["cell_id", "scorer"], sort=False):
        n_min = int(grp["n"].min())
        # Many samples share the same (n, c): compute each distinct pair once.
        pairs = grp.groupby(["n", "c"]).size()
        for k in sorted({k for k in ks if k <= n_min} | {n_min}):
            total = sum(pass_at_k(int(n), int(c), k) * cnt for (n, c), cnt in pairs.items())
            rows.append((cell_id, scorer, k, total / len(grp), len(grp)))
    return _in_cell_order(pd.DataFrame(rows, columns=["cell_id", "scorer", "k", "pass_at_k", "samples"]), run)


def error_table(run: Run) -> pd.DataFrame:
    """Errored tasks per (cell, error class, error code): columns cell_id, error_class, error_code,
    count, rate (of the cell's tasks), example (one error message)."""
    import pandas as pd

    t = run.tasks
    totals = t.groupby("cell_id").size()
    err = t[t["status"] == "errored"]
    if err.empty:
        return pd.DataFrame(columns=["cell_id", "error_class", "error_code", "count", "rate", "example"])
    g = err.groupby(["cell_id", "error_class", "error_code"], dropna=False, sort=False)
    out = g.agg(count=("task_id", "size"), example=("error_message", "first")).reset_index()
    out["rate"] = out["count"] / out["cell_id"].map(totals)
    out = _in_cell_order(out, run)
    return out[["cell_id", "error_class", "error_code", "count", "rate", "example"]]


def _in_cell_order(frame: pd.DataFrame, run: Run) -> pd.DataFrame:
    """Rows in the order of ``run.cells`` (sorted by axis values), ties in their own order."""
    order = {c: i for i, c in enumerate(run.cells["cell_id"])}
    return frame.sort_values(
        "cell_id", key=lambda c: c.map(order).astype("float64"), kind="stable"
    ).reset_index(drop=True)


NOT_WARMUP = "task_id NOT IN (SELECT task_id FROM tasks WHERE warmup = 1)"


def attempt_error_table(run: Run) -> pd.DataFrame:
    """Failed attempts (including retried ones) per error class and code: columns error_class,
    error_code, http_status, count. Aggregated in SQL."""
    from reports.frames import _query, connect

    sql = f"""
    SELECT error_class, error_code, http_status, COUNT(*) AS count FROM attempts
    WHERE error_class IS NOT NULL AND {NOT_WARMUP}
    GROUP BY error_class, error_code, http_status ORDER BY count DESC
    """
    with connect(run.path) as con:
        out = _query(con, sql)
    out["http_status"] = out["http_status"].astype("Int64")
    return out


def finish_reason_table(run: Run) -> pd.DataFrame:
    """Results per (cell, finish reason): columns cell_id, finish_reason, count, share.

    Counted per task in SQL, then summed per cell."""
    import pandas as pd

    from reports.frames import _query, connect

    sql = f"""
    SELECT task_id, finish_reason, COUNT(*) AS count FROM results WHERE {NOT_WARMUP}
    GROUP BY task_id, finish_reason
    """
    with connect(run.path) as con:
        per_task = _query(con, sql)
    if per_task.empty:
        return pd.DataFrame(columns=["cell_id", "finish_reason", "count", "share"])
    per_task = per_task.astype({"task_id": "string", "finish_reason": "string"})
    per_task = per_task.merge(run.tasks[["task_id", "cell_id"]], on="task_id")
    out = per_task.groupby(["cell_id", "finish_reason"], dropna=False, sort=False)["count"].sum()
    out = out.reset_index()
    out["share"] = out["count"] / out["cell_id"].map(out.groupby("cell_id")["count"].sum())
    return _in_cell_order(out, run)


def cell_summary(run: Run, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per (cell, scorer) with the columns of ``reports.columns.CELL_SUMMARY``."""
    import pandas as pd

    from reports.cost import cost_table
    from reports.latency import task_metrics

    t = run.tasks
    labels = dict(zip(run.cells["cell_id"], run.cells["label"], strict=True))
    g = t.groupby("cell_id", sort=False)
    counts = pd.DataFrame(
        {
            "tasks": g.size(),
            "done": (t["status"] == "done").groupby(t["cell_id"], sort=False).sum(),
            "errored": (t["status"] == "errored").groupby(t["cell_id"], sort=False).sum(),
        }
    )
    lat = task_metrics(t).groupby("cell_id", sort=False)
    lat_q = pd.DataFrame(
        {
            "latency_p50_s": lat["latency_s"].quantile(0.5),
            "latency_p95_s": lat["latency_s"].quantile(0.95),
            "ttft_p50_s": lat["ttft_s"].quantile(0.5),
            "ttft_p95_s": lat["ttft_s"].quantile(0.95),
        }
    )
    costs = cost_table(run).set_index("cell_id")
    pk = pass_at_k_table(run)
    scores_by = {key: grp for key, grp in run.score_groups().groupby(["cell_id", "scorer"], sort=False)}
    scorers = run.scorers
    rows = []
    for cell_id in run.cells["cell_id"]:
        base = {
            "cell_id": cell_id,
            "label": labels.get(cell_id),
            **(
                counts.loc[cell_id].to_dict()
                if cell_id in counts.index
                else {"tasks": 0, "done": 0, "errored": 0}
            ),
            **(lat_q.loc[cell_id].to_dict() if cell_id in lat_q.index else {}),
        }
        if cell_id in costs.index:
            c = costs.loc[cell_id]
            base.update(
                cost_usd=c["cost_usd"],
                cost_per_task_usd=c["cost_per_task_usd"],
                cost_per_correct_usd=c["cost_per_correct_usd"],
            )
        base["error_rate"] = base["errored"] / base["tasks"] if base["tasks"] else math.nan
        cell_scorers = [s for s in scorers if (cell_id, s) in scores_by]
        if not cell_scorers:
            rows.append({**base, "scorer": None, "n": 0, "ci_method": "none"})
            continue
        for scorer in cell_scorers:
            n, mean, low, high, method = score_interval(scores_by[(cell_id, scorer)], confidence, seed)
            mine = pk[(pk["cell_id"] == cell_id) & (pk["scorer"] == scorer)]
            row = {
                **base,
                "scorer": scorer,
                "n": n,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "ci_method": method,
            }
            if not mine.empty:
                row["pass_at_1"] = float(mine.loc[mine["k"] == 1, "pass_at_k"].iloc[0])
                last = mine.iloc[-1]
                row["k"] = int(last["k"])
                row["pass_at_k"] = float(last["pass_at_k"])
            rows.append(row)
    return to_frame(pd.DataFrame(rows), C.CELL_SUMMARY)
