"""Scoring of stored results, per-task aggregates and pass@k.

``score_run`` reads every result of a run database (tables ``tasks`` and ``results``), applies each
scorer of the suite and writes one row per (result, scorer) to ``scores`` under a new ``pass_id``
(previous maximum + 1), so re-scoring never overwrites earlier scores. No API call is made except
by a model-graded scorer's judge, whose calls go to ``judge_calls``, apart from the run's own cost.

A scorer that raises is isolated to the result it was scoring: the row gets ``error`` and a NULL
value, which reports count as a scorer error, not as a wrong answer.

Several results of one sample in one cell (``numberResults`` > 1, or replicates) are aggregated
per (cell, sample, scorer): ``mean``, ``any``, ``majority`` (vote over the extracted answers when
the scorer extracts one, else over the pass/fail verdicts) and unbiased pass@k. The extracted answer is
stored in ``scores.answer`` (schema version 4), so a stored run votes on answers just like ``aggregate``.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio

from evals.errors import ConfigError, StoreError
from evals.records import Sample
from evals.scorers.registry import PreparedScorer, prepare_scorer
from evals.scorers.types import Score, ScorerInput
from evals.store import migrate
from evals.suite import ScorerRef, scorer_ids

Aggregation = Literal["mean", "any", "all", "majority"]


# -- pass@k and aggregates ---------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: ``1 - C(n-c, k) / C(n, k)``.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the huge binomials (Chen et
    al., 2021), so it stays exact enough for n in the thousands.
    """
    if n < 1 or k < 1:
        raise ValueError("pass@k needs n >= 1 and k >= 1")
    if not 0 <= c <= n:
        raise ValueError(f"c must be between 0 and n ({n}), not {c}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def _verdict(score: Score) -> bool | None:
    if score.passed is not None:
        return score.passed
    if score.value is not None:
        return score.value >= 0.5
    return None


def aggregate(scores: Sequence[Score], how: Aggregation) -> float | None:
    """Aggregate the scores of several results of one task; scorer errors are left out.

    ``mean`` averages the values; ``any``/``all`` are 1.0 when any/all results passed. ``majority``
    (self-consistency), over the results scored without an error, in the order given:

    - when at least one result has an extracted ``answer``, only those results vote: the most
      common answer wins, a tie going to the answer given first; the aggregate is 1.0 when the first
      result that gave the winning answer passed, else 0.0 (a scorer that extracts answers judges
      equal answers alike, so that is whether the results that gave it passed). Results without an
      answer (nothing extracted) do not vote;
    - when no result has an answer (the scorer extracts none, or rows stored before answers were),
      it is a vote over the verdicts: 1.0 when strictly more than half passed, else 0.0.

    None when no result was scored.
    """
    good = [s for s in scores if s.error is None and s.value is not None]
    if not good:
        return None
    if how == "mean":
        return math.fsum(s.value for s in good if s.value is not None) / len(good)
    verdicts = [_verdict(s) for s in good]
    if how == "any":
        return 1.0 if any(verdicts) else 0.0
    if how == "all":
        return 1.0 if all(verdicts) else 0.0
    if how == "majority":
        answered = [s for s in good if s.answer is not None]
        if answered:
            # Counter keeps first-seen order, so a tie goes to the answer given first.
            winner = Counter(s.answer for s in answered).most_common(1)[0][0]
            chosen = next(s for s in answered if s.answer == winner)
            return 1.0 if _verdict(chosen) else 0.0
        return 1.0 if sum(1 for v in verdicts if v) * 2 > len(verdicts) else 0.0
    raise ValueError(f"unknown aggregation {how!r}")


def default_ks(n: int) -> list[int]:
    """The k of pass@k worth reporting for ``n`` results: 1, 2, 5, 10, 20, 50, 100 up to n."""
    return [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= n]


@dataclass(frozen=True)
class SampleAggregate:
    """The results of one sample in one cell (all replicates and results), by one scorer."""

    cell_id: str
    sample_id: str
    scorer: str
    n: int  # results scored without a scorer error
    n_passed: int
    n_errors: int
    mean: float | None
    any: float | None
    majority: float | None
    pass_at_k: dict[int, float] = field(default_factory=dict)


def aggregate_group(
    cell_id: str, sample_id: str, scorer: str, scores: Sequence[Score], ks: Iterable[int] | None = None
) -> SampleAggregate:
    """Aggregate the scores of one (cell, sample, scorer) group."""
    good = [s for s in scores if s.error is None and s.value is not None]
    passed = sum(1 for s in good if _verdict(s))
    n = len(good)
    wanted = default_ks(n) if ks is None else [k for k in ks if k <= n]
    return SampleAggregate(
        cell_id=cell_id,
        sample_id=sample_id,
        scorer=scorer,
        n=n,
        n_passed=passed,
        n_errors=len(scores) - n,
        mean=aggregate(scores, "mean"),
        any=aggregate(scores, "any"),
        majority=aggregate(scores, "majority"),
        pass_at_k={k: pass_at_k(n, passed, k) for k in wanted} if n else {},
    )


def latest_pass_id(db_path: Path) -> int | None:
    """The newest scoring pass of a run database, or None when it was never scored."""
    with _connect(resolve_db(db_path), readonly=True) as conn:
        row = conn.execute("SELECT MAX(pass_id) FROM scores").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def run_aggregates(
    db_path: Path, *, pass_id: int | None = None, ks: Iterable[int] | None = None
) -> list[SampleAggregate]:
    """Per (cell, sample, scorer) aggregates of a scored run.

    By default each result's newest score by each scorer is used (a later pass that re-scored with
    one scorer leaves the others' scores current); ``pass_id`` picks one pass instead. Warm-up tasks
    are left out. Majority vote uses the stored extracted answers (``scores.answer``) as ``aggregate``
    does; rows without one (scorers that extract none, rows scored before schema version 4, or a
    database older than that, read as it is) vote on their pass/fail verdicts. Results are taken in
    (replicate, result index) order, which is what "the answer given first" means for a tie.
    """
    path = resolve_db(db_path)
    if pass_id is None:
        which = """s.pass_id = (SELECT MAX(s2.pass_id) FROM scores s2 WHERE s2.task_id = s.task_id
                   AND s2.result_index = s.result_index AND s2.scorer = s.scorer)"""
        params: tuple[Any, ...] = ()
    else:
        which, params = "s.pass_id = ?", (pass_id,)
    groups: dict[tuple[str, str, str], list[Score]] = defaultdict(list)
    with _connect(path, readonly=True) as conn:
        answer = "s.answer" if _has_answer_column(conn) else "NULL"
        rows = conn.execute(
            f"""SELECT t.cell_id, t.sample_id, s.scorer, s.value, s.passed, s.error, {answer}
            FROM scores s JOIN tasks t ON t.task_id = s.task_id
            WHERE {which} AND t.warmup = 0
            ORDER BY t.cell_id, t.sample_id, s.scorer, t.replicate, s.result_index""",
            params,
        ).fetchall()
    for cell_id, sample_id, scorer, value, passed, error, answer_text in rows:
        groups[(cell_id, sample_id, scorer)].append(
            Score(
                value=value, passed=None if passed is None else bool(passed), error=error, answer=answer_text
            )
        )
    return [aggregate_group(c, s, name, scores, ks) for (c, s, name), scores in groups.items()]


# -- preparing scorers and scoring one result ---------------------------------------------------


def prepare_scorers(refs: Sequence[ScorerRef], *, judge: Any = None) -> list[PreparedScorer]:
    """Bind every scorer of a suite, checking names and parameters before anything is scored.

    The stored name is the ref's ``id``, else its name; a name used again without an id is stored as
    ``name#2``, ``name#3`` and so on.
    """
    prepared = [
        prepare_scorer(ref.name, ref.params, scorer_id=scorer_id, judge=judge)
        for ref, scorer_id in zip(refs, scorer_ids(list(refs)), strict=True)
    ]
    ids = [p.id for p in prepared]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"two scorers would be stored as {duplicates[0]!r}: give them distinct ids")
    return prepared


