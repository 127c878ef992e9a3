"""Load a run directory into typed pandas frames: ``reports.load(run_dir) -> Run``.

The run database (``run.sqlite``, schema in ``evals/store_schema.sql``) is opened read-only. Every
frame has the columns and dtypes declared in ``reports.columns``; warm-up tasks are dropped
everywhere (they are stored but never reported). The scores frame keeps only the latest scoring
pass of each (task, result, scorer) unless ``all_passes=True``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from evals.errors import StoreError
from evals.grid import axes_sort_key
from evals.store import SCHEMA_VERSION
from reports import columns as C

if TYPE_CHECKING:
    import pandas as pd

DB_NAME = "run.sqlite"
# Every version up to the store's own: the tables and columns the reports read exist since version 1.
SUPPORTED_SCHEMA_VERSIONS = tuple(range(1, SCHEMA_VERSION + 1))


def db_path(run_dir: str | Path) -> Path:
    """The database file of a run directory (or the file itself when given one)."""
    path = Path(run_dir)
    return path if path.is_file() else path / DB_NAME


@contextmanager
def connect(run_dir: str | Path) -> Iterator[sqlite3.Connection]:
    """Open a run database read-only; a missing or foreign file becomes a ``StoreError``."""
    path = db_path(run_dir)
    if not path.exists():
        raise StoreError(f"no run database at {path}")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        try:
            row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a run database: {exc}") from exc
        if row is None or row[0] not in SUPPORTED_SCHEMA_VERSIONS:
            raise StoreError(
                f"{path} has schema version {row[0] if row else None}; "
                f"this harness reads {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}"
            )
        yield con
    finally:
        con.close()


def to_frame(df: pd.DataFrame, cols: C.Columns) -> pd.DataFrame:
    """Give ``df`` exactly the declared columns, in order and with their dtypes (extra columns follow)."""
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for name, dtype in cols.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        if dtype == "boolean":
            # sqlite gives 0/1 integers (or floats when NULLs are present); go through Int64 so
            # NULL stays <NA> instead of becoming False.
            col = pd.to_numeric(col, errors="coerce").astype("Int64").astype("boolean")
        elif dtype == "Int64":
            col = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif dtype == "float64":
            col = pd.to_numeric(col, errors="coerce").astype("float64")
        else:
            col = col.astype(dtype)
        out[name] = col
    extra = [c for c in df.columns if c not in cols]
    if extra:
        out = pd.concat([out, df[extra]], axis=1)
    return out.reset_index(drop=True)


def _query(con: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_sql_query(sql, con, params=params)
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise StoreError(f"cannot read the run database: {exc}") from exc


def axis_label(axis: str) -> str:
    """``settings.temperature`` -> ``temperature``: the short name people read in tables."""
    return axis.removeprefix("settings.")


def cell_label(axes: dict[str, Any]) -> str:
    """A short, readable name of a cell from its axes."""
    return ", ".join(f"{axis_label(k)}={v}" for k, v in axes.items())


TASKS_SQL = """
SELECT t.task_id, t.cell_id, t.sample_id, t.replicate, t.seed, t.status, t.error_class, t.error_code,
       t.error_message, t.attempts, t.cache_hit, t.scheduled_at, t.dispatched_at,
       a.t_sent, a.t_first_token, a.t_last_token, a.t_done,
       a.t_done - a.t_sent AS latency_s,
       a.t_first_token - a.t_sent AS ttft_s,
       t.usage_prompt_tokens AS prompt_tokens, t.usage_completion_tokens AS completion_tokens,
       t.usage_total_tokens AS total_tokens, t.usage_thinking_tokens AS thinking_tokens,
       t.cost, t.cost_spent, t.cost_source,
       CASE WHEN json_valid(a.notes_json) THEN json_extract(a.notes_json, '$.resolved_by') END AS resolved_by
FROM tasks t
LEFT JOIN (SELECT task_id, MAX(number) AS number FROM attempts GROUP BY task_id) f ON f.task_id = t.task_id
LEFT JOIN attempts a ON a.task_id = f.task_id AND a.number = f.number
WHERE t.warmup = 0
ORDER BY t.rowid
"""

ATTEMPTS_SQL = """
SELECT a.task_id, t.cell_id, a.number, a.number = f.number AS final,
       a.http_status, a.error_class, a.error_code, a.t_queued, a.t_sent, a.t_headers,
       a.t_first_token, a.t_last_token, a.t_done, a.n_events, a.concurrency_limit
FROM attempts a JOIN tasks t ON t.task_id = a.task_id
JOIN (SELECT task_id, MAX(number) AS number FROM attempts GROUP BY task_id) f ON f.task_id = a.task_id
WHERE t.warmup = 0
ORDER BY a.rowid
"""

RESULTS_SQL = """
SELECT r.task_id, t.cell_id, t.sample_id, t.replicate, r.result_index, r.finish_reason, r.seed,
       r.prompt_tokens, r.completion_tokens, r.total_tokens, r.thinking_tokens, r.cost{texts}
