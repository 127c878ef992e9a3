"""Crash safety: ``evals run`` killed with SIGKILL at random moments, then resumed, ends with exactly
the results of an uninterrupted run, and no task that had a stored answer is ever sent again."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runners.server import ServerConfig, serve_in_background
from tests.runners.runner_fakes import write_suite

SIM = {"ttft_mean": 0.05, "ttft_jitter": 0.02, "tokens_per_s": 2000.0}


@pytest.fixture
def sim() -> Iterator[Any]:
    with serve_in_background(ServerConfig(engine="sim", sim=SIM, queue_size=1024)) as handle:
        yield handle


def evals(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNWARE_API_KEY": "test-key", "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen(
        [sys.executable, "-m", "evals", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def results(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT task_id, result_index, text, finish_reason, seed FROM results ORDER BY task_id, result_index"
        ).fetchall()


def done_uuids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT task_uuid FROM tasks WHERE status = 'done'")}


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path: Path, sim: Any) -> None:
    suite = write_suite(tmp_path, samples=60, temperatures=(0.0, 0.7), extra="target: {concurrency: 4}\n")
    common = [
        "--provider",
        "runware",
        "--endpoint",
        sim.url,
        "--no-cache",
        "--progress",
        "off",
        "--no-report",
    ]

    reference = evals(tmp_path, "run", str(suite), "--out", "ref", *common)
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err.decode()
    expected = results(tmp_path / "ref" / "run.sqlite")
    assert len(expected) == 120

    rng = random.Random(1234)
    db = tmp_path / "killed" / "run.sqlite"
    args = ["run", str(suite), "--out", "killed", *common]
    frozen: dict[str, int] = {}  # task UUID stored as done -> requests the server had seen for it then
    stored_at_kill: list[int] = []
    # The first kill lands during startup; the others once results are flowing, at a random moment
    # (between commits, in the middle of one, or while requests are in flight).
    for session in range(4):
        proc = evals(tmp_path, *args)
        if session == 0:
            time.sleep(rng.uniform(0.05, 0.4))
        else:
            floor = len(done_uuids(db))
            deadline = time.monotonic() + 60
            while len(done_uuids(db)) <= floor and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            proc.communicate()
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        seen = sim.stats()["requests"]
        stored = done_uuids(db)
        stored_at_kill.append(len(stored))
        for u in stored:
            frozen.setdefault(u, seen.get(u, 0))
        if db.exists():
            args = ["run", str(suite), "--resume", "killed", *common]
    proc = evals(tmp_path, *args)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()

    # At least two kills landed mid-run, with some but not all results stored.
    assert sum(1 for n in stored_at_kill if 0 < n < 120) >= 2, stored_at_kill
    assert results(db) == expected
    final = sim.stats()
    # No task whose answer was stored was ever sent again...
    assert {u: final["requests"].get(u, 0) for u in frozen} == frozen
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT status FROM run").fetchone() == ("completed",)
        uuids = [r[0] for r in conn.execute("SELECT task_uuid FROM tasks")]
        sessions = conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    assert sessions >= 2
    # ...and however often the run was killed, each task was paid for once (a resent task whose
    # answer was lost gets conflictTaskUUID and is fetched, not generated again).
    assert all(final["paid"].get(u, 0) == 1 for u in uuids)