def score_result(
    text: str,
    *,
    sample: Sample,
    scorers: Sequence[ScorerRef | PreparedScorer],
    reasoning: str | None = None,
    finish_reason: str | None = None,
    request: dict[str, Any] | None = None,
    result_index: int = 0,
    judge: Any = None,
) -> dict[str, Score]:
    """Score one generated text with each scorer; returns scorer id -> score."""
    refs = [s for s in scorers if isinstance(s, ScorerRef)]
    ready = iter(prepare_scorers(refs, judge=judge))
    prepared = [s if isinstance(s, PreparedScorer) else next(ready) for s in scorers]
    output = ScorerInput(
        text=text,
        reasoning=reasoning,
        finish_reason=finish_reason,
        sample=sample,
        request=request or {},
        result_index=result_index,
    )
    return {p.id: p.score(output) for p in prepared}


# -- scoring a stored run -----------------------------------------------------------------------


@dataclass
class ScorerSummary:
    """How one scorer scored a run."""

    scorer: str
    n: int = 0  # results scored, scorer errors included
    n_passed: int = 0
    n_errors: int = 0
    total: float = 0.0

    @property
    def mean(self) -> float | None:
        scored = self.n - self.n_errors
        return self.total / scored if scored else None


@dataclass
class ScoringSummary:
    """What one scoring pass did."""

    pass_id: int
    db_path: Path
    n_results: int
    scorers: dict[str, ScorerSummary]
    judge_calls: int = 0
    judge_cost: float | None = None  # USD; None when a judge call's cost is unknown
    judge_cost_known: bool = True


