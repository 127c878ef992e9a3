"""The run loop against the real local server's sim engine over loopback (HTTP, Runware protocol)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.suite_loader import load_suite
from runners.runner import RunOptions, run_suite, task_uuid_for
from runners.server import ServerConfig, serve_in_background
from tests.runners.runner_fakes import write_suite

pytestmark = pytest.mark.anyio

FAST = {"ttft_mean": 0.005, "ttft_jitter": 0.002, "tokens_per_s": 20000.0}


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A sim server on an ephemeral loopback port; options from ``@pytest.mark.parametrize('sim', ...)``."""
    options = getattr(request, "param", {})
    with serve_in_background(ServerConfig(engine="sim", sim={**FAST, **options}, queue_size=1024)) as handle:
        yield handle


def options_for(tmp_path: Path, url: str, **kw: Any) -> RunOptions:
    kw.setdefault("cache_path", tmp_path / "cache.sqlite")
    return RunOptions(provider="runware", endpoint=url, api_key="test-key", progress="off", score=False, **kw)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("sim", [{"capacity": 4, "ttft_mean": 0.1, "ttft_jitter": 0.02}], indirect=True)
async def test_adaptive_concurrency_converges_under_a_capacity_limit(tmp_path: Path, sim: Any) -> None:
    extra = "target: {concurrency: 32, retries: {base_delay: 0.005, max_delay: 0.05, max_attempts: 30}}\n"
    loaded = load_suite(write_suite(tmp_path, samples=60, temperatures=(0.0,), extra=extra))
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options_for(tmp_path, sim.url))
    assert summary.status == "completed" and summary.done == 60, summary.message
    assert summary.concurrency_cuts >= 1
    assert summary.errors_by_class.get("throttled", 0) >= 1
    history = rows(summary.db_path, "SELECT limit_value, reason FROM concurrency ORDER BY rowid")
    assert history[0] == (32, "start")
    assert min(v for v, _ in history) <= 8
    # Throttled attempts are stored with the limit they were sent under.
    assert (
        rows(
            summary.db_path,
            "SELECT COUNT(*) FROM attempts WHERE http_status = 429 AND concurrency_limit IS NOT NULL",
        )[0][0]
        >= 1
    )


@pytest.mark.parametrize(
    "sim",
    [{"faults": {"http_500": 0.15, "http_503": 0.1, "drop": 0.05, "malformed_json": 0.05}, "fault_seed": 7}],
    indirect=True,
)
async def test_retries_under_faults_never_pay_twice(tmp_path: Path, sim: Any) -> None:
    extra = "target: {concurrency: 8, timeouts: {read: 2}, retries: {base_delay: 0.005, max_delay: 0.02, max_attempts: 12}}\n"
    loaded = load_suite(write_suite(tmp_path, samples=40, temperatures=(0.0,), extra=extra))
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options_for(tmp_path, sim.url))
    assert summary.status == "completed" and summary.done == 40, summary.errors_by_class
    assert summary.retries > 0
    stats = sim.stats()
    tasks = rows(summary.db_path, "SELECT task_id, task_uuid, attempts FROM tasks")
    for task_id, task_uuid, attempts in tasks:
        assert task_uuid == task_uuid_for(summary.run_id, task_id)
        # Each task was paid for once, however many attempts it took.
        assert stats["paid"].get(task_uuid, 0) == 1
        # Every request the server saw for this task is stored as an attempt (fetches included).
        seen = stats["requests"].get(task_uuid, 0) + stats["polls"].get(task_uuid, 0)
        assert attempts >= stats["requests"].get(task_uuid, 0)
        assert (
            rows(summary.db_path, f"SELECT COUNT(*) FROM attempts WHERE task_id = '{task_id}'")[0][0]
            == attempts
        )
        assert seen >= 1


async def test_a_rerun_served_from_the_cache_makes_zero_requests(tmp_path: Path, sim: Any) -> None:
    loaded = load_suite(write_suite(tmp_path, samples=10, replicates=2))
    first = await run_suite(loaded, run_dir=tmp_path / "r1", options=options_for(tmp_path, sim.url))
    assert first.requests == 40
    before = sim.stats()["total_requests"]
    second = await run_suite(loaded, run_dir=tmp_path / "r2", options=options_for(tmp_path, sim.url))
    assert sim.stats()["total_requests"] == before
    assert second.cache_hits == 40 and second.requests == 0 and second.cost_spent == 0
    assert rows(second.db_path, "SELECT SUM(cache_hit), SUM(cost_spent) FROM tasks") == [(40, 0.0)]
    # Replicates have distinct seeds, hence distinct answers in the cache.
    assert rows(second.db_path, "SELECT COUNT(DISTINCT seed) FROM tasks") == [(40,)]
    same = rows(first.db_path, "SELECT task_id, text FROM results ORDER BY task_id")
    assert same == rows(second.db_path, "SELECT task_id, text FROM results ORDER BY task_id")


@pytest.mark.parametrize("sim", [{"capacity": 2, "ttft_mean": 0.15, "ttft_jitter": 0.0}], indirect=True)
async def test_waiting_for_a_slot_does_not_count_against_the_task_deadline(tmp_path: Path, sim: Any) -> None:
    # 24 tasks through 2 slots take about 2 s, twice the task deadline: queued tasks must not expire
    # (they used to error as taskDeadline after 1-3 real attempts, with made-up attempts counted).
    extra = (
        "target: {concurrency: 16, max_error_rate: 1.0, timeouts: {task: 1.0},"
        " retries: {max_attempts: 8, base_delay: 0.02, max_delay: 0.1}}\n"
    )
    loaded = load_suite(write_suite(tmp_path, samples=24, temperatures=(0.0,), extra=extra))
    summary = await run_suite(loaded, run_dir=tmp_path / "run", options=options_for(tmp_path, sim.url))
    assert summary.status == "completed" and summary.done == 24, summary.errors_by_class
    assert summary.duration_s > 1.0  # the queue really was longer than the deadline
    assert rows(summary.db_path, "SELECT COUNT(*) FROM attempts WHERE error_code = 'taskDeadline'") == [(0,)]
    # Every attempt stored and counted was a request the server saw.
    stats = sim.stats()
    stored = rows(summary.db_path, "SELECT COUNT(*) FROM attempts")[0][0]
    assert stored == summary.requests == stats["total_requests"] + sum(stats["polls"].values())
