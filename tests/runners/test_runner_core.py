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


def options(tmp_path: Path, fake: FakeProvider, **kw: Any) -> RunOptions:
    kw.setdefault("cache_path", tmp_path / "cache.sqlite")
    return RunOptions(provider_factory=factory_of(fake), progress="off", score=False, **kw)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


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
    # --max-tasks is the run's: a resume reapplies it and counts the tasks sent before.
    again = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, resume=True))
    assert again.status == "budget" and again.sent == 0 and again.done == 3
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, resume=True, max_tasks=10)
    )
    assert resumed.status == "completed" and resumed.done == 10 and resumed.sent == 7
    assert set(fake.requests.values()) == {1}
    assert rows(resumed.db_path, "SELECT COUNT(*) FROM segments") == [(3,)]


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
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True, max_tasks=4)
    )
    assert resumed.status == "completed" and resumed.done == 4


# -- review fixes: budget across sessions, resume options and target, cache order, UUIDs, clocks ----


def total_spent(db: Path) -> float:
    return float(rows(db, "SELECT COALESCE(SUM(cost_spent), 0) FROM tasks")[0][0])


async def test_max_cost_covers_the_whole_run_warmup_included_and_resume_keeps_it(tmp_path: Path) -> None:
    # Worst case about $0.0013 a task; each answer costs $0.001; the warm-up task is paid too.
    extra = "settings: {maxTokens: 1000}\ntarget: {warmup: 1, concurrency: 1}\n"
    loaded = load_suite(write_suite(tmp_path, samples=20, temperatures=(0.0,), extra=extra))
    first = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), max_cost=0.006)
    )
    assert first.status == "budget"
    assert rows(first.db_path, "SELECT cost_spent FROM tasks WHERE warmup = 1") == [(0.001,)]
    assert total_spent(first.db_path) <= 0.006
    # Resumed without --max-cost: the stored limit applies, and what was spent counts against it.
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True)
    )
    assert resumed.status == "budget"
    assert total_spent(first.db_path) <= 0.006 + 1e-12
    # A higher limit given again wins (and is kept for the next resume).
    more = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True, max_cost=1.0)
    )
    assert more.status == "completed" and more.done == 20
    notes = rows(first.db_path, "SELECT notes_json FROM run")[0][0]
    assert '"max_cost": 1.0' in notes


async def test_resume_keeps_no_cache_and_the_other_stored_options(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=5, temperatures=(0.0,)))
    await run_suite(
        loaded, run_dir=tmp_path / "warm", options=options(tmp_path, FakeProvider())
    )  # fills the cache
    first = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), cache=False, max_tasks=2)
    )
    assert first.cache_hits == 0 and first.done == 2
    fake = FakeProvider()
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, resume=True, max_tasks=5)
    )
    # The run was started with --no-cache: its resume sends, it does not take cached answers.
    assert resumed.cache_hits == 0 and sum(fake.requests.values()) == 3 and resumed.status == "completed"
    stored = rows(first.db_path, "SELECT notes_json FROM run")[0][0]
    assert '"cache": false' in stored and '"max_tasks": 5' in stored


async def test_a_request_without_a_reported_cost_counts_its_worst_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runners.runner import print_summary

    extra = (
        "settings: {maxTokens: 1000}\n"
        "target: {concurrency: 1, max_error_rate: 1.0, retries: {max_attempts: 1}}\n"
    )
    loaded = load_suite(write_suite(tmp_path, samples=10, temperatures=(0.0,), extra=extra))

    def read_timeout(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        # Sent, maybe generated and billed, but the answer never arrived: no HTTP status, no cost.
        return ApiError(ErrorClass.TRANSIENT, "readTimeout", "read timed out")

    fake = FakeProvider(rule=read_timeout)
    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, max_cost=0.005, cache=False)
    )
    # Counted at about $0.0013 each, at most 3-4 fit under $0.005 (they used to count as free: all 10).
    assert summary.status == "budget" and summary.sent <= 4
    assert summary.cost_unknown_tasks == summary.sent and summary.cost_spent == 0
    print_summary(summary)
    err = capsys.readouterr().err
    assert "spent this session: unknown (" in err and "0.000000 USD)" not in err
    # A resume starts from those worst cases too (stored tasks: cost_spent NULL, attempts with no answer).
    from evals.store import RunStore

    with RunStore.open(summary.db_path) as store:
        known, unknown = store.spent_so_far()
    assert known == 0 and len(unknown) == summary.sent