def resolve_db(path: Path) -> Path:
    """A run directory or its ``run.sqlite`` -> the database file; ``StoreError`` if there is none."""
    path = Path(path)
    db = path / "run.sqlite" if path.is_dir() else path
    if not db.is_file():
        raise StoreError(f"{path}: no run database (run.sqlite) here")
    return db


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        else:
            conn = sqlite3.connect(path, timeout=30.0)
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the run database: {exc}") from exc
    return conn


def _has_answer_column(conn: sqlite3.Connection) -> bool:
    """Whether ``scores`` has the ``answer`` column (schema version 4 and later)."""
    return any(row[1] == "answer" for row in conn.execute("PRAGMA table_info(scores)"))


def scorer_refs_of_run(db_path: Path) -> list[ScorerRef]:
    """The scorers the run's suite asked for (from its stored expanded suite, else its text)."""
    path = resolve_db(db_path)
    with _connect(path, readonly=True) as conn:
        row = conn.execute("SELECT expanded_json, suite_text FROM run").fetchone()
    if row is None:
        raise StoreError(f"{path}: the run has no manifest")
    expanded_json, suite_text = row
    raw: Any = None
    if expanded_json:
        try:
            raw = json.loads(expanded_json).get("scorers")
        except (ValueError, AttributeError):
            raw = None
    if raw is None and suite_text:
        import yaml

        try:
            raw = (yaml.safe_load(suite_text) or {}).get("scorers")
        except yaml.YAMLError as exc:
            raise StoreError(f"{path}: the stored suite text is not YAML: {exc}") from exc
    try:
        return [ScorerRef.model_validate(item) for item in raw or []]
    except ValueError as exc:
        raise StoreError(f"{path}: the stored scorers are invalid: {exc}") from exc


def _sample_of(sample_json: str, sample_id: str) -> Sample:
    data = json.loads(sample_json) if sample_json else {}
    if not isinstance(data, dict):
        data = {"input": data}
    return Sample(
        id=str(data.get("id", sample_id)),
        input=data.get("input"),
        target=data.get("target"),
        metadata=dict(data.get("metadata") or {}),
        fields=dict(data.get("fields") or {}),
    )


@dataclass(frozen=True)
class _Row:
    task_id: str
    result_index: int
    output: ScorerInput


