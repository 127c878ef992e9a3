"""The run loop against an in-process fake provider: storage, retries, limits, budget, cache, resume."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from evals.errors import ExitCode, ResumeMismatch
from evals.records import ApiError, ErrorClass, Task
from evals.suite_loader import load_suite
from runners.runner import RunOptions, run_suite
from tests.runners.runner_fakes import FakeProvider, write_suite

pytestmark = pytest.mark.anyio


def factory_of(provider: FakeProvider) -> Any:
    @asynccontextmanager
    async def factory(target: Any) -> Any:
        yield provider

    return factory


def options(tmp_path: Path, provider: FakeProvider, **kw: Any) -> RunOptions:
    kw.setdefault("cache_path", tmp_path / "cache.sqlite")
    return RunOptions(provider_factory=factory_of(provider), progress="off", score=False, **kw)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_run_stores_every_task_result_and_attempt(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=5, replicates=2))
    fake = FakeProvider()
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.status == "completed" and summary.exit_code == ExitCode.OK
    assert summary.total == summary.done == 20
    db = summary.db_path
    assert rows(db, "SELECT COUNT(*) FROM results") == [(20,)]
    assert rows(db, "SELECT COUNT(*), SUM(number) FROM attempts") == [(20, 20)]
    assert rows(db, "SELECT DISTINCT status FROM tasks") == [("done",)]
    assert rows(db, "SELECT status FROM run") == [("completed",)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    # Each task went out exactly once, under its own UUID.
    assert len(fake.requests) == 20 and set(fake.requests.values()) == {1}
    assert summary.cost == pytest.approx(0.02) and summary.cost_spent == pytest.approx(0.02)


async def test_transient_errors_are_retried_and_every_attempt_stored(tmp_path: Path) -> None:
    loaded = load_suite(
        write_suite(tmp_path, samples=6, extra="target: {retries: {base_delay: 0.001, max_attempts: 4}}\n")
    )

    def flaky(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        if attempt <= 2:
            return ApiError(ErrorClass.TRANSIENT, "serverError", "boom", http_status=500)
        return None

    fake = FakeProvider(rule=flaky)
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.status == "completed"
    assert summary.retries == 24 and summary.requests == 36
    assert rows(summary.db_path, "SELECT COUNT(*) FROM attempts WHERE error_code = 'serverError'") == [(24,)]
    assert rows(summary.db_path, "SELECT MIN(attempts), MAX(attempts) FROM tasks") == [(3, 3)]
    # Nothing was sent again once it had an answer.
    assert all(n == 3 for n in fake.requests.values())


async def test_permanent_errors_are_not_retried_and_never_scored_as_wrong(tmp_path: Path) -> None:
    loaded = load_suite(
        write_suite(tmp_path, samples=10, temperatures=(0.0,), extra="target: {max_error_rate: 0.5}\n")
    )

    def bad_for_some(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        if task.sample_id in ("s1", "s2"):
            return ApiError(ErrorClass.PERMANENT, "invalidParameter", "bad", http_status=400)
        return None

    fake = FakeProvider(rule=bad_for_some)
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.status == "completed" and summary.errored == 2
    assert rows(summary.db_path, "SELECT error_class, attempts FROM tasks WHERE status='errored'") == [
        ("permanent", 1),
        ("permanent", 1),
    ]
    assert rows(
        summary.db_path, "SELECT COUNT(*) FROM results r JOIN tasks t USING(task_id) WHERE t.status='errored'"
    ) == [(0,)]


async def test_too_many_errors_fail_the_run(tmp_path: Path) -> None:
    loaded = load_suite(
        write_suite(
            tmp_path, samples=10, temperatures=(0.0,), extra="target: {max_error_rate: 0.1, concurrency: 1}\n"
        )
    )

    def always(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        return ApiError(ErrorClass.PERMANENT, "invalidParameter", "bad", http_status=400)

    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(rule=always))
    )
    assert summary.status == "failed" and summary.exit_code == ExitCode.RUN_FAILED
    # It stopped dispatching once the error rate could no longer be met.
    assert summary.errored == 2 and summary.pending == 8


async def test_fatal_error_stops_dispatch_and_exits_3(tmp_path: Path) -> None:
    loaded = load_suite(
        write_suite(tmp_path, samples=20, temperatures=(0.0,), extra="target: {concurrency: 2}\n")
    )
    seen: list[str] = []

    def fatal_on_fifth(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        seen.append(uuid)
        if len(seen) == 5:
            return ApiError(ErrorClass.FATAL, "insufficientCredits", "no balance", http_status=402)
        return None

    fake = FakeProvider(rule=fatal_on_fifth)
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.status == "failed" and summary.exit_code == ExitCode.RUN_FAILED
    assert "insufficientCredits" in (summary.message or "")
    assert summary.requests <= 7  # in-flight ones finished, nothing new was sent
    assert summary.pending >= 13


async def test_adaptive_limit_backs_off_under_capacity_and_records_history(tmp_path: Path) -> None:
    extra = "target: {concurrency: 32, retries: {base_delay: 0.001, max_delay: 0.01, max_attempts: 50}}\n"
    loaded = load_suite(write_suite(tmp_path, samples=100, temperatures=(0.0,), extra=extra))
    fake = FakeProvider(capacity=4, latency=0.005)
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.status == "completed" and summary.done == 100, summary
    assert summary.concurrency_cuts >= 2
    history = rows(summary.db_path, "SELECT limit_value, reason FROM concurrency ORDER BY rowid")
    assert history[0] == (32, "start")
    assert any(r == "throttled" for _, r in history)
    assert min(v for v, _ in history) <= 8
    assert max(v for v, _ in history) <= 32


async def test_max_tasks_stops_with_budget_status(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=10, temperatures=(0.0,)))
    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), max_tasks=4)
    )
    assert summary.status == "budget" and summary.exit_code == ExitCode.BUDGET
    assert summary.done == 4 and summary.pending == 6


async def test_max_cost_stops_before_the_worst_case_could_pass_it(tmp_path: Path) -> None:
    # maxTokens 1000 at $1.326/M output: each task's worst case is about $0.0013.
    loaded = load_suite(
        write_suite(tmp_path, samples=10, temperatures=(0.0,), extra="settings: {maxTokens: 1000}\n")
    )
    fake = FakeProvider(cost=0.001)
    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, max_cost=0.005)
    )
    assert summary.status == "budget"
    assert summary.cost_spent <= 0.005
    assert 0 < summary.done < 10


async def test_rerun_is_served_from_cache_at_no_cost(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=5, replicates=2))
    first = FakeProvider()
    await run_suite(loaded, run_dir=tmp_path / "r1", options=options(tmp_path, first))
    second = FakeProvider()
    summary = await run_suite(loaded, run_dir=tmp_path / "r2", options=options(tmp_path, second))
    assert sum(second.requests.values()) == 0
    assert summary.cache_hits == 20 and summary.cost_spent == 0
    assert rows(
        summary.db_path, "SELECT SUM(cache_hit), SUM(cost_spent), ROUND(SUM(cost), 6) FROM tasks"
    ) == [(20, 0.0, 0.02)]
    # Same answers as the first run.
    a = rows(tmp_path / "r1" / "run.sqlite", "SELECT task_id, text FROM results ORDER BY task_id")
    b = rows(summary.db_path, "SELECT task_id, text FROM results ORDER BY task_id")
    assert a == b
    # --refresh-cache sends again; --no-cache too.
    third = FakeProvider()
    await run_suite(loaded, run_dir=tmp_path / "r3", options=options(tmp_path, third, refresh_cache=True))
    assert sum(third.requests.values()) == 20
    fourth = FakeProvider()
    await run_suite(loaded, run_dir=tmp_path / "r4", options=options(tmp_path, fourth, cache=False))
    assert sum(fourth.requests.values()) == 20


async def test_resume_sends_only_unfinished_tasks(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=10, temperatures=(0.0,)))
    fake = FakeProvider()
    first = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, max_tasks=3, cache=False)
    )
    assert first.done == 3
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, resume=True, cache=False)
    )
    assert resumed.status == "completed" and resumed.done == 10 and resumed.sent == 7
    assert set(fake.requests.values()) == {1}
    assert rows(resumed.db_path, "SELECT COUNT(*) FROM segments") == [(2,)]


async def test_resume_refuses_a_suite_whose_tasks_changed(tmp_path: Path) -> None:
    path = write_suite(tmp_path, samples=4, temperatures=(0.0,))
    await run_suite(
        load_suite(path), run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), max_tasks=1)
    )
    write_suite(tmp_path, samples=4, temperatures=(0.0, 0.3))
    with pytest.raises(ResumeMismatch, match="grid cell"):
        await run_suite(
            load_suite(path), run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True)
        )


async def test_conflict_fetches_instead_of_sending_again(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=3, temperatures=(0.0,)))

    def conflict_first(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        return (
            ApiError(ErrorClass.CONFLICT, "conflictTaskUUID", "already sent", http_status=400)
            if attempt == 1
            else None
        )

    fake = FakeProvider(rule=conflict_first)
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake))
    assert summary.done == 3
    assert set(fake.requests.values()) == {1} and set(fake.fetches.values()) == {1}


async def test_warmup_tasks_are_stored_apart(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=4, temperatures=(0.0,), extra="target: {warmup: 2}\n"))
    fake = FakeProvider()
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, cache=False))
    assert summary.total == 4 and summary.done == 4
    assert rows(summary.db_path, "SELECT COUNT(*), SUM(status = 'done') FROM tasks WHERE warmup = 1") == [
        (2, 2)
    ]
    assert sum(fake.requests.values()) == 6


async def test_open_loop_records_schedule_and_dispatch(tmp_path: Path) -> None:
    loaded = load_suite(
        write_suite(
            tmp_path, samples=20, temperatures=(0.0,), extra="target: {rate: 200, arrival: poisson}\n"
        )
    )
    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), cache=False)
    )
    assert summary.done == 20
    got = rows(summary.db_path, "SELECT scheduled_at, dispatched_at FROM tasks ORDER BY scheduled_at")
    assert all(s is not None and d is not None and d >= s - 1e-3 for s, d in got)
    span = got[-1][0] - got[0][0]
    assert 0.02 < span < 1.0  # 19 gaps of mean 5 ms


async def test_max_cost_below_the_plan_minimum_refuses_to_start(tmp_path: Path) -> None:
    from evals.errors import BudgetReached

    loaded = load_suite(
        write_suite(tmp_path, samples=10, temperatures=(0.0,), extra="settings: {maxTokens: 100}\n")
    )
    fake = FakeProvider()
    with pytest.raises(BudgetReached, match="minimum cost estimate"):
        await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, max_cost=1e-9))
    assert sum(fake.requests.values()) == 0


async def test_overrides_are_reapplied_on_resume_and_bad_ones_refused(tmp_path: Path) -> None:
    from evals.errors import ConfigError

    loaded = load_suite(write_suite(tmp_path, samples=4, temperatures=(0.0,)))
    with pytest.raises(ConfigError):
        await run_suite(
            loaded, run_dir=tmp_path / "bad", options=options(tmp_path, FakeProvider(), concurrency=0)
        )
    first = await run_suite(
        loaded,
        run_dir=tmp_path / "run",
        options=options(tmp_path, FakeProvider(), model="other:model@1", max_tasks=1),
    )
    assert rows(first.db_path, "SELECT DISTINCT model FROM cells") == [("other:model@1",)]
    # Resuming without --model keeps the model the run started with (else its tasks would differ).
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True)
    )
    assert resumed.status == "completed" and resumed.done == 4
