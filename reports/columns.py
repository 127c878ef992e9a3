"""The declared columns and dtypes of every frame ``reports.load`` returns.

One table per frame, in output order. Dtypes are pandas names:

- ``string``: pandas' string dtype (missing is ``<NA>``);
- ``Int64`` / ``boolean``: nullable integers and booleans (unknown stays ``<NA>``, never 0 or False);
- ``float64``: measurements, costs and score values; unknown is ``NaN`` (never 0: a cost nobody
  reported is not free).

Times called ``t_*`` are monotonic seconds relative to the run start; ``*_s`` are durations in seconds.
"""

from __future__ import annotations

from typing import Final

Columns = dict[str, str]

CELLS: Final[Columns] = {
    "cell_id": "string",
    "label": "string",  # "temperature=0.2, topP=0.9": the axes, short, for tables and plots
    "model": "string",
    "number_results": "Int64",
    "delivery_method": "string",
    "prompt_variant": "string",
    "axes_json": "string",
    "settings_json": "string",
}
"""Cells frame. One extra column per grid axis follows these (named as the axis, e.g.
``settings.temperature``), with the dtype pandas infers from the axis values."""

TASKS: Final[Columns] = {
    "task_id": "string",
    "cell_id": "string",
    "sample_id": "string",
    "replicate": "Int64",
    "seed": "Int64",
    "status": "string",  # done | errored | skipped | pending
    "error_class": "string",
    "error_code": "string",
    "error_message": "string",
    "attempts": "Int64",
    "cache_hit": "boolean",
    "scheduled_at": "float64",
    "dispatched_at": "float64",
    "t_sent": "float64",  # of the final attempt
    "t_first_token": "float64",
    "t_last_token": "float64",
    "t_done": "float64",
    "latency_s": "float64",  # end to end: t_done - t_sent of the final attempt
    "ttft_s": "float64",  # t_first_token - t_sent (streamed attempts only)
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "total_tokens": "Int64",
    "thinking_tokens": "Int64",
    "cost": "float64",  # USD the answer cost when produced (kept for cache hits)
    "cost_spent": "float64",  # USD spent in this run (0 for a cache hit)
    "cost_source": "string",
    # attempts.notes_json "resolved_by" of the final attempt: "conflict_poll" when the answer was
    # fetched by polling an earlier submission after a conflict (its times measure the polling).
    "resolved_by": "string",
}

ATTEMPTS: Final[Columns] = {
    "task_id": "string",
    "cell_id": "string",
    "number": "Int64",
    "final": "boolean",
    "http_status": "Int64",
    "error_class": "string",
    "error_code": "string",
    "t_queued": "float64",
    "t_sent": "float64",
    "t_headers": "float64",
    "t_first_token": "float64",
    "t_last_token": "float64",
    "t_done": "float64",
    "n_events": "Int64",
    "concurrency_limit": "Int64",
}

RESULTS: Final[Columns] = {
    "task_id": "string",
    "cell_id": "string",
    "sample_id": "string",
    "replicate": "Int64",
    "result_index": "Int64",
    "finish_reason": "string",
    "seed": "Int64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "total_tokens": "Int64",
    "thinking_tokens": "Int64",
    "cost": "float64",
    "text": "string",  # NA when loaded with texts=False
    "reasoning": "string",
}

SCORES: Final[Columns] = {
    "task_id": "string",
    "cell_id": "string",
    "sample_id": "string",
    "replicate": "Int64",
    "result_index": "Int64",
    "scorer": "string",
    "pass_id": "Int64",
    "value": "float64",  # NaN when the scorer itself failed
    "passed": "boolean",  # NA for continuous scorers
    "explanation": "string",
    "error": "string",
}

CONCURRENCY: Final[Columns] = {
    "t": "float64",
    "limit_value": "Int64",
    "in_flight": "Int64",
    "reason": "string",
}

JUDGE_CALLS: Final[Columns] = {
    "task_id": "string",
    "result_index": "Int64",
    "scorer": "string",
    "pass_id": "Int64",
    "model": "string",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "cost": "float64",
    "latency_s": "float64",
    "error": "string",
}

CELL_SUMMARY: Final[Columns] = {
    "cell_id": "string",
    "label": "string",
    "scorer": "string",
    "tasks": "Int64",  # tasks counted (warm-up excluded)
    "done": "Int64",
    "errored": "Int64",
    "error_rate": "float64",  # errored / tasks
    "n": "Int64",  # scored results with a value
    "mean": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "ci_method": "string",  # wilson | bootstrap | cluster-bootstrap | normal | none
    "pass_at_1": "float64",
    "pass_at_k": "float64",  # at k = the smallest number of results of any sample in the cell
    "k": "Int64",
    "cost_usd": "float64",
    "cost_per_task_usd": "float64",
    "cost_per_correct_usd": "float64",
    "latency_p50_s": "float64",
    "latency_p95_s": "float64",
    "ttft_p50_s": "float64",
    "ttft_p95_s": "float64",
}
"""``Run.cell_summary()``: one row per (cell, scorer); a cell without scores has one row with
``scorer`` NA."""

PERCENTILE_TABLE: Final[Columns] = {
    "cell_id": "string",
    "metric": "string",
    "n": "Int64",
    "mean": "float64",
    "p50": "float64",
    "p90": "float64",
    "p95": "float64",
    "p99": "float64",
}
"""``reports.latency.latency_table``: one row per (cell, metric)."""

COST_TABLE: Final[Columns] = {
    "cell_id": "string",
    "tasks": "Int64",
    "tasks_priced": "Int64",  # tasks whose cost is known
    "tasks_unpriced": "Int64",  # finished tasks whose cost is unknown (sums are then lower bounds)
    "cost_usd": "float64",  # sum of cost (what the answers cost, cache hits included)
    "cost_spent_usd": "float64",  # sum of cost_spent (what this run paid), warm-up tasks included
    "spent_unknown": "Int64",  # tasks sent (warm-up included) whose spent cost is unknown
    "warmup_tasks": "Int64",
    "warmup_spent_usd": "float64",  # the part of cost_spent_usd paid for warm-up tasks
    "cache_hits": "Int64",
    "saved_by_cache_usd": "float64",  # sum of cost - cost_spent over cache hits
    "cost_per_task_usd": "float64",
    "correct": "Int64",
    "cost_per_correct_usd": "float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "thinking_tokens": "Int64",
    "cost_input_usd": "float64",
    "cost_output_usd": "float64",
    "cost_thinking_usd": "float64",
}
"""``reports.cost.cost_table``: one row per cell."""
