"""Cost of a run, per cell.

    cost_usd             sum of tasks.cost: what the answers cost when produced (cache hits included)
    cost_spent_usd       sum of tasks.cost_spent: what this run actually paid (a cache hit pays 0),
                         warm-up tasks included: their requests were paid too (warmup_spent_usd
                         says how much of it). Warm-up stays out of every other column.
    saved_by_cache_usd   sum of (cost - cost_spent) over cache hits
    cost_per_task_usd    cost_usd / tasks_priced (tasks whose cost is known)
    cost_per_correct_usd cost_usd / correct results (results whose primary scorer passed)
    cost_input/output/thinking_usd
                         cost_usd split in proportion to the price-table value of the prompt,
                         completion and thinking tokens (thinking tokens are billed as output;
                         for OpenAI-compatible runs, whose completion_tokens already include
                         reasoning, the thinking share is taken out of the completion share);
                         NaN when the model has no price in its spec file

Unknown costs stay unknown: a sum over no known cost is NaN, never 0, and ``tasks_priced`` says
how many tasks the sum covers. ``tasks_unpriced`` (finished tasks of unknown cost) and
``spent_unknown`` (tasks that may have been paid for but whose cost was never reported: an attempt
without an HTTP answer, or a success without a cost; the store's rule) make a sum a lower bound;
renderers show it as "≥ $X (N unknown)".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reports import columns as C
from reports.frames import Run, to_frame

if TYPE_CHECKING:
    import pandas as pd


def correct_per_cell(run: Run, scorer: str | None = None) -> pd.Series:
    """Number of results whose ``scorer`` (default: the primary one) passed, per cell id."""
    import pandas as pd

    scorer = scorer or run.primary_scorer
    g = run.score_groups()
    g = g[g["scorer"] == scorer]
    if g.empty or (g["graded"] == 0).all():
        return pd.Series(dtype="Int64")
    return g.groupby("cell_id")["passed"].sum().astype("Int64")


# Spent per cell over every task, warm-up included (``run.tasks`` has no warm-up rows). A task's
# spent cost is unknown when it is NULL although a request of it may have been paid: the same rule as
# ``evals.store.RunStore.spent_so_far``, which the budget uses.
SPENT_SQL = """
SELECT t.cell_id,
       SUM(t.cost_spent) AS cost_spent_usd,
       SUM(CASE WHEN t.cost_spent IS NULL AND EXISTS (
             SELECT 1 FROM attempts a WHERE a.task_id = t.task_id
             AND (a.http_status IS NULL OR a.error_class IS NULL)) THEN 1 ELSE 0 END) AS spent_unknown,
       SUM(t.warmup) AS warmup_tasks,
       SUM(CASE WHEN t.warmup = 1 THEN t.cost_spent END) AS warmup_spent_usd
