"""`evals run` with a model-graded scorer: judge calls go through a provider and are stored apart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evals.suite_loader import load_suite
from runners.runner import RunOptions, run_suite

pytestmark = pytest.mark.anyio

SUITE = """
name: judged
target:
  provider: sim
  sim: {ttft_mean: 0.005, ttft_jitter: 0.001, tokens_per_s: 20000.0}
dataset:
  samples:
    - {id: a, input: "What is 2+2?", target: "4"}
    - {id: b, input: "Capital of France?", target: Paris}
    - {id: c, input: "Colour of the sky?", target: blue}
scorers:
  - {name: includes}
  - {name: model_graded, judge: {model: "alibaba:qwen@3.5-27b"}}
"""


async def test_model_graded_scorer_judges_through_its_own_provider(tmp_path: Path) -> None:
    suite = tmp_path / "judged.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    summary = await run_suite(
        load_suite(suite),
        run_dir=tmp_path / "run",
        options=RunOptions(progress="off", cache=False),
    )
    assert summary.status == "completed"
    with sqlite3.connect(summary.db_path) as conn:
        judge_calls = conn.execute("SELECT task_id, cost, error FROM judge_calls").fetchall()
        graded = conn.execute("SELECT value, error FROM scores WHERE scorer = 'model_graded'").fetchall()
    # One judge call per result, each priced on its own and kept out of the run's own cost.
    assert len(judge_calls) == 3
    assert all(cost is not None and cost > 0 for _, cost, _ in judge_calls)
    assert len(graded) == 3
    # The simulator answers a judge prompt with filler: that is a scorer error, never a wrong answer.
    assert all(value is None and error for value, error in graded)
