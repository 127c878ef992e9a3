"""The run database: atomic creation, batching, migrations, crash safety, overviews."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evals.errors import StoreError
from evals.records import ApiError, Attempt, Cell, ErrorClass, Generation, Sample, Task, Usage
from evals.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Manifest,
    RunStore,
    TaskOutcome,
    read_overview,
    schema_sql,
    stored_version,
)


def manifest(**kw: object) -> Manifest:
    base: dict[str, object] = dict(
        run_id="r1",
        suite_name="demo",
        suite_text="name: demo\n",
        suite_hash="s1-x",
        provider="sim",
        harness_version="0.1.0",
        started_at="2026-01-01T00:00:00.000Z",
        notes={"options": {"limit": 3}},
    )
    base.update(kw)
    return Manifest(**base)  # type: ignore[arg-type]


CELL = Cell(
    id="c1",
    axes={"settings.temperature": 0.2},
    model="m",
    settings={"temperature": 0.2},
    number_results=2,
    delivery_method="sync",
)


def task(i: int) -> Task:
    return Task(
        id=f"t{i}",
        cell_id="c1",
        sample_id=f"s{i}",
        replicate=0,
        seed=i,
        request={"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]},
        sample=Sample(id=f"s{i}", input=f"q{i}", target=str(i)),
    )


def done(i: int) -> TaskOutcome:
    usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    gens = [
        Generation(index=k, text=f"a{i}-{k}", finish_reason="stop", seed=i + k, usage=usage, cost=0.5)
        for k in range(2)
    ]
    return TaskOutcome(
        task_id=f"t{i}",
        status="done",
        attempts=1,
        task_uuid=f"u{i}",
        generations=gens,
        usage=usage,
        cost=1.0,
        cost_spent=1.0,
        cost_source="provider",
    )


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def drop_v4_columns(conn: sqlite3.Connection) -> None:
    """Take out what version 4 added (``scores.answer``), as in a database written before it."""
    conn.execute("ALTER TABLE scores DROP COLUMN answer")


def test_create_writes_manifest_plan_and_wal(tmp_path: Path) -> None:
    db = tmp_path / "run" / "run.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(i) for i in range(3)]) as store:
        assert store.manifest().notes == {"options": {"limit": 3}}
        assert {s.status for s in store.task_states().values()} == {"pending"}
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert not (tmp_path / "run" / "run.sqlite.creating").exists()
    with pytest.raises(StoreError, match="already exists"):
        RunStore.create(db, manifest())


def test_results_are_buffered_until_count_or_time(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    store = RunStore.create(
        db, manifest(), cells=[CELL], tasks=[task(i) for i in range(10)], batch_size=4, flush_interval=3600
    )
    store.finish_task(done(0))
    assert not store.flush_due() and rows(db, "SELECT COUNT(*) FROM results") == [(0,)]
    for i in range(1, 4):
        store.finish_task(done(i))
    assert store.flush_due()
    store.flush()
    assert rows(db, "SELECT COUNT(*), SUM(cost) FROM results") == [(8, 4.0)]
    assert rows(db, "SELECT status, task_uuid, usage_total_tokens FROM tasks WHERE task_id='t0'") == [
        ("done", "u0", 5)
    ]
    store.flush_interval = 0.0
    store.finish_task(done(4))
    assert store.flush_due()
    store.close()


def test_attempts_and_errors_are_stored_and_never_become_results(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(0)]) as store:
        err = ApiError(ErrorClass.THROTTLED, "tooManyRequests", "slow down", http_status=429)
        a = Attempt("t0", "u0", 1, http_status=429, error=err)
        a.timing.sent, a.timing.done = 101.0, 101.5
        store.add_attempt(a, origin=100.0, concurrency_limit=8)
        store.finish_task(TaskOutcome("t0", "errored", attempts=1, task_uuid="u0", error=err))
    assert rows(db, "SELECT error_class, t_sent, t_done, concurrency_limit FROM attempts") == [
        ("throttled", 1.0, 1.5, 8)
    ]
    assert rows(db, "SELECT status, error_class, error_code FROM tasks") == [
        ("errored", "throttled", "tooManyRequests")
    ]
    assert rows(db, "SELECT COUNT(*) FROM results") == [(0,)]


def test_migrates_a_version_1_database_forward(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(0)]):
        pass
    with sqlite3.connect(db) as conn:  # make it look like a version 1 database
        conn.execute("DROP TABLE segments")
        drop_v4_columns(conn)
        conn.execute("UPDATE schema_version SET version = 1")
    assert 1 in MIGRATIONS
    with RunStore.open(db) as store:
        assert store.begin_segment(os.getpid(), None) == 1
    with sqlite3.connect(db) as conn:
        assert stored_version(conn) == SCHEMA_VERSION


def test_refuses_newer_and_foreign_databases(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    with RunStore.create(db, manifest()):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match="newer harness"):
        RunStore.open(db)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).close()
    with pytest.raises(StoreError, match="not a run database"):
        RunStore.open(other)
    with pytest.raises(StoreError, match="no run database"):
        RunStore.open(tmp_path / "missing.sqlite")


def test_schema_file_and_store_agree() -> None:
    assert f"version {SCHEMA_VERSION}" in schema_sql().splitlines()[0]


def test_overview_counts_statuses_and_costs(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(i) for i in range(3)]) as store:
        store.finish_task(done(0))
        hit = done(1)
        hit.cache_hit, hit.cost_spent = True, 0.0
        store.finish_task(hit)
        store.set_status("completed")
    o = read_overview(db)
    assert o.counts == {"pending": 1, "done": 2, "errored": 0, "skipped": 0}
    assert (o.total, o.cache_hits, o.cost, o.cost_spent, o.status) == (3, 1, 2.0, 1.0, "completed")
    assert o.duration_s is not None


def test_a_kill_mid_batch_loses_only_the_uncommitted_batch(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(i) for i in range(6)]):
        pass
    # A child process commits one batch, buffers another, then dies without any cleanup.
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.evals.test_store import done
        from evals.store import RunStore
        store = RunStore.open(__import__('pathlib').Path({str(db)!r}), batch_size=1000, flush_interval=3600)
        for i in range(3):
            store.finish_task(done(i))
        store.flush()
        for i in range(3, 6):
            store.finish_task(done(i))
        os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert rows(db, "SELECT task_id FROM tasks WHERE status='done' ORDER BY task_id") == [
        ("t0",),
        ("t1",),
        ("t2",),
    ]
    assert rows(db, "SELECT COUNT(*) FROM results") == [(6,)]


def test_a_run_whose_process_died_is_shown_as_killed(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with RunStore.create(db, manifest()) as store:
        store.begin_segment(dead.pid, None)
    assert read_overview(db).status == "killed"
    with RunStore.open(db) as store:
        store.begin_segment(os.getpid(), None)
    assert read_overview(db).status == "running"


def test_overview_spent_counts_warmup_tasks(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    warm = dataclasses.replace(task(9), id="warmup-0-t9")
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(0)]) as store:
        store.add_tasks([warm], warmup=True)
        store.finish_task(done(0))
        w = done(9)
        w.task_id = warm.id
        store.finish_task(w)
        store.set_status("completed")
    o = read_overview(db)
    # Warm-up requests were paid: spent includes them; counts and answer costs do not.
    assert (o.total, o.cost, o.cost_spent) == (1, 1.0, 2.0)
    with RunStore.open(db) as store:
        assert store.spent_so_far() == (2.0, [])


def test_migrates_a_version_2_database_and_records_sessions(tmp_path: Path) -> None:
    from evals.store import SessionInfo

    db = tmp_path / "v2.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(0)]):
        pass
    with sqlite3.connect(db) as conn:  # make it look like a version 2 database (segments without v3 columns)
        conn.execute("DROP TABLE segments")
        conn.execute(
            """CREATE TABLE segments (segment INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
            status TEXT, pid INTEGER, cli_args_json TEXT, tasks_sent INTEGER, requests INTEGER)"""
        )
        conn.execute("INSERT INTO segments(started_at, pid) VALUES ('2026-01-01T00:00:00Z', 1)")
        drop_v4_columns(conn)
        conn.execute("UPDATE schema_version SET version = 2")
    info = SessionInfo("runware", "https://api.runware.ai/v1", "m", 12.5, 1.7e9, 30.0)
    with RunStore.open(db) as store:
        assert store.begin_segment(os.getpid(), None, info) == 2
        assert store.sessions() == [SessionInfo(), info]
        store.set_task_uuid("t0", "rotated-uuid")
    assert rows(db, "SELECT task_uuid FROM tasks") == [("rotated-uuid",)]
    with sqlite3.connect(db) as conn:
        assert stored_version(conn) == SCHEMA_VERSION


def test_migrates_a_version_3_database_keeping_its_scores(tmp_path: Path) -> None:
    from evals.scoring import run_aggregates

    db = tmp_path / "v3.sqlite"
    with RunStore.create(db, manifest(), cells=[CELL], tasks=[task(0)]) as store:
        store.finish_task(done(0))
    with sqlite3.connect(db) as conn:  # a version 3 database: scores without the answer column
        drop_v4_columns(conn)
        conn.executemany(
            """INSERT INTO scores(task_id, result_index, scorer, pass_id, value, passed, explanation)
            VALUES ('t0', ?, 'numeric', 1, ?, ?, 'old')""",
            [(0, 1.0, 1), (1, 0.0, 0)],
        )
        conn.execute("UPDATE schema_version SET version = 3")
    assert 3 in MIGRATIONS
    # Read as it is (reports read every version): majority falls back to the verdicts (1 of 2: no).
    (old,) = run_aggregates(db)
    assert (old.n, old.n_passed, old.any, old.majority) == (2, 1, 1.0, 0.0)
    with RunStore.open(db):
        pass
    with sqlite3.connect(db) as conn:
        assert stored_version(conn) == SCHEMA_VERSION == 4
    assert rows(db, "SELECT result_index, value, passed, explanation, answer FROM scores ORDER BY 1") == [
        (0, 1.0, 1, "old", None),
        (1, 0.0, 0, "old", None),
    ]
    assert rows(db, "SELECT name FROM pragma_table_info('scores') ORDER BY cid DESC LIMIT 1") == [("answer",)]
    assert read_overview(db).counts["done"] == 1
    (migrated,) = run_aggregates(db)
    assert migrated == old