async def test_resume_refuses_another_provider_endpoint_or_model_unless_allowed(tmp_path: Path) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=4, temperatures=(0.0,)))
    first = await run_suite(
        loaded,
        run_dir=tmp_path / "run",
        options=options(
            tmp_path, FakeProvider(), provider="openai", endpoint="http://a.example:8000/v1", max_tasks=1
        ),
    )
    assert first.done == 1
    with pytest.raises(
        ResumeMismatch, match=r"endpoint 'http://a.example:8000/v1' → 'http://b.example:8000/v1'"
    ):
        await run_suite(
            loaded,
            run_dir=tmp_path / "run",
            options=options(tmp_path, FakeProvider(), resume=True, endpoint="http://b.example:8000/v1"),
        )
    with pytest.raises(ResumeMismatch, match="provider 'openai' → 'runware'.*--allow-provider-change"):
        await run_suite(
            loaded,
            run_dir=tmp_path / "run",
            options=options(tmp_path, FakeProvider(), resume=True, provider="runware"),
        )
    # The refusals left the run as it was: no session recorded, nothing sent.
    assert rows(first.db_path, "SELECT COUNT(*) FROM segments") == [(1,)]
    # The same endpoint spelled differently is the same endpoint.
    same = await run_suite(
        loaded,
        run_dir=tmp_path / "run",
        options=options(
            tmp_path, FakeProvider(), resume=True, endpoint="HTTP://A.example:8000/v1/", max_tasks=2
        ),
    )
    assert same.done == 2
    allowed = await run_suite(
        loaded,
        run_dir=tmp_path / "run",
        options=options(
            tmp_path,
            FakeProvider(),
            resume=True,
            endpoint="http://b.example:8000/v1",
            allow_provider_change=True,
            max_tasks=4,
        ),
    )
    assert allowed.status == "completed"
    assert rows(first.db_path, "SELECT provider, endpoint FROM segments ORDER BY segment") == [
        ("openai", "http://a.example:8000/v1"),
        ("openai", "http://a.example:8000/v1"),
        ("openai", "http://b.example:8000/v1"),
    ]


async def test_a_max_cost_refusal_leaves_no_run_behind(tmp_path: Path) -> None:
    from evals.errors import BudgetReached

    loaded = load_suite(
        write_suite(tmp_path, samples=10, temperatures=(0.0,), extra="settings: {maxTokens: 100}\n")
    )
    with pytest.raises(BudgetReached):
        await run_suite(
            loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), max_cost=1e-9)
        )
    # Not a run stuck at "running" that `evals runs` lists and `--resume` picks up.
    assert not (tmp_path / "run" / "run.sqlite").exists()


async def test_the_run_database_commits_before_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runners.cache import ResponseCache

    loaded = load_suite(write_suite(tmp_path, samples=20, temperatures=(0.0,)))
    run_db = tmp_path / "run" / "run.sqlite"
    checked: list[tuple[int, int]] = []
    original = ResponseCache.flush

    def flush(self: ResponseCache) -> None:
        if self._pending:
            # Every answer about to enter the cache is already committed to the run database, so a
            # crash between the two commits can never make a paid answer look like a free cache hit.
            committed = rows(run_db, "SELECT COUNT(*) FROM tasks WHERE status = 'done' AND cache_hit = 0")[0][
                0
            ]
            checked.append((committed, len(self) + len(self._pending)))
        original(self)

    monkeypatch.setattr(ResponseCache, "flush", flush)
    summary = await run_suite(
        loaded,
        run_dir=tmp_path / "run",
        options=options(tmp_path, FakeProvider(latency=0.002), batch_size=3, flush_interval=0.01),
    )
    assert summary.done == 20 and checked
    assert all(committed >= cached for committed, cached in checked), checked


