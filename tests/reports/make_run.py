"""Build small run databases with known values, straight from ``evals/store_schema.sql``.

Reusable by any report or comparison test: a ``RunBuilder`` collects cells, tasks (each with its
attempts, results and scores) and writes ``<run_dir>/run.sqlite`` with plain ``sqlite3``, so tests
depend on the schema, not on the runner.

    builder = RunBuilder(run_id="r1")
    builder.cell("c1", {"settings.temperature": 0.2})
    builder.task("c1", "s1", results=[("4", 1.0, True)], latency=(0.0, 0.5, 1.0, 2.0))
    run_dir = builder.write(tmp_path / "run")

``standard_run`` builds the fixture most report tests use; its expected values are listed in its
docstring so tests can assert against numbers computed by hand.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass
class _Task:
    task_id: str
    cell_id: str
    sample_id: str
    replicate: int
    status: str
    error_class: str | None
    error_code: str | None
    attempts: list[dict[str, Any]]
    results: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    usage: tuple[int | None, int | None, int | None]  # prompt, completion, thinking
    cost: float | None
    cost_spent: float | None
    cache_hit: bool
    warmup: bool
    scheduled_at: float | None
    dispatched_at: float | None
    sample: dict[str, Any]


@dataclass
class RunBuilder:
    """Collects the rows of one run and writes them to a fresh ``run.sqlite``."""

    run_id: str = "test-run"
    suite_name: str = "unit"
    provider: str = "sim"
    model: str = "alibaba:qwen@3.5-27b"
    status: str = "completed"
    scorers: list[str] = field(default_factory=lambda: ["exact"])
    gate: dict[str, Any] | None = None
    cells: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[_Task] = field(default_factory=list)
    concurrency: list[tuple[float, int, int | None, str]] = field(default_factory=list)

    def cell(
        self,
        cell_id: str,
        axes: dict[str, Any] | None = None,
        *,
        number_results: int = 1,
        delivery_method: str = "stream",
        settings: dict[str, Any] | None = None,
        prompt_variant: str | None = None,
    ) -> None:
        """Add a grid cell."""
        axes = axes or {}
        settings = settings or {k.removeprefix("settings."): v for k, v in axes.items()}
        self.cells.append(
            (
                cell_id,
                json.dumps(axes),
                self.model,
                json.dumps(settings),
                number_results,
                delivery_method,
                prompt_variant,
            )
        )

    def task(
        self,
        cell_id: str,
        sample_id: str,
        *,
        replicate: int = 0,
        results: list[tuple[str, float | None, bool | None]] | None = None,
        scorer: str | None = None,
        latency: tuple[float, float | None, float | None, float] | None = (0.0, 0.1, 0.5, 0.6),
        token_events: list[float] | None = None,
        usage: tuple[int | None, int | None, int | None] = (10, 5, 0),
        cost: float | None = 0.001,
        cost_spent: float | None = None,
        cache_hit: bool = False,
        warmup: bool = False,
        status: str = "done",
        error: tuple[str, str] | None = None,
        failed_attempts: int = 0,
        finish_reason: str = "stop",
        scheduled_at: float | None = None,
        dispatched_at: float | None = None,
        prompt: str = "What is 2 + 2?",
        target: str | None = "4",
        explanation: str | None = None,
        reasoning: str | None = None,
        notes: dict[str, Any] | None = None,
    ) -> str:
        """Add one task. ``results`` is a list of (text, score value, passed); ``latency`` is
        (t_sent, t_first_token, t_last_token, t_done) of the final attempt; ``error`` is
        (error_class, error_code) for an errored task; ``notes`` is the final attempt's notes_json
        (e.g. ``{"resolved_by": "conflict_poll"}``). Returns the task id."""
        task_id = f"{cell_id}/{sample_id}/{replicate}"
        attempts: list[dict[str, Any]] = []
        for n in range(1, failed_attempts + 1):
            attempts.append(
                {"number": n, "http_status": 503, "error_class": "throttled", "error_code": "serverBusy"}
            )
        if latency is not None:
            sent, first, last, done = latency
            final: dict[str, Any] = {
                "number": failed_attempts + 1,
                "http_status": 200 if status == "done" else 400,
                "t_sent": sent,
                "t_first_token": first,
                "t_last_token": last,
                "t_done": done,
                "token_events": token_events,
                "notes": notes,
            }
            if error is not None:
                final["error_class"], final["error_code"] = error
            attempts.append(final)
        if cost_spent is None and not cache_hit:
            cost_spent = cost
        elif cache_hit:
            cost_spent = 0.0
        res_rows = []
        score_rows = []
        for i, (text, value, passed) in enumerate(results or []):
            res_rows.append(
                {
                    "result_index": i,
                    "text": text,
                    "finish_reason": finish_reason,
                    "reasoning": reasoning,
                }
            )
            score_rows.append(
                {
                    "result_index": i,
                    "scorer": scorer or self.scorers[0],
                    "value": value,
                    "passed": passed,
                    "explanation": explanation,
                }
            )
        self.tasks.append(
            _Task(
                task_id=task_id,
                cell_id=cell_id,
                sample_id=sample_id,
                replicate=replicate,
                status=status,
                error_class=error[0] if error else None,
                error_code=error[1] if error else None,
                attempts=attempts,
                results=res_rows,
                scores=score_rows,
                usage=usage,
                cost=cost,
                cost_spent=cost_spent,
                cache_hit=cache_hit,
                warmup=warmup,
                scheduled_at=scheduled_at,
                dispatched_at=dispatched_at,
                sample={"id": sample_id, "input": prompt, "target": target},
            )
        )
        return task_id

    def add_score(
        self,
        task_id: str,
        result_index: int,
        scorer: str,
        value: float | None,
        passed: bool | None,
        pass_id: int = 1,
        error: str | None = None,
    ) -> None:
        """Add a score row (another scorer, or a later scoring pass) to an existing task."""
        task = next(t for t in self.tasks if t.task_id == task_id)
        task.scores.append(
            {
                "result_index": result_index,
                "scorer": scorer,
                "value": value,
                "passed": passed,
                "pass_id": pass_id,
                "error": error,
            }
        )

    def write(self, run_dir: Path) -> Path:
        """Write ``run_dir/run.sqlite`` and return ``run_dir``."""
        run_dir.mkdir(parents=True, exist_ok=True)
        db = run_dir / "run.sqlite"
        if db.exists():
            db.unlink()
        schema = resources.files("evals").joinpath("store_schema.sql").read_text(encoding="utf-8")
        con = sqlite3.connect(db)
        try:
            con.executescript(schema)
            con.execute("INSERT INTO schema_version VALUES (1)")
            expanded: dict[str, Any] = {"scorers": [{"name": s} for s in self.scorers]}
            if self.gate is not None:
                expanded["gate"] = self.gate
            con.execute(
                "INSERT INTO run (run_id, suite_name, suite_text, suite_hash, expanded_json, harness_version,"
                " provider, model, status, started_at, ended_at, monotonic_origin)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self.run_id,
                    self.suite_name,
                    f"name: {self.suite_name}\n",
                    "hash-" + self.suite_name,
                    json.dumps(expanded),
                    "0.1.0",
                    self.provider,
                    self.model,
                    self.status,
                    "2026-01-01T00:00:00+00:00",
                    "2026-01-01T00:01:00+00:00",
                    1000.0,
                ),
            )
            con.executemany("INSERT INTO cells VALUES (?,?,?,?,?,?,?)", self.cells)
            for t in self.tasks:
                self._write_task(con, t)
            con.executemany(
                "INSERT INTO concurrency (t, limit_value, in_flight, reason) VALUES (?,?,?,?)",
                self.concurrency,
            )
            con.commit()
        finally:
            con.close()
        return run_dir

    @staticmethod
    def _write_task(con: sqlite3.Connection, t: _Task) -> None:
        prompt, completion, thinking = t.usage
        total = None if prompt is None or completion is None else prompt + completion
        con.execute(
            "INSERT INTO tasks (task_id, cell_id, sample_id, replicate, seed, task_uuid, request_json,"
            " sample_json, status, error_class, error_code, error_message, attempts, cache_hit, warmup,"
            " scheduled_at, dispatched_at, usage_prompt_tokens, usage_completion_tokens,"
            " usage_total_tokens, usage_thinking_tokens, cost, cost_spent, cost_source)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                t.task_id,
                t.cell_id,
                t.sample_id,
                t.replicate,
                1234,
                "uuid-" + t.task_id,
                json.dumps({"messages": [{"role": "user", "content": t.sample["input"]}]}),
                json.dumps(t.sample),
                t.status,
                t.error_class,
                t.error_code,
                f"{t.error_code} happened" if t.error_code else None,
                len(t.attempts),
                int(t.cache_hit),
                int(t.warmup),
                t.scheduled_at,
                t.dispatched_at,
                prompt,
                completion,
                total,
                thinking,
                t.cost,
                t.cost_spent,
                "provider" if t.cost is not None else None,
            ),
        )
        for a in t.attempts:
            events = a.get("token_events")
            con.execute(
                "INSERT INTO attempts (task_id, number, task_uuid, http_status, error_class, error_code,"
                " t_queued, t_sent, t_first_token, t_last_token, t_done, token_events_json, n_events,"
                " notes_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    t.task_id,
                    a["number"],
                    "uuid-" + t.task_id,
                    a.get("http_status"),
                    a.get("error_class"),
                    a.get("error_code"),
                    a.get("t_sent"),
                    a.get("t_sent"),
                    a.get("t_first_token"),
                    a.get("t_last_token"),
                    a.get("t_done"),
                    json.dumps(events) if events is not None else None,
                    len(events) if events is not None else None,
                    json.dumps(a["notes"]) if a.get("notes") else None,
                ),
            )
        for r in t.results:
            con.execute(
                "INSERT INTO results (task_id, result_index, text, reasoning, finish_reason, seed,"
                " prompt_tokens, completion_tokens, total_tokens, thinking_tokens, cost)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    t.task_id,
                    r["result_index"],
                    r["text"],
                    r["reasoning"],
                    r["finish_reason"],
                    1234 + r["result_index"],
                    prompt,
                    completion,
                    total,
                    thinking,
                    None,
                ),
            )
        for s in t.scores:
            passed = s.get("passed")
            con.execute(
                "INSERT INTO scores (task_id, result_index, scorer, pass_id, value, passed, explanation,"
                " error, scored_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    t.task_id,
                    s["result_index"],
                    s["scorer"],
                    s.get("pass_id", 1),
                    s["value"],
                    None if passed is None else int(passed),
                    s.get("explanation"),
                    s.get("error"),
                    "2026-01-01T00:02:00+00:00",
                ),
            )


def standard_run(run_dir: Path) -> Path:
    """A two-cell sweep over temperature with hand-checkable numbers.

    Cell ``c-cold`` (temperature 0.2, stream): samples s1..s4, one result each, scores
    1, 1, 1, 0 (pass/fail, scorer ``exact``); latencies (t_sent, t_first, t_last, t_done):
    s1 (0, 0.1, 0.5, 0.6), s2 (1, 1.2, 2.0, 2.0), s3 (2, 2.3, 3.3, 3.5), s4 (3, 3.4, 3.8, 4.0);
    completion tokens 5, 9, 11, 3; cost 0.001 each; s4 was retried once after a 503.
    Token events of s1: [0.1, 0.2, 0.35, 0.5] (gaps 0.1, 0.15, 0.15).

    Cell ``c-hot`` (temperature 0.8, stream): s1 passes, s2 fails, s3 errored (permanent,
    ``invalidParameter``, no result), s4 is a cache hit that passes (cost 0.002, spent 0).
    A warm-up task exists in c-hot and must not appear anywhere.
    A concurrency history of three points is written too.
    """
    b = RunBuilder(run_id="standard", suite_name="standard")
    b.cell("c-cold", {"settings.temperature": 0.2})
    b.cell("c-hot", {"settings.temperature": 0.8})
    b.task(
        "c-cold",
        "s1",
        results=[("4", 1.0, True)],
        latency=(0.0, 0.1, 0.5, 0.6),
        usage=(10, 5, 2),
        token_events=[0.1, 0.2, 0.35, 0.5],
        reasoning="2 plus 2",
        explanation="exact match",
    )
    b.task("c-cold", "s2", results=[("4", 1.0, True)], latency=(1.0, 1.2, 2.0, 2.0), usage=(10, 9, 0))
    b.task("c-cold", "s3", results=[("4", 1.0, True)], latency=(2.0, 2.3, 3.3, 3.5), usage=(10, 11, 0))
    b.task(
        "c-cold",
        "s4",
        results=[("5", 0.0, False)],
        latency=(3.0, 3.4, 3.8, 4.0),
        usage=(10, 3, 0),
        failed_attempts=1,
        explanation="expected 4, got 5",
    )
    b.task("c-hot", "s1", results=[("4", 1.0, True)], latency=(0.5, 0.7, 1.5, 1.5))
    b.task(
        "c-hot",
        "s2",
        results=[("<script>alert(1)</script>", 0.0, False)],
        latency=(1.5, 1.6, 2.5, 2.5),
        finish_reason="length",
        explanation="expected 4",
    )
    b.task(
        "c-hot",
        "s3",
        status="errored",
        error=("permanent", "invalidParameter"),
        latency=(2.5, None, None, 2.6),
        usage=(None, None, None),
        cost=None,
    )
    b.task("c-hot", "s4", results=[("4", 1.0, True)], latency=None, cost=0.002, cache_hit=True)
    b.task("c-hot", "warm", results=[("4", 1.0, True)], warmup=True, cost=0.5)
    b.concurrency = [(0.0, 4, 0, "start"), (2.0, 2, 2, "throttled"), (3.5, 3, 1, "grow")]
    return b.write(run_dir)
