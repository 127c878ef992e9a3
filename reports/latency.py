"""Latency metrics of a run, per cell, with their percentiles.

Every metric comes from the final attempt of a task that finished (status ``done``), was not a
cache hit (a cached answer measures the cache, not the model) and was not resolved by polling after a
conflict (attempts.notes_json ``{"resolved_by": "conflict_poll"}``: the answer was fetched from an
earlier submission, so the attempt's times measure the polling, not the generation). Times are
monotonic seconds.

    latency_s        end to end: t_done - t_sent
    ttft_s           time to first token: t_first_token - t_sent (streamed attempts only)
    tpot_s           time per output token after the first: (t_last_token - t_first_token) / (completion_tokens - 1)
    decode_tps       decode rate, output tokens per second after the first: 1 / tpot_s
    e2e_tps          end-to-end output throughput of one task: completion_tokens / latency_s
    itl_s            inter-token latency: gaps between consecutive token-bearing stream events
                     (an event may carry several tokens, so this is an inter-event latency)
    dispatch_delay_s open-loop runs only: dispatched_at - scheduled_at (how late the client sent)

Percentiles use linear interpolation between order statistics (numpy's default).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from reports import columns as C
from reports.frames import Run, connect, to_frame

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("latency_s", "ttft_s", "tpot_s", "decode_tps", "e2e_tps", "itl_s", "dispatch_delay_s")
ALL_CELLS = "(all)"
ITL_ATTEMPTS_PER_CELL = 2_000
CONFLICT_POLL = "conflict_poll"
"""Streamed attempts per cell whose token events feed the inter-token latency percentiles. Task ids
are hashes, so the first ones by id are an unbiased subset; this bounds memory on huge runs."""


def timed_mask(tasks: pd.DataFrame) -> pd.Series:
    """Tasks whose final attempt times the model: done, not from the cache, not resolved by a
    conflict poll (see the module docstring)."""
    done = (tasks["status"] == "done").fillna(False)
    cached = tasks["cache_hit"].fillna(False).astype(bool)
    polled = (
        (tasks["resolved_by"] == CONFLICT_POLL).fillna(False).astype(bool)
        if "resolved_by" in tasks.columns
        else False
    )
    return done & ~cached & ~polled


def task_metrics(tasks: pd.DataFrame) -> pd.DataFrame:
    """Per-task latency metrics (NaN where not measured), with ``task_id`` and ``cell_id``."""
    import numpy as np
    import pandas as pd

    measured = timed_mask(tasks)
    completion = tasks["completion_tokens"].astype("float64")
    decode_time = tasks["t_last_token"] - tasks["t_first_token"]
    with np.errstate(divide="ignore", invalid="ignore"):
        tpot = decode_time / (completion - 1)
        tpot = tpot.where((completion >= 2) & (decode_time > 0))
        e2e_tps = (completion / tasks["latency_s"]).where(tasks["latency_s"] > 0)
    out = pd.DataFrame(
        {
            "task_id": tasks["task_id"],
            "cell_id": tasks["cell_id"],
            "latency_s": tasks["latency_s"],
            "ttft_s": tasks["ttft_s"],
            "tpot_s": tpot,
            "decode_tps": 1.0 / tpot,
            "e2e_tps": e2e_tps,
            "dispatch_delay_s": tasks["dispatched_at"] - tasks["scheduled_at"],
        }
    )
    cols = ["latency_s", "ttft_s", "tpot_s", "decode_tps", "e2e_tps"]
    out[cols] = out[cols].where(measured, np.nan)
    return out


def inter_token_latencies(run: Run, per_cell: int = ITL_ATTEMPTS_PER_CELL) -> pd.DataFrame:
    """Gaps between consecutive token events of final streamed attempts: columns cell_id, itl_s.

    At most ``per_cell`` attempts per cell are read (see ``ITL_ATTEMPTS_PER_CELL``)."""
    import numpy as np
    import pandas as pd

    sql = """
    SELECT cell_id, token_events_json FROM (
      SELECT t.cell_id, a.token_events_json,
             ROW_NUMBER() OVER (PARTITION BY t.cell_id ORDER BY t.task_id) AS k
      FROM tasks t JOIN attempts a ON a.task_id = t.task_id
      WHERE t.warmup = 0 AND t.status = 'done' AND t.cache_hit = 0
        AND a.token_events_json IS NOT NULL
        AND COALESCE(json_extract(CASE WHEN json_valid(a.notes_json) THEN a.notes_json END,
                                  '$.resolved_by'), '') != 'conflict_poll'
        AND a.number = (SELECT MAX(a2.number) FROM attempts a2 WHERE a2.task_id = t.task_id)
    ) WHERE k <= ?
    """
    cells: list[str] = []
    gaps: list[np.ndarray] = []
    with connect(run.path) as con:
        for cell_id, events_json in con.execute(sql, (per_cell,)):
            events = np.asarray(json.loads(events_json), dtype=float)
            if events.size >= 2:
                d = np.diff(events)
                gaps.append(d)
                cells.extend([cell_id] * d.size)
    values = np.concatenate(gaps) if gaps else np.empty(0)
    return pd.DataFrame({"cell_id": pd.Series(cells, dtype="string"), "itl_s": values})


def _percentile_rows(long: pd.DataFrame, key: str) -> pd.DataFrame:
    """Percentile table of a long frame (key, metric, value)."""
    import pandas as pd

    if long.empty:
        return pd.DataFrame(columns=[key, "metric", "n", "mean", "p50", "p90", "p95", "p99"])
    grouped = long.groupby([key, "metric"], sort=False)["value"]
    q = grouped.quantile([0.5, 0.9, 0.95, 0.99]).unstack()
    q.columns = ["p50", "p90", "p95", "p99"]
    stats = pd.concat([grouped.size().rename("n"), grouped.mean().rename("mean"), q], axis=1)
    return stats.reset_index()


def latency_table(run: Run, *, itl: bool = True) -> pd.DataFrame:
    """One row per (cell, metric) with n, mean, p50, p90, p95, p99; cell ``(all)`` pools the run.

    Metrics with no measurement in a cell (e.g. ttft of a sync cell) are left out."""
    import pandas as pd

    per_task = task_metrics(run.tasks)
    long = per_task.melt(id_vars=["cell_id"], value_vars=[m for m in METRICS if m != "itl_s"])
    long = long.rename(columns={"variable": "metric"})
    if itl:
        gaps = inter_token_latencies(run)
        long = pd.concat(
            [long, pd.DataFrame({"cell_id": gaps["cell_id"], "metric": "itl_s", "value": gaps["itl_s"]})]
        )
    long = long.dropna(subset=["value"])
    pooled = long.assign(cell_id=ALL_CELLS)
    table = pd.concat([_percentile_rows(long, "cell_id"), _percentile_rows(pooled, "cell_id")])
    order = {m: i for i, m in enumerate(METRICS)}
    cell_order = {c: i for i, c in enumerate([*run.cells["cell_id"], ALL_CELLS])}
    table = table.sort_values(
        ["cell_id", "metric"],
        key=lambda s: s.map(cell_order if s.name == "cell_id" else order).fillna(math.inf),
    )
    return to_frame(table, C.PERCENTILE_TABLE)


def throughput_over_time(run: Run, bins: int | None = None) -> pd.DataFrame:
    """Completions and output tokens per second over the run, in ``bins`` equal time bins
    (default: one per ten finished tasks, between 5 and 60, so small runs are not all spikes).

    Columns: t_start, t_end (monotonic s), completions_per_s, output_tps, in_flight (tasks sent and
    not yet done at the bin's middle)."""
    import numpy as np
    import pandas as pd

    t = run.tasks[(run.tasks["status"] == "done").fillna(False) & run.tasks["t_done"].notna()]
    if t.empty:
        return pd.DataFrame(columns=["t_start", "t_end", "completions_per_s", "output_tps", "in_flight"])
    if bins is None:
        bins = int(min(60, max(5, len(t) // 10)))
    lo = float(np.nanmin(t["t_sent"].to_numpy(dtype=float, na_value=np.nan)))
    lo = min(lo, float(t["t_done"].min())) if math.isfinite(lo) else float(t["t_done"].min())
    hi = float(t["t_done"].max())
    if hi <= lo:
        hi = lo + 1e-9
    edges = np.linspace(lo, hi, bins + 1)
    width = edges[1] - edges[0]
    done = t["t_done"].to_numpy(dtype=float)
    tokens = t["completion_tokens"].astype("float64").fillna(0).to_numpy()
    count, _ = np.histogram(done, edges)
    tok, _ = np.histogram(done, edges, weights=tokens)
    mids = (edges[:-1] + edges[1:]) / 2
    sent = np.sort(t["t_sent"].dropna().to_numpy(dtype=float))
    done_sorted = np.sort(done)
    in_flight = np.searchsorted(sent, mids, side="right") - np.searchsorted(done_sorted, mids, side="right")
    return pd.DataFrame(
        {
            "t_start": edges[:-1],
            "t_end": edges[1:],
            "completions_per_s": count / width,
            "output_tps": tok / width,
            "in_flight": in_flight,
        }
    )