FROM results r JOIN tasks t ON t.task_id = r.task_id
WHERE t.warmup = 0
ORDER BY r.rowid
"""

SCORES_SQL = """
SELECT s.task_id, t.cell_id, t.sample_id, t.replicate, s.result_index, s.scorer, s.pass_id,
       s.value, s.passed, s.error{texts}
FROM scores s JOIN tasks t ON t.task_id = s.task_id
WHERE t.warmup = 0 {latest}
ORDER BY s.rowid
"""

LATEST_PASS = """
  AND s.pass_id = (SELECT MAX(s2.pass_id) FROM scores s2
                   WHERE s2.task_id = s.task_id AND s2.result_index = s.result_index
                     AND s2.scorer = s.scorer)
"""


SCORE_GROUPS_SQL = """
SELECT s.task_id, s.scorer, COUNT(s.value) AS n, SUM(s.value) AS total, COUNT(s.passed) AS graded,
       SUM(s.passed) AS passed, COUNT(s.error) AS errors
FROM scores s
WHERE 1 = 1 {latest}
GROUP BY s.task_id, s.scorer
"""

SCORE_GROUPS: Final[C.Columns] = {
    "cell_id": "string",
    "scorer": "string",
    "sample_id": "string",
    "n": "Int64",  # results with a value
    "total": "float64",  # sum of the values
    "graded": "Int64",  # results with a pass/fail verdict
    "passed": "Int64",  # of which passed
    "errors": "Int64",  # scorer errors
}


@dataclass
class Run:
    """One run, as frames. Build it with ``reports.load``.

    ``manifest``, ``cells``, ``tasks`` and ``concurrency`` are read at once; ``attempts``,
    ``results``, ``scores`` and ``judge_calls`` (the large ones) on first access, so a report that
    only needs aggregates never holds a million rows.
    """

    path: Path
    manifest: dict[str, Any]
    cells: pd.DataFrame
    tasks: pd.DataFrame
    concurrency: pd.DataFrame
    texts: bool = True
    all_passes: bool = False
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def _lazy(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            with connect(self.path) as con:
                self._frames[name] = _LOADERS[name](con, self)
        return self._frames[name]

    @property
    def attempts(self) -> pd.DataFrame:
        """Every attempt (retries included) of the reported tasks; ``final`` marks the last one."""
        return self._lazy("attempts")

    @property
    def results(self) -> pd.DataFrame:
        """One row per result of a task (numberResults of them)."""
        return self._lazy("results")

    @property
    def scores(self) -> pd.DataFrame:
        """One row per (result, scorer) of the latest scoring pass (every pass with all_passes)."""
        return self._lazy("scores")

    @property
    def judge_calls(self) -> pd.DataFrame:
        """Calls made by model-graded scorers (their cost is not the run's)."""
        return self._lazy("judge_calls")

    @property
    def axes(self) -> list[str]:
        """The grid axes (axis columns of ``cells``)."""
        fixed = set(C.CELLS)
        return [c for c in self.cells.columns if c not in fixed]

    @property
    def scorers(self) -> list[str]:
        """Scorer names in suite order (then any others found in the scores)."""
        declared = [
            s.get("id") or s.get("name")
            for s in (self.manifest.get("expanded") or {}).get("scorers", [])
            if isinstance(s, dict)
        ]
        found = sorted(self.score_groups()["scorer"].dropna().unique().tolist())
        ordered = [s for s in declared if s in found]
        return ordered + [s for s in found if s not in ordered]

    @property
    def primary_scorer(self) -> str | None:
        """The scorer that decides "correct" for cost per correct answer: the suite's first."""
        names = self.scorers
        return names[0] if names else None

    def score_groups(self) -> pd.DataFrame:
        """Scores aggregated per (cell, scorer, sample), the unit of every score statistic.

        Aggregated in SQL, so a report of a million results reads one row per task and scorer
        instead of one per result."""
        if "score_groups" not in self._frames:
            # Statistics always use the latest scoring pass, whatever the scores frame keeps.
            with connect(self.path) as con:
                latest = LATEST_PASS if _rescored(con) else ""
                per_task = _query(con, SCORE_GROUPS_SQL.format(latest=latest))
            self._frames["score_groups"] = _score_groups(per_task, self.tasks)
        return self._frames["score_groups"]

    def cell_summary(self) -> pd.DataFrame:
        """One row per (cell, scorer): score with CI, pass@k, error rate, cost, latency (cached)."""
        if "summary" not in self._frames:
            from reports.summary import cell_summary

            self._frames["summary"] = cell_summary(self)
        return self._frames["summary"]


def _score_groups(per_task: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """Per-(task, scorer) sums -> per-(cell, scorer, sample) sums, reported tasks only."""
    keys = tasks[["task_id", "cell_id", "sample_id"]]
    per_task = per_task.astype({"task_id": "string"}).merge(keys, on="task_id", how="inner")
    cols = ["n", "total", "graded", "passed", "errors"]
    per_task[cols] = per_task[cols].apply(lambda c: c.astype("float64"))
    grouped = per_task.groupby(["cell_id", "scorer", "sample_id"], sort=False)[cols].sum()
    grouped["total"] = grouped["total"].where(grouped["n"] > 0)  # no value at all: unknown, not 0
    return to_frame(grouped.reset_index(), SCORE_GROUPS)


def _load_attempts(con: sqlite3.Connection, run: Run) -> pd.DataFrame:
    return to_frame(_query(con, ATTEMPTS_SQL), C.ATTEMPTS)


def _load_results(con: sqlite3.Connection, run: Run) -> pd.DataFrame:
    texts = ", r.text, r.reasoning" if run.texts else ""
    return to_frame(_query(con, RESULTS_SQL.format(texts=texts)), C.RESULTS)


def _load_scores(con: sqlite3.Connection, run: Run) -> pd.DataFrame:
    latest = "" if run.all_passes or not _rescored(con) else LATEST_PASS
    sql = SCORES_SQL.format(texts=", s.explanation" if run.texts else "", latest=latest)
    return to_frame(_query(con, sql), C.SCORES)


def _load_judge_calls(con: sqlite3.Connection, run: Run) -> pd.DataFrame:
    sql = (
        "SELECT task_id, result_index, scorer, pass_id, model, prompt_tokens, completion_tokens,"
        " cost, latency_s, error FROM judge_calls"
    )
    return to_frame(_query(con, sql), C.JUDGE_CALLS)


_LOADERS = {
    "attempts": _load_attempts,
    "results": _load_results,
    "scores": _load_scores,
    "judge_calls": _load_judge_calls,
}


def load(run_dir: str | Path, *, texts: bool = True, all_passes: bool = False) -> Run:
    """Load a run directory (or its ``run.sqlite``) into typed frames.

    ``texts=False`` leaves the large text columns (result text and reasoning, score explanations)
    empty, which is what the report renderers use to keep memory bounded on big runs.
    ``all_passes=True`` keeps every scoring pass instead of the latest one.
    """
    path = Path(run_dir)
    with connect(path) as con:
        manifest = _manifest(con)
        cells = _cells(con)
        tasks = to_frame(_query(con, TASKS_SQL), C.TASKS)
        concurrency = to_frame(
            _query(con, "SELECT t, limit_value, in_flight, reason FROM concurrency ORDER BY t"),
            C.CONCURRENCY,
        )
    return Run(
        path=path if path.is_dir() else path.parent,
        manifest=manifest,
        cells=cells,
        tasks=tasks,
        concurrency=concurrency,
        texts=texts,
        all_passes=all_passes,
    )


def _rescored(con: sqlite3.Connection) -> bool:
    """True when some result was scored more than once (only then is the latest-pass filter needed)."""
    return bool(con.execute("SELECT EXISTS (SELECT 1 FROM scores WHERE pass_id > 1)").fetchone()[0])


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # keep what was stored rather than hide it


def _manifest(con: sqlite3.Connection) -> dict[str, Any]:
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT * FROM run").fetchone()
    finally:
        con.row_factory = None
    if row is None:
        raise StoreError("the run database has no manifest row")
    manifest = dict(row)
    manifest["expanded"] = _json_or_none(manifest.pop("expanded_json", None)) or {}
    manifest["cli_args"] = _json_or_none(manifest.pop("cli_args_json", None))
    manifest["notes"] = _json_or_none(manifest.pop("notes_json", None))
    has_segments = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'segments'"
    ).fetchone()
    if has_segments:
        # Sessions of the run (the first start and each resume), from schema version 2.
        cur = con.execute("SELECT segment, started_at, ended_at, status FROM segments ORDER BY segment")
        manifest["segments"] = [
            dict(zip(("segment", "started_at", "ended_at", "status"), r, strict=True)) for r in cur
        ]
    return manifest


def _cells(con: sqlite3.Connection) -> pd.DataFrame:
    import pandas as pd

    raw = _query(con, "SELECT * FROM cells ORDER BY rowid")
    axes = [json.loads(a) for a in raw["axes_json"]]
    raw["label"] = [cell_label(a) or str(cid)[:12] for a, cid in zip(axes, raw["cell_id"], strict=True)]
    frame = to_frame(raw, C.CELLS)
    names: list[str] = []
    for a in axes:
        names.extend(k for k in a if k not in names)
    # Axis values keep their own type (numbers stay numbers) so plots can use them as coordinates.
    # Lists and mappings (e.g. a stopSequences axis) become JSON text so they can be grouped on.
    axis_cols = {
        name: pd.Series(
            [json.dumps(v) if isinstance(v := a.get(name), list | dict) else v for a in axes]
        ).infer_objects()
        for name in names
    }
    if axis_cols:
        frame = pd.concat([frame, pd.DataFrame(axis_cols)], axis=1)
    # Every table follows this order: sorted by axis values (the first axis first), ties kept in
    # grid order, so reports list cells the same way whatever order the cells were stored in.
    order = sorted(range(len(axes)), key=lambda i: (axes_sort_key(axes[i], names), i))
    return frame.iloc[order].reset_index(drop=True)