def _load_rows(conn: sqlite3.Connection) -> list[_Row]:
    try:
        rows = conn.execute(
            """SELECT t.task_id, t.sample_id, t.request_json, t.sample_json,
                      r.result_index, r.text, r.reasoning, r.finish_reason
            FROM results r JOIN tasks t ON t.task_id = r.task_id
            ORDER BY t.task_id, r.result_index"""
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read results: {exc}") from exc
    samples: dict[str, Sample] = {}
    requests: dict[str, dict[str, Any]] = {}
    out = []
    for task_id, sample_id, request_json, sample_json, index, text, reasoning, finish in rows:
        if task_id not in samples:
            samples[task_id] = _sample_of(sample_json, sample_id)
            requests[task_id] = json.loads(request_json) if request_json else {}
        out.append(
            _Row(
                task_id,
                int(index),
                ScorerInput(
                    text=text or "",
                    reasoning=reasoning,
                    finish_reason=finish,
                    sample=samples[task_id],
                    request=requests[task_id],
                    result_index=int(index),
                ),
            )
        )
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def score_run_async(
    db_path: Path,
    scorers: Sequence[ScorerRef],
    *,
    pass_id: int | None = None,
    judge: Any = None,
    concurrency: int = 8,
) -> ScoringSummary:
    """``score_run`` for callers already inside an event loop (the judge may be async)."""
    path = resolve_db(db_path)
    prepared = prepare_scorers(scorers, judge=judge)
    conn = _connect(path)
    try:
        if not _has_answer_column(conn):
            migrate(conn, path)  # an older run database: bring it to this harness's schema first
        if pass_id is None:
            row = conn.execute("SELECT MAX(pass_id) FROM scores").fetchone()
            pass_id = (row[0] or 0) + 1
        rows = _load_rows(conn)
        summary = ScoringSummary(
            pass_id=pass_id,
            db_path=path,
            n_results=len(rows),
            scorers={p.id: ScorerSummary(p.id) for p in prepared},
        )
        judge_costs: list[float | None] = []
        send, receive = anyio.create_memory_object_stream[tuple[_Row, str, Score]](max(1, concurrency) * 4)
        work_send, work_receive = anyio.create_memory_object_stream[_Row](max(1, concurrency))

        # A fixed pool of workers, so a run of any size costs ``concurrency`` tasks, not one per result.
        async def worker(rows_in: Any, scores_out: Any) -> None:
            async with rows_in, scores_out:
                async for row in rows_in:
                    for scorer in prepared:
                        await scores_out.send((row, scorer.id, await scorer.ascore(row.output)))

        async def produce() -> None:
            async with send, work_receive, anyio.create_task_group() as tg:
                for _ in range(max(1, concurrency)):
                    tg.start_soon(worker, work_receive.clone(), send.clone())
                async with work_send:
                    for row in rows:
                        await work_send.send(row)

        # One writer: scores are committed in batches as they arrive, so an interrupted pass keeps
        # what it finished.
        scored_at = _now()
        pending: list[tuple[Any, ...]] = []
        pending_judge: list[tuple[Any, ...]] = []

        def flush() -> None:
            with conn:
                conn.executemany(
                    """INSERT OR REPLACE INTO scores(task_id, result_index, scorer, pass_id, value, passed,
                    explanation, error, scored_at, answer) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                    pending,
                )
                conn.executemany(
                    """INSERT INTO judge_calls(task_id, result_index, scorer, pass_id, model, prompt_tokens,
                    completion_tokens, cost, latency_s, output, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                    pending_judge,
                )
            pending.clear()
            pending_judge.clear()

        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            async with receive:
                async for row, scorer_id, score in receive:
                    stats = summary.scorers[scorer_id]
                    stats.n += 1
                    if score.error is not None or score.value is None:
                        stats.n_errors += 1
                    else:
                        stats.total += score.value
                        stats.n_passed += 1 if _verdict(score) else 0
                    # Stored as text (a user scorer's answer may be a number).
                    answer = None if score.answer is None else str(score.answer)
                    pending.append(
                        (
                            row.task_id,
                            row.result_index,
                            scorer_id,
                            pass_id,
                            score.value,
                            None if score.passed is None else int(score.passed),
                            score.explanation,
                            score.error,
                            scored_at,
                            answer,
                        )
                    )
                    for call in score.judge_calls:
                        judge_costs.append(call.cost)
                        pending_judge.append(
                            (
                                row.task_id,
                                row.result_index,
                                scorer_id,
                                pass_id,
                                call.model,
                                call.prompt_tokens,
                                call.completion_tokens,
                                call.cost,
                                call.latency_s,
                                call.output,
                                call.error,
                            )
                        )
                    if len(pending) >= 200:
                        flush()
        flush()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot write scores: {exc}") from exc
    finally:
        conn.close()
    summary.judge_calls = len(judge_costs)
    known = [c for c in judge_costs if c is not None]
    summary.judge_cost_known = len(known) == len(judge_costs)
    summary.judge_cost = math.fsum(known) if judge_costs and summary.judge_cost_known else None
    return summary


def score_run(
    db_path: Path,
    scorers: list[ScorerRef],
    *,
    pass_id: int | None = None,
    judge: Any = None,
    concurrency: int = 8,
) -> ScoringSummary:
    """Score every stored result of a run with ``scorers`` and store the scores as a new pass.

    May be called from synchronous code or from inside a running event loop (it then scores in a
    thread of its own and blocks until done; async callers should prefer ``score_run_async``).
    """

    def run() -> ScoringSummary:
        return anyio.run(
            lambda: score_run_async(db_path, scorers, pass_id=pass_id, judge=judge, concurrency=concurrency)
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # Inside an event loop: anyio.run would refuse to nest, so run a loop in a thread of its own.
    outcome: dict[str, Any] = {}

    def in_thread() -> None:
        try:
            outcome["value"] = run()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=in_thread, name="evals-score-run")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
