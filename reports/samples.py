"""The per-sample view: prompt, output, reasoning, score and explanation of each result.

Read straight from SQL with a row cap so that a report of a million results stays small: failures
come first (errored tasks, then failed results, then scorer errors, then the lowest scores), so
the rows a reader most needs are the ones kept.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.frames import Run

DEFAULT_LIMIT = 500

SAMPLES_SQL = """
WITH sc AS (
  SELECT s.task_id, s.result_index, s.value, s.passed, s.explanation, s.error
  FROM scores s
  WHERE s.scorer = :scorer {latest}
)
SELECT t.task_id, t.cell_id, t.sample_id, t.replicate, t.status, t.error_code, t.error_message,
       t.request_json, t.sample_json, r.result_index, r.text, r.reasoning, r.finish_reason,
       sc.value, sc.passed, sc.explanation, sc.error AS scorer_error,
       CASE WHEN t.status = 'errored' THEN 0
            WHEN sc.passed = 0 THEN 1
            WHEN sc.error IS NOT NULL THEN 2
            WHEN sc.passed IS NULL AND sc.value IS NOT NULL AND sc.value < 1 THEN 3
            ELSE 4 END AS rank
FROM tasks t
LEFT JOIN results r ON r.task_id = t.task_id
LEFT JOIN sc ON sc.task_id = r.task_id AND sc.result_index = r.result_index
WHERE t.warmup = 0 AND t.status IN ('done', 'errored')
ORDER BY rank, sc.value, t.cell_id, t.sample_id, t.replicate, r.result_index
LIMIT :limit
"""

RESULTS_COUNT_SQL = """
SELECT COUNT(*) FROM results r JOIN tasks t ON t.task_id = r.task_id
WHERE t.warmup = 0 AND t.status IN ('done', 'errored')
"""


@dataclass(frozen=True)
class SampleRow:
    """One result (or one errored task) as the per-sample view shows it."""

    task_id: str
    cell_id: str
    sample_id: str
    replicate: int
    result_index: int | None
    status: str
    failed: bool
    prompt: str
    target: str | None
    output: str | None
    reasoning: str | None
    finish_reason: str | None
    value: float | None
    passed: bool | None
    explanation: str | None
    error: str | None
    # The other scorers of this result: (scorer, value, passed, explanation or scorer error).
    other_scores: tuple[tuple[str, float | None, bool | None, str | None], ...] = ()


@dataclass(frozen=True)
class SampleView:
    rows: list[SampleRow]
    total: int  # rows the full view would have
    failures: int  # of which failures (errored, failed or scorer error)
    scorer: str | None


def _prompt(request_json: str | None) -> str:
    """The conversation as sent: system prompt, then each message with its role."""
    if not request_json:
        return ""
    try:
        request = json.loads(request_json)
    except json.JSONDecodeError:
        return request_json
    parts = []
    system = (request.get("settings") or {}).get("systemPrompt")
    if system:
        parts.append(f"[system] {system}")
    for m in request.get("messages", []):
        parts.append(f"[{m.get('role', '?')}] {m.get('content', '')}")
    return "\n\n".join(parts)


def _target(sample_json: str | None) -> str | None:
    if not sample_json:
        return None
    try:
        target: Any = json.loads(sample_json).get("target")
    except (json.JSONDecodeError, AttributeError):
        return None
    if target is None:
        return None
    return target if isinstance(target, str) else json.dumps(target, ensure_ascii=False)


def sample_view(run: Run, limit: int = DEFAULT_LIMIT) -> SampleView:
    """Up to ``limit`` rows of the per-sample view, failures first, scored by the primary scorer.

    The totals come from aggregates (tasks frame, ``Run.score_groups``), so only the rows shown
    are read in full."""
    from reports.frames import LATEST_PASS, _rescored, connect

    scorer = run.primary_scorer
    tasks = run.tasks
    errored_no_result = int((tasks["status"] == "errored").sum())
    groups = run.score_groups()
    mine = groups[groups["scorer"] == scorer]
    failed = int((mine["graded"] - mine["passed"]).sum() + mine["errors"].sum()) if len(mine) else 0
    with connect(run.path) as con:
        n_results = int(con.execute(RESULTS_COUNT_SQL).fetchone()[0])
        latest = LATEST_PASS if _rescored(con) else ""
        cur = con.execute(SAMPLES_SQL.format(latest=latest), {"scorer": scorer, "limit": limit})
        names = [d[0] for d in cur.description]
        rows = [_row(dict(zip(names, values, strict=True))) for values in cur]
        rows = _with_other_scores(con, rows, scorer, latest)
    return SampleView(
        rows=rows,
        total=n_results + errored_no_result,
        failures=errored_no_result + failed,
        scorer=scorer,
    )


OTHER_SCORES_SQL = """
SELECT s.task_id, s.result_index, s.scorer, s.value, s.passed, COALESCE(s.error, s.explanation)
FROM scores s
WHERE s.task_id IN (SELECT value FROM json_each(:ids)) AND s.scorer IS NOT :scorer {latest}
ORDER BY s.rowid
"""


def _with_other_scores(
    con: sqlite3.Connection, rows: list[SampleRow], scorer: str | None, latest: str
) -> list[SampleRow]:
    """Attach every other scorer's verdict to the rows shown (read for those rows only)."""
    ids = sorted({r.task_id for r in rows if r.result_index is not None})
    if not ids:
        return rows
    found: dict[tuple[str, int], list[tuple[str, float | None, bool | None, str | None]]] = {}
    params = {"ids": json.dumps(ids), "scorer": scorer}
    for task_id, index, name, value, passed, note in con.execute(
        OTHER_SCORES_SQL.format(latest=latest), params
    ):
        found.setdefault((task_id, index), []).append(
            (name, value, None if passed is None else bool(passed), note)
        )
    return [
        replace(r, other_scores=tuple(found.get((r.task_id, r.result_index), [])))
        if r.result_index is not None
        else r
        for r in rows
    ]


def _row(r: dict[str, Any]) -> SampleRow:
    errored = r["status"] == "errored"
    error = r["scorer_error"]
    if errored:
        error = f"{r['error_code'] or 'error'}: {r['error_message'] or ''}".strip()
    return SampleRow(
        task_id=r["task_id"],
        cell_id=r["cell_id"],
        sample_id=r["sample_id"],
        replicate=r["replicate"],
        result_index=r["result_index"],
        status=r["status"],
        failed=r["rank"] <= 2,
        prompt=_prompt(r["request_json"]),
        target=_target(r["sample_json"]),
        output=r["text"],
        reasoning=r["reasoning"],
        finish_reason=r["finish_reason"],
        value=r["value"],
        passed=None if r["passed"] is None else bool(r["passed"]),
        explanation=r["explanation"],
        error=error,
    )
