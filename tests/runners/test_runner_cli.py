"""``evals run``, ``evals resume`` and ``evals runs`` end to end: flags, exit codes, interrupts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.cli import main
from evals.errors import ExitCode
from runners.server import ServerConfig, serve_in_background
from tests.runners.runner_fakes import write_suite

SIM_TARGET = "target: {provider: sim, concurrency: 4, sim: {ttft_mean: 0.002, ttft_jitter: 0.001, tokens_per_s: 20000}}\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def evals(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def one(db: Path, sql: str) -> Any:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()


def test_run_on_the_embedded_sim_then_list_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, samples=6, extra=SIM_TARGET + "scorers: [{name: exact_match}]\n")
    code = evals("run", str(suite), "--out", "r1", "--progress", "plain", "--no-report")
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    assert "run completed: 12/12 done" in err and "run directory: r1" in err
    assert one(tmp_path / "r1" / "run.sqlite", "SELECT status, provider FROM run") == ("completed", "sim")
    assert one(tmp_path / "r1" / "run.sqlite", "SELECT COUNT(*) FROM scores")[0] == 12
    assert evals("runs", str(tmp_path), "--plain") == 0
    listing = capsys.readouterr().out
    assert "fake-suite\tcompleted\t12/12" in listing
    # The same --out again is a usage error; --resume of a finished run sends nothing and succeeds.
    assert evals("run", str(suite), "--out", "r1", "--no-report") == ExitCode.CONFIG
    assert evals("run", str(suite), "--resume", "r1", "--no-report", "--progress", "off") == ExitCode.OK
    assert "0 requests" in capsys.readouterr().err


def test_max_tasks_exits_4_and_a_changed_suite_refuses_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, samples=6, extra=SIM_TARGET)
    assert (
        evals("run", str(suite), "--out", "r", "--max-tasks", "3", "--progress", "off", "--no-report")
        == ExitCode.BUDGET
    )
    assert "resume with: evals resume r" in capsys.readouterr().err
    write_suite(tmp_path, samples=7, extra=SIM_TARGET)
    assert evals("resume", "r", "--no-report", "--progress", "off") == ExitCode.CONFIG
    assert "1 sample(s) affected" in capsys.readouterr().err
    write_suite(tmp_path, samples=6, extra=SIM_TARGET)
    # --max-tasks is the run's limit and a resume keeps it: it needs a higher one to go on.
    assert evals("resume", "r", "--no-report", "--progress", "off") == ExitCode.BUDGET
    assert "higher --max-cost or --max-tasks" in capsys.readouterr().err
    assert evals("resume", "r", "--no-report", "--progress", "off", "--max-tasks", "12") == ExitCode.OK
    assert one(tmp_path / "r" / "run.sqlite", "SELECT COUNT(*) FROM tasks WHERE status = 'done'") == (12,)


@pytest.fixture
def locked_sim() -> Iterator[Any]:
    with serve_in_background(ServerConfig(engine="sim", api_key="right-key")) as handle:
        yield handle


def test_a_fatal_api_error_exits_3_without_retrying(
    tmp_path: Path, locked_sim: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "wrong-key")
    suite = write_suite(tmp_path, samples=20, extra="target: {concurrency: 2}\n")
    code = evals(
        "run",
        str(suite),
        "--provider",
        "runware",
        "--endpoint",
        locked_sim.url,
        "--out",
        "r",
        "--no-report",
        "--progress",
        "off",
    )
    err = capsys.readouterr().err
    assert code == ExitCode.RUN_FAILED, err
    assert "fatal API error" in err and "wrong-key" not in err
    assert locked_sim.stats()["total_requests"] <= 3
    assert one(tmp_path / "r" / "run.sqlite", "SELECT status FROM run") == ("failed",)


def test_ctrl_c_saves_prints_the_resume_command_and_resume_finishes(tmp_path: Path) -> None:
    slow = "target: {provider: sim, concurrency: 2, sim: {ttft_mean: 0.1, ttft_jitter: 0.01}}\n"
    suite = write_suite(tmp_path, samples=40, extra=slow)
    env = {**os.environ, "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "evals",
        "run",
        str(suite),
        "--out",
        "r",
        "--no-report",
        "--progress",
        "plain",
        "--grace",
        "5",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    db = tmp_path / "r" / "run.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and one(db, "SELECT COUNT(*) FROM tasks WHERE status = 'done'")[0] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "resume with: evals resume r" in err
    assert one(db, "SELECT status FROM run") == ("interrupted",)
    done_then = one(db, "SELECT COUNT(*) FROM tasks WHERE status = 'done'")[0]
    assert 2 <= done_then < 80
    resumed = subprocess.run(
        [sys.executable, "-m", "evals", "resume", "r", "--no-report", "--progress", "off"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert one(db, "SELECT status FROM run") == ("completed",)
    assert one(db, "SELECT COUNT(*) FROM tasks WHERE status = 'done'") == (80,)


def test_a_second_ctrl_c_stops_at_once_without_corrupting_the_run(tmp_path: Path) -> None:
    slow = "target: {provider: sim, concurrency: 4, sim: {ttft_mean: 5.0, ttft_jitter: 0.1}}\n"
    suite = write_suite(tmp_path, samples=10, extra=slow)
    env = {**os.environ, "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "evals",
        "run",
        str(suite),
        "--out",
        "r",
        "--no-report",
        "--progress",
        "off",
        "--grace",
        "120",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    db = tmp_path / "r" / "run.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (db.exists() and one(db, "SELECT COUNT(*) FROM segments")[0]):
        time.sleep(0.05)
    time.sleep(1.5)  # requests are in flight, each for about 5 s
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 4.0  # not the 120 s grace period, nor the 5 s answers
    assert proc.returncode == ExitCode.INTERRUPTED, err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT status FROM run").fetchone() == ("interrupted",)
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").fetchone() == (20,)


def test_a_missing_api_key_is_a_usage_error_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RUNWARE_API_KEY", raising=False)
    suite = write_suite(tmp_path, samples=2)
    assert evals("run", str(suite), "--provider", "runware", "--out", "r", "--no-report") == ExitCode.CONFIG
    assert "RUNWARE_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bare_resume_finds_the_newest_unfinished_run_of_the_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, samples=3, extra=SIM_TARGET)
    assert evals("run", str(suite), "--max-tasks", "2", "--progress", "off", "--no-report") == ExitCode.BUDGET
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("fake-suite-")
    assert (
        evals("run", str(suite), "--resume", "--progress", "off", "--no-report", "--max-tasks", "6")
        == ExitCode.OK
    )
    assert one(run_dir / "run.sqlite", "SELECT status FROM run") == ("completed",)
    capsys.readouterr()
    assert evals("run", str(suite), "--resume", "--progress", "off", "--no-report") == ExitCode.CONFIG
    assert "no unfinished run" in capsys.readouterr().err


def test_resume_refuses_another_provider_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, samples=3, extra=SIM_TARGET)
    assert evals("run", str(suite), "--out", "r", "--max-tasks", "2", "--progress", "off", "--no-report") == 4
    capsys.readouterr()
    monkeypatch.setenv("RUNWARE_API_KEY", "some-key")
    args = ["resume", "r", "--provider", "runware", "--max-tasks", "6", "--progress", "off", "--no-report"]
    assert evals(*args) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "provider 'sim' → 'runware'" in err and "--allow-provider-change" in err
    assert one(tmp_path / "r" / "run.sqlite", "SELECT COUNT(*), MAX(provider) FROM segments") == (1, "sim")
    assert one(tmp_path / "r" / "run.sqlite", "SELECT status FROM run") == ("budget",)