FROM tasks t GROUP BY t.cell_id
"""


def spent_per_cell(run: Run) -> pd.DataFrame:
    """What the run paid per cell, warm-up included, indexed by cell id: cost_spent_usd,
    spent_unknown, warmup_tasks, warmup_spent_usd (NaN where nothing is known)."""
    from reports.frames import _query, connect

    with connect(run.path) as con:
        out = _query(con, SPENT_SQL)
    out["cell_id"] = out["cell_id"].astype("string")
    for col in ("cost_spent_usd", "warmup_spent_usd"):
        out[col] = out[col].astype("float64")
    for col in ("spent_unknown", "warmup_tasks"):
        out[col] = out[col].fillna(0).astype("int64")
    return out.set_index("cell_id")


def cost_table(run: Run) -> pd.DataFrame:
    """One row per cell (see the module docstring for the definitions)."""
    import numpy as np
    import pandas as pd

    from evals.model_spec import get_spec

    t = run.tasks
    spec = get_spec(str(run.manifest.get("model") or "")) if run.manifest.get("model") else None
    price = spec.price if spec is not None else None
    g = t.groupby("cell_id", sort=False)
    saved = (t["cost"] - t["cost_spent"]).where(t["cache_hit"].fillna(False))
    unpriced = ((t["status"] == "done").fillna(False) & t["cost"].isna()).groupby(t["cell_id"]).sum()
    table = pd.DataFrame(
        {
            "tasks": g.size(),
            "tasks_priced": g["cost"].count(),
            "tasks_unpriced": unpriced,
            "cost_usd": g["cost"].sum(min_count=1),
            "cache_hits": g["cache_hit"].sum(),
            "saved_by_cache_usd": saved.groupby(t["cell_id"]).sum(min_count=1),
            "prompt_tokens": g["prompt_tokens"].sum(),
            "completion_tokens": g["completion_tokens"].sum(),
            "thinking_tokens": g["thinking_tokens"].sum(),
        }
    )
    spent = spent_per_cell(run).reindex(table.index)
    for col in ("cost_spent_usd", "spent_unknown", "warmup_tasks", "warmup_spent_usd"):
        table[col] = spent[col]
    table[["spent_unknown", "warmup_tasks"]] = table[["spent_unknown", "warmup_tasks"]].fillna(0)
    # No warm-up task spends exactly nothing (a known 0); warm-ups of unknown cost stay unknown.
    table["warmup_spent_usd"] = table["warmup_spent_usd"].mask(table["warmup_tasks"] == 0, 0.0)
    # No cache hit saves exactly nothing (a known 0); hits of unknown cost save an unknown amount.
    table["saved_by_cache_usd"] = table["saved_by_cache_usd"].mask(table["cache_hits"] == 0, 0.0)
    table["cost_per_task_usd"] = table["cost_usd"] / table["tasks_priced"].replace(0, np.nan)
    correct = correct_per_cell(run).reindex(table.index)
    table["correct"] = correct
    table["cost_per_correct_usd"] = table["cost_usd"] / correct.astype("float64").replace(0, np.nan)
    if price is not None:
        # Only priced tasks with known token counts inform the shares of the split.
        priced = t[t["cost"].notna()]
        pg = priced.groupby("cell_id", sort=False)
        w_in = pg["prompt_tokens"].sum().astype("float64") * price.input_per_million_usd
        completion = pg["completion_tokens"].sum().astype("float64")
        thinking = pg["thinking_tokens"].sum().astype("float64")
        if run.manifest.get("provider") == "openai":
            # OpenAI's usage counts reasoning inside completion_tokens; Runware's reports it apart.
            completion = (completion - thinking).clip(lower=0)
        w_out = completion * price.output_per_million_usd
        w_think = thinking * price.output_per_million_usd
        total = (w_in + w_out + w_think).replace(0, np.nan)
        for name, w in (("input", w_in), ("output", w_out), ("thinking", w_think)):
            table[f"cost_{name}_usd"] = table["cost_usd"] * (w / total).reindex(table.index)
    table = table.reindex([c for c in run.cells["cell_id"] if c in table.index] or table.index)
    return to_frame(table.rename_axis("cell_id").reset_index(), C.COST_TABLE)


def cost_totals(run: Run) -> dict[str, float | int | None]:
    """Run-wide totals for the manifest and summaries: cost, spent, saved, per task, per correct."""
    t = run.tasks
    known = t["cost"].notna()
    cost = float(t.loc[known, "cost"].sum()) if known.any() else None
    # What was paid includes the warm-up tasks, which ``run.tasks`` leaves out.
    paid = spent_per_cell(run)
    spent_known = paid["cost_spent_usd"].dropna()
    spent = float(spent_known.sum()) if len(spent_known) else None
    warmup_paid = paid["warmup_spent_usd"].dropna()
    cache = t["cache_hit"].fillna(False)
    saved_vals = (t["cost"] - t["cost_spent"])[cache].dropna()
    correct = int(correct_per_cell(run).sum())
    priced = int(known.sum())
    return {
        "tasks": len(t),
        "tasks_priced": priced,
        "tasks_unpriced": int(((t["status"] == "done").fillna(False) & ~known).sum()),
        "cost_usd": cost,
        "cost_spent_usd": spent,
        "spent_unknown": int(paid["spent_unknown"].sum()),
        "warmup_tasks": int(paid["warmup_tasks"].sum()),
        "warmup_spent_usd": (
            float(warmup_paid.sum())
            if len(warmup_paid)
            else (0.0 if not paid["warmup_tasks"].any() else None)
        ),
        "saved_by_cache_usd": float(saved_vals.sum()) if len(saved_vals) or not cache.any() else None,
        "cost_per_task_usd": cost / priced if cost is not None and priced else None,
        "correct": correct,
        "cost_per_correct_usd": cost / correct if cost is not None and correct else None,
        "prompt_tokens": _int_or_none(t["prompt_tokens"]),
        "completion_tokens": _int_or_none(t["completion_tokens"]),
        "thinking_tokens": _int_or_none(t["thinking_tokens"]),
        "judge_cost_usd": (
            float(run.judge_calls["cost"].sum()) if run.judge_calls["cost"].notna().any() else None
        ),
    }


def _int_or_none(s: pd.Series) -> int | None:
    return int(s.sum()) if s.notna().any() else None