async def test_a_retry_after_longer_than_max_delay_is_honoured(tmp_path: Path) -> None:
    extra = "target: {retries: {base_delay: 0.001, max_delay: 0.01, max_attempts: 3}, timeouts: {task: 30}}\n"
    loaded = load_suite(write_suite(tmp_path, samples=1, temperatures=(0.0,), extra=extra))

    def busy_once(task: Task, uuid: str, attempt: int, in_flight: int) -> ApiError | None:
        if attempt == 1:
            return ApiError(ErrorClass.THROTTLED, "tooManyRequests", "busy", http_status=429, retry_after=0.3)
        return None

    summary = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(rule=busy_once), cache=False)
    )
    assert summary.done == 1
    ((gap,),) = rows(
        summary.db_path,
        "SELECT b.t_sent - a.t_done FROM attempts a JOIN attempts b ON b.number = a.number + 1",
    )
    assert gap >= 0.29


async def test_a_uuid_the_server_keeps_as_failed_is_rotated_and_stored(tmp_path: Path) -> None:
    extra = "target: {max_error_rate: 1.0, retries: {base_delay: 0.001, max_attempts: 1}}\n"
    loaded = load_suite(write_suite(tmp_path, samples=3, temperatures=(0.0,), extra=extra))
    fake = FakeProvider(fail_first_uuid=True)
    first = await run_suite(loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, cache=False))
    # One attempt each: it failed under the first UUID, and the task moved to a new one.
    assert first.errored == 3
    stored = dict(rows(first.db_path, "SELECT task_id, task_uuid FROM tasks"))
    assert all(stored[t] != fake.first_uuid[t] for t in stored)
    assert rows(first.db_path, "SELECT DISTINCT error_code FROM attempts") == [("conflictTaskUUIDFailed",)]
    # A resume sends under the stored (new) UUID instead of polling the failed one forever.
    resumed = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, fake, resume=True, cache=False)
    )
    assert resumed.status == "completed" and resumed.done == 3
    assert all(fake.requests[fake.first_uuid[t]] == 1 for t in stored)
    assert all(fake.requests[stored[t]] == 1 for t in stored)
    assert dict(rows(first.db_path, "SELECT task_id, task_uuid FROM tasks")) == stored
    # Within one session the rotation is retried at once.
    again = FakeProvider(fail_first_uuid=True)
    loaded2 = load_suite(
        write_suite(
            tmp_path, samples=3, temperatures=(0.0,), extra="target: {retries: {base_delay: 0.001}}\n"
        )
    )
    summary = await run_suite(
        loaded2, run_dir=tmp_path / "run2", options=options(tmp_path, again, cache=False)
    )
    assert summary.done == 3 and summary.requests == 6


async def test_each_session_has_its_own_clock_mapped_onto_the_run_timeline(tmp_path: Path) -> None:
    import time

    loaded = load_suite(write_suite(tmp_path, samples=6, temperatures=(0.0,)))
    first = await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), max_tasks=3, cache=False)
    )
    db = first.db_path
    # As if the first session ran on another boot 100 s ago: its perf_counter origin is meaningless now.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE run SET monotonic_origin = 1e9")
        conn.execute("UPDATE segments SET monotonic_origin = 1e9, wall_origin = ?", (time.time() - 100,))
    before = rows(db, "SELECT MAX(t_done) FROM attempts")[0][0]
    await run_suite(
        loaded, run_dir=tmp_path / "run", options=options(tmp_path, FakeProvider(), resume=True, max_tasks=6)
    )
    later = rows(
        db, "SELECT MIN(t_sent), MIN(t_done) FROM attempts WHERE number = 1 AND t_sent > ?", (before,)
    )
    (t_sent, _t_done) = later[0]
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE t_sent < 0 OR t_done < 0") == [(0,)]
    assert t_sent is not None and t_sent >= 99  # the wall clock placed it 100 s into the run
    assert rows(
        db, "SELECT COUNT(*) FROM segments WHERE monotonic_origin IS NOT NULL AND run_offset >= 99"
    ) == [(1,)]
