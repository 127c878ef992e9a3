"""Per-cell tables (summary, cost, latency, errors, pass@k) against values computed by hand from
the fixtures described in ``make_run.standard_run`` and ``conftest.replicate_run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import reports
from reports.cost import cost_table, cost_totals
from reports.latency import inter_token_latencies, latency_table, task_metrics, throughput_over_time
from reports.stats import wilson_interval
from reports.summary import error_table, finish_reason_table, pass_at_k_table
from tests.reports.make_run import standard_run

IN, OUT = 0.165, 1.326  # USD per million tokens in the model's spec file


def test_cost_table_by_hand(std_run: Path) -> None:
    costs = cost_table(reports.load(std_run)).set_index("cell_id")
    cold, hot = costs.loc["c-cold"], costs.loc["c-hot"]
    assert (cold["tasks"], cold["tasks_priced"], cold["correct"]) == (4, 4, 3)
    assert cold["cost_usd"] == pytest.approx(0.004)
    assert cold["cost_spent_usd"] == pytest.approx(0.004)
    assert cold["saved_by_cache_usd"] == 0.0  # no cache hit saves exactly nothing
    assert cold["cost_per_correct_usd"] == pytest.approx(0.004 / 3)
    w = np.array([40 * IN, 28 * OUT, 2 * OUT])
    split = cold[["cost_input_usd", "cost_output_usd", "cost_thinking_usd"]].to_numpy(dtype=float)
    np.testing.assert_allclose(split, 0.004 * w / w.sum())
    # c-hot: the errored task has no cost; the cache hit cost 0.002 and spent nothing.
    assert (hot["tasks"], hot["tasks_priced"], hot["cache_hits"], hot["correct"]) == (4, 3, 1, 2)
    assert hot["cost_usd"] == pytest.approx(0.004)
    # Spent includes the warm-up task (0.5): it was paid, though it is in no other column.
    assert hot["cost_spent_usd"] == pytest.approx(0.502)
    assert (hot["warmup_tasks"], hot["warmup_spent_usd"]) == (1, pytest.approx(0.5))
    assert hot["tasks_unpriced"] == 0 and hot["spent_unknown"] == 0
    assert cold["warmup_tasks"] == 0 and cold["warmup_spent_usd"] == 0.0  # no warm-up: a known 0
    assert hot["saved_by_cache_usd"] == pytest.approx(0.002)
    assert hot["cost_per_task_usd"] == pytest.approx(0.004 / 3)
    assert hot["cost_per_correct_usd"] == pytest.approx(0.002)


def test_openai_cost_split_takes_reasoning_out_of_completion(tmp_path: Path) -> None:
    """OpenAI's completion_tokens already include reasoning: the split must not count it twice."""
    import sqlite3

    run_dir = standard_run(tmp_path / "oai")
    with sqlite3.connect(run_dir / "run.sqlite") as con:
        con.execute("UPDATE run SET provider = 'openai'")
    con.close()
    cold = cost_table(reports.load(run_dir)).set_index("cell_id").loc["c-cold"]
    # c-cold: 40 prompt, 28 completion of which 2 thinking -> 26 visible output tokens.
    w = np.array([40 * IN, 26 * OUT, 2 * OUT])
    split = cold[["cost_input_usd", "cost_output_usd", "cost_thinking_usd"]].to_numpy(dtype=float)
    np.testing.assert_allclose(split, 0.004 * w / w.sum())


def test_cost_totals(std_run: Path) -> None:
    t = cost_totals(reports.load(std_run))
    assert t["tasks"] == 8 and t["tasks_priced"] == 7 and t["correct"] == 5
    assert t["cost_usd"] == pytest.approx(0.008)
    assert t["cost_spent_usd"] == pytest.approx(0.506)  # warm-up (0.5) was paid: it is spent
    assert t["warmup_tasks"] == 1 and t["warmup_spent_usd"] == pytest.approx(0.5)
    assert t["saved_by_cache_usd"] == pytest.approx(0.002)
    assert t["cost_per_correct_usd"] == pytest.approx(0.008 / 5)
    assert t["judge_cost_usd"] is None


def test_task_metrics_by_hand(std_run: Path) -> None:
    m = task_metrics(reports.load(std_run).tasks).set_index("task_id")
    cold = m.loc[["c-cold/s1/0", "c-cold/s2/0", "c-cold/s3/0", "c-cold/s4/0"]]
    np.testing.assert_allclose(cold["tpot_s"], [0.4 / 4, 0.8 / 8, 1.0 / 10, 0.4 / 2])
    np.testing.assert_allclose(cold["decode_tps"], [10, 10, 10, 5])
    np.testing.assert_allclose(cold["e2e_tps"], [5 / 0.6, 9 / 1.0, 11 / 1.5, 3 / 1.0])
    # Errored tasks and cache hits are not latency measurements.
    assert m.loc[["c-hot/s3/0", "c-hot/s4/0"], "latency_s"].isna().all()


