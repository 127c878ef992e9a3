"""reports.load: declared columns and dtypes, and values checked against the fixture by hand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import reports
from evals.errors import StoreError
from reports import columns as C
from tests.reports.make_run import RunBuilder


def _dtypes(frame: pd.DataFrame, cols: C.Columns) -> None:
    assert list(frame.columns[: len(cols)]) == list(cols)
    for name, dtype in cols.items():
        assert str(frame[name].dtype) == dtype, name


def test_frames_have_declared_columns_and_dtypes(std_run: Path) -> None:
    run = reports.load(std_run)
    _dtypes(run.cells, C.CELLS)
    _dtypes(run.tasks, C.TASKS)
    _dtypes(run.attempts, C.ATTEMPTS)
    _dtypes(run.results, C.RESULTS)
    _dtypes(run.scores, C.SCORES)
    _dtypes(run.concurrency, C.CONCURRENCY)
    _dtypes(run.judge_calls, C.JUDGE_CALLS)
    _dtypes(run.cell_summary(), C.CELL_SUMMARY)


def test_tasks_frame_values(std_run: Path) -> None:
    run = reports.load(std_run)
    # The warm-up task is stored but never reported.
    assert "c-hot/warm/0" not in set(run.tasks["task_id"])
    cold = run.tasks[run.tasks["cell_id"] == "c-cold"].reset_index(drop=True)
    expected = pd.DataFrame(
        {
            "sample_id": pd.array(["s1", "s2", "s3", "s4"], dtype="string"),
            "attempts": pd.array([1, 1, 1, 2], dtype="Int64"),
            "latency_s": [0.6, 1.0, 1.5, 1.0],
            "ttft_s": [0.1, 0.2, 0.3, 0.4],
            "completion_tokens": pd.array([5, 9, 11, 3], dtype="Int64"),
            "thinking_tokens": pd.array([2, 0, 0, 0], dtype="Int64"),
            "cost": [0.001] * 4,
        }
    )
    pdt.assert_frame_equal(cold[list(expected.columns)], expected, check_exact=False, atol=1e-12)
    hot = run.tasks.set_index("task_id")
    # Unknown is NA/NaN, never 0: the errored task has no usage and no cost.
    assert hot.loc["c-hot/s3/0", "status"] == "errored"
    assert hot.loc["c-hot/s3/0", "error_class"] == "permanent"
    assert pd.isna(hot.loc["c-hot/s3/0", "completion_tokens"])
    assert np.isnan(hot.loc["c-hot/s3/0", "cost"])
    assert np.isnan(hot.loc["c-hot/s3/0", "ttft_s"])
    # The cache hit keeps what the answer cost and spent nothing; it has no attempt to time.
    assert bool(hot.loc["c-hot/s4/0", "cache_hit"]) is True
    assert hot.loc["c-hot/s4/0", "cost"] == pytest.approx(0.002)
    assert hot.loc["c-hot/s4/0", "cost_spent"] == 0.0
    assert np.isnan(hot.loc["c-hot/s4/0", "latency_s"])


def test_cells_frame_has_axis_columns(std_run: Path) -> None:
    run = reports.load(std_run)
    assert run.axes == ["settings.temperature"]
    pdt.assert_series_equal(
        run.cells["settings.temperature"], pd.Series([0.2, 0.8], name="settings.temperature")
    )
    assert list(run.cells["label"]) == ["temperature=0.2", "temperature=0.8"]


def test_attempts_mark_the_final_one(std_run: Path) -> None:
    run = reports.load(std_run)
    s4 = run.attempts[run.attempts["task_id"] == "c-cold/s4/0"].sort_values("number")
    assert list(s4["final"]) == [False, True]
    assert list(s4["http_status"]) == [503, 200]


def test_scores_keep_the_latest_pass_by_default(tmp_path: Path) -> None:
    b = RunBuilder()
    b.cell("c1")
    tid = b.task("c1", "s1", results=[("4", 0.0, False)])
    b.add_score(tid, 0, "exact", 1.0, True, pass_id=2)
    run_dir = b.write(tmp_path / "r")
    latest = reports.load(run_dir).scores
    assert list(latest["pass_id"]) == [2]
    assert list(latest["passed"]) == [True]
    every = reports.load(run_dir, all_passes=True).scores
    assert sorted(every["pass_id"]) == [1, 2]


def test_texts_can_be_left_out(std_run: Path) -> None:
    with_texts = reports.load(std_run)
    assert with_texts.results.loc[0, "reasoning"] == "2 plus 2"
    without = reports.load(std_run, texts=False)
    assert without.results["text"].isna().all()
    assert without.scores["explanation"].isna().all()
    assert list(without.results.columns) == list(with_texts.results.columns)


def test_manifest(std_run: Path) -> None:
    run = reports.load(std_run / "run.sqlite")
    assert run.path == std_run
    assert run.manifest["run_id"] == "standard"
    assert run.manifest["expanded"] == {"scorers": [{"name": "exact"}]}
    assert run.primary_scorer == "exact"


def test_missing_or_foreign_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run database"):
        reports.load(tmp_path)
    con = sqlite3.connect(tmp_path / "run.sqlite")
    con.execute("CREATE TABLE schema_version (version INTEGER)")
    con.execute("INSERT INTO schema_version VALUES (99)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 99"):
        reports.load(tmp_path)


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, reports; print(','.join(m for m in ('pandas', 'matplotlib', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_score_groups_sum_results_per_sample(replicate_run: Path) -> None:
    run = reports.load(replicate_run)
    g = run.score_groups()
    assert list(g.columns) == ["cell_id", "scorer", "sample_id", "n", "total", "graded", "passed", "errors"]
    exact = g[g["scorer"] == "exact"].set_index("sample_id").sort_index()
    # four results per sample (two replicates x numberResults 2); passes 4, 1, 0
    assert exact["n"].tolist() == [4, 4, 4]
    assert exact["passed"].tolist() == [4, 1, 0]
    assert exact["total"].tolist() == [4.0, 1.0, 0.0]
    sim = g[g["scorer"] == "sim"].set_index("sample_id").sort_index()
    assert sim["graded"].tolist() == [0, 0, 0]  # a continuous scorer has no verdicts
    assert sim["total"].tolist() == pytest.approx([4.0, 2.5, 1.0])


def test_statistics_use_the_latest_pass_even_with_all_passes(tmp_path: Path) -> None:
    b = RunBuilder()
    b.cell("c1")
    tid = b.task("c1", "s1", results=[("4", 0.0, False)])
    b.add_score(tid, 0, "exact", 1.0, True, pass_id=2)
    b.add_score(tid, 0, "exact", None, None, pass_id=3, error="judge timed out")
    run = reports.load(b.write(tmp_path / "r"), all_passes=True)
    assert len(run.scores) == 3
    g = run.score_groups()
    assert g[["n", "graded", "errors"]].values.tolist() == [[0, 0, 1]]
    summary = run.cell_summary()
    assert summary.loc[0, "n"] == 0 and np.isnan(summary.loc[0, "mean"])


def test_list_valued_axes_become_text(tmp_path: Path) -> None:
    b = RunBuilder()
    b.cell("a", {"settings.stopSequences": ["\n"], "settings.temperature": 0.1})
    b.cell("b", {"settings.stopSequences": ["END", "\n\n"], "settings.temperature": 0.1})
    run = reports.load(b.write(tmp_path / "r"))
    assert run.cells["settings.stopSequences"].tolist() == ['["\\n"]', '["END", "\\n\\n"]']
    assert run.cells.groupby("settings.stopSequences").ngroups == 2
