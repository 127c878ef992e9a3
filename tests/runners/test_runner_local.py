"""The README's main job: the bundled smoke suite through ``evals run`` on the local model (SmolLM2)."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None, reason="the local model extra is not installed"
    ),
]


def test_smoke_suite_runs_end_to_end_on_the_local_model(tmp_path: Path) -> None:
    env = {**os.environ, "EVALS_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "smoke"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evals",
            "run",
            str(ROOT / "suites" / "smoke.yaml"),
            "--out",
            str(out),
            "--limit",
            "2",
            "--progress",
            "plain",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"run directory: {out}" in proc.stderr
    with sqlite3.connect(out / "run.sqlite") as conn:
        assert conn.execute("SELECT status, provider FROM run").fetchone() == ("completed", "local")
        assert conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'done'").fetchone() == (4,)
        assert conn.execute("SELECT COUNT(*) FROM results WHERE text != ''").fetchone() == (4,)
        assert conn.execute("SELECT COUNT(DISTINCT scorer) FROM scores").fetchone() == (2,)