def test_latency_table_percentiles(std_run: Path) -> None:
    table = latency_table(reports.load(std_run)).set_index(["cell_id", "metric"])
    lat = table.loc[("c-cold", "latency_s")]
    assert lat["n"] == 4
    # sorted 0.6, 1.0, 1.0, 1.5; p95 at position 0.95 * 3 = 2.85 -> 1.0 + 0.85 * 0.5
    assert lat[["p50", "p95"]].tolist() == pytest.approx([1.0, 1.425])
    assert table.loc[("c-cold", "ttft_s"), "p50"] == pytest.approx(0.25)
    itl = table.loc[("c-cold", "itl_s")]
    assert itl["n"] == 3 and itl["mean"] == pytest.approx(0.4 / 3) and itl["p50"] == pytest.approx(0.15)
    assert table.loc[("c-hot", "latency_s"), "n"] == 2
    assert table.loc[("(all)", "latency_s"), "n"] == 6
    assert ("c-cold", "dispatch_delay_s") not in table.index  # closed-loop run: not measured


def test_dispatch_delay_and_itl_cap(tmp_path: Path) -> None:
    from tests.reports.make_run import RunBuilder

    b = RunBuilder()
    b.cell("open")
    for i in range(3):
        b.task(
            "open",
            f"s{i}",
            results=[("x", 1.0, True)],
            scheduled_at=float(i),
            dispatched_at=i + 0.01 * (i + 1),
            token_events=[0.0, 0.1, 0.3],
        )
    run = reports.load(b.write(tmp_path / "r"))
    table = latency_table(run).set_index(["cell_id", "metric"])
    assert table.loc[("open", "dispatch_delay_s"), "p50"] == pytest.approx(0.02)
    assert len(inter_token_latencies(run, per_cell=1)) == 2  # one attempt read, two gaps
    assert len(inter_token_latencies(run)) == 6


def test_throughput_counts_every_completion(std_run: Path) -> None:
    tp = throughput_over_time(reports.load(std_run), bins=4)
    width = tp["t_end"] - tp["t_start"]
    assert (tp["completions_per_s"] * width).sum() == pytest.approx(6)  # done tasks with a t_done
    assert (tp["output_tps"] * width).sum() == pytest.approx(5 + 9 + 11 + 3 + 5 + 5)


def test_cell_summary_by_hand(std_run: Path) -> None:
    s = reports.load(std_run).cell_summary().set_index("cell_id")
    cold, hot = s.loc["c-cold"], s.loc["c-hot"]
    w = wilson_interval(3, 4)
    assert (cold["n"], cold["mean"], cold["ci_low"], cold["ci_high"]) == (4, 0.75, w.low, w.high)
    assert cold["ci_method"] == "wilson"
    assert (hot["tasks"], hot["done"], hot["errored"], hot["error_rate"]) == (4, 3, 1, 0.25)
    assert hot["mean"] == pytest.approx(2 / 3)
    assert hot["latency_p50_s"] == pytest.approx(1.0)
    assert cold["cost_per_correct_usd"] == pytest.approx(0.004 / 3)


def test_pass_at_k_with_replicates(replicate_run: Path) -> None:
    run = reports.load(replicate_run)
    pk = pass_at_k_table(run)
    exact = pk[pk["scorer"] == "exact"].set_index("k")["pass_at_k"]
    # per sample (n, c): (4, 4), (4, 1), (4, 0)
    expected = pd.Series({1: (1 + 0.25 + 0) / 3, 2: (1 + 0.5 + 0) / 3, 4: (1 + 1 + 0) / 3}, name="pass_at_k")
    pdt.assert_series_equal(exact, expected, check_index_type=False, check_names=False)
    assert pk[pk["scorer"] == "sim"].empty  # continuous scorer: no pass@k
    s = run.cell_summary().set_index("scorer")
    assert s.loc["exact", "ci_method"] == "cluster-bootstrap"
    assert s.loc["exact", "mean"] == pytest.approx(5 / 12)
    assert s.loc["exact", "pass_at_1"] == pytest.approx(5 / 12)
    assert (s.loc["exact", "k"], s.loc["exact", "pass_at_k"]) == (4, pytest.approx(2 / 3))
    assert s.loc["sim", "mean"] == pytest.approx((4 + 2.5 + 1) / 12)
    assert s.loc["sim", "ci_low"] < s.loc["sim", "mean"] < s.loc["sim", "ci_high"]


def test_error_and_finish_reason_tables(std_run: Path) -> None:
    run = reports.load(std_run)
    errors = error_table(run)
    assert errors[["cell_id", "error_class", "error_code", "count", "rate"]].values.tolist() == [
        ["c-hot", "permanent", "invalidParameter", 1, 0.25]
    ]
    finish = finish_reason_table(run).set_index(["cell_id", "finish_reason"])
    assert finish.loc[("c-hot", "length"), "count"] == 1
    assert finish.loc[("c-hot", "stop"), "share"] == pytest.approx(2 / 3)
    assert finish.loc[("c-cold", "stop"), "share"] == 1.0
