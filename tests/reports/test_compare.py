"""Pairing and per-metric statistics of ``reports.compare``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar

from evals.errors import ConfigError
from reports.compare import (
    compare_ratio,
    compare_scores,
    derive_seed,
    mcnemar_interval,
    mcnemar_margin_pvalue,
    pair_units,
    ratio_inputs,
    summarize_run,
    unit_table,
)
from tests.reports.make_run import RunBuilder, standard_run


def _frames(
    rows: list[dict[str, object]], scores: list[dict[str, object]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    tasks = pd.DataFrame(rows)
    for col, default in (("cache_hit", False), ("latency_s", 1.0), ("ttft_s", 0.1), ("cost", 0.001)):
        if col not in tasks:
            tasks[col] = default
    return pd.DataFrame(scores), tasks


def test_unit_table_of_the_standard_run(tmp_path: Path) -> None:
    s = summarize_run(standard_run(tmp_path / "run"))
    u = s.units.set_index(["cell_id", "sample_id"])
    assert s.scorers == {"exact": "binary"}
    assert ("c-hot", "warm") not in u.index  # warm-up tasks never count
    assert u.loc[("c-cold", "s2"), "latency_s"] == pytest.approx(1.0)  # t_done - t_sent
    assert u.loc[("c-cold", "s3"), "ttft_s"] == pytest.approx(0.3)
    # The cache hit keeps its cost (the price of the answer) but has no latency of its own.
    assert np.isnan(u.loc[("c-hot", "s4"), "latency_s"])
    assert u.loc[("c-hot", "s4"), "cost_sum"] == pytest.approx(0.002)
    # The errored task is counted as such, with no score and no cost.
    assert u.loc[("c-hot", "s3"), "n_errored"] == 1
    assert np.isnan(u.loc[("c-hot", "s3"), "score:exact"])
    assert u.loc[("c-cold", "s4"), "score:exact"] == 0.0
    assert s.error_rate == pytest.approx(1 / 8)
    assert s.cells["c-hot"] == {"settings.temperature": 0.8}


def test_unit_table_averages_replicates_and_takes_the_latest_pass() -> None:
    tasks = [
        {"task_id": f"t{r}", "cell_id": "c", "sample_id": "s", "replicate": r, "status": "done"}
        for r in range(3)
    ]
    scores = [
        {"task_id": "t0", "result_index": 0, "scorer": "ok", "pass_id": 1, "value": 0.0, "passed": False},
        {"task_id": "t0", "result_index": 0, "scorer": "ok", "pass_id": 2, "value": 1.0, "passed": True},
        {"task_id": "t1", "result_index": 0, "scorer": "ok", "pass_id": 1, "value": 0.0, "passed": False},
        {"task_id": "t2", "result_index": 0, "scorer": "ok", "pass_id": 1, "value": 1.0, "passed": True},
        # A continuous scorer, whose failure on t2 (no value) is left out rather than counted as 0.
        {"task_id": "t0", "result_index": 0, "scorer": "sim", "pass_id": 1, "value": 0.2, "passed": None},
        {"task_id": "t1", "result_index": 0, "scorer": "sim", "pass_id": 1, "value": 0.4, "passed": None},
        {"task_id": "t2", "result_index": 0, "scorer": "sim", "pass_id": 1, "value": None, "passed": None},
    ]
    units, kinds = unit_table(*_frames(tasks, scores))
    assert kinds == {"ok": "binary", "sim": "continuous"}
    row = units.iloc[0]
    assert row["score:ok"] == pytest.approx(2 / 3)
    assert row["count:ok"] == 3
    assert row["score:sim"] == pytest.approx(0.3)
    assert row["count:sim"] == 2
    assert row["n_tasks"] == 3 and row["n_done"] == 3


def test_pairing_is_an_inner_join_on_cell_and_sample() -> None:
    a = pd.DataFrame({"cell_id": ["c", "c", "d"], "sample_id": ["1", "2", "1"], "x": [1, 2, 3]})
    b = pd.DataFrame({"cell_id": ["c", "d", "d"], "sample_id": ["2", "1", "9"], "x": [5, 6, 7]})
    pairs = pair_units(a, b)
    assert list(zip(pairs["cell_id"], pairs["sample_id"], strict=True)) == [("c", "2"), ("d", "1")]
    assert list(pairs["x_b"]) == [2, 3] and list(pairs["x_n"]) == [5, 6]


def test_mcnemar_statistics_match_the_libraries() -> None:
    base = np.array([1] * 30 + [0] * 10 + [1] * 12 + [0] * 3, dtype=float)
    new = np.array([1] * 30 + [0] * 10 + [0] * 12 + [1] * 3, dtype=float)
    out = compare_scores(base, new, max_drop=0.0, rng=derive_seed(0, "t"))
    assert out["test"] == "mcnemar"
    assert out["extra"] == {"base_only_pass": 12.0, "new_only_pass": 3.0}
    assert out["change"] == pytest.approx(-9 / 55)
    assert out["p_value"] == pytest.approx(binomtest(12, 15, 0.5, alternative="greater").pvalue)
    assert out["p_change"] == pytest.approx(mcnemar([[30, 12], [3, 10]], exact=True).pvalue)
    lo, hi = out["ci"]
    assert lo < out["change"] < hi < 0


def test_the_interval_inverts_the_margin_test() -> None:
    lo, hi = mcnemar_interval(12, 3, 55, 0.95)
    assert lo < -9 / 55 < hi
    # At the upper end the one-sided test sits exactly at alpha: beyond it, it rejects.
    assert mcnemar_margin_pvalue(12, 3, 55, -hi) == pytest.approx(0.05)
    assert mcnemar_margin_pvalue(12, 3, 55, -hi - 0.01) < 0.05 < mcnemar_margin_pvalue(12, 3, 55, -hi + 0.01)
    # The lower end is the same construction for the reversed comparison.
    assert mcnemar_interval(3, 12, 55, 0.95) == pytest.approx((-hi, -lo))
    assert mcnemar_interval(0, 0, 30, 0.95) == (0.0, 0.0)


def test_the_margin_makes_the_mcnemar_test_harder_to_reject() -> None:
    ps = [mcnemar_margin_pvalue(12, 3, 55, m) for m in (0.0, 0.05, 0.1, 0.15)]
    assert ps == sorted(ps)
    # 15 discordant pairs in 55 cannot show a drop larger than 15/55.
    assert mcnemar_margin_pvalue(12, 3, 55, 0.3) == 1.0
    assert mcnemar_margin_pvalue(0, 0, 55, 0.0) == 1.0


def test_scores_are_seeded_and_reproducible() -> None:
    rng = np.random.default_rng(5)
    base, new = rng.random(80), rng.random(80)
    a = compare_scores(base, new, max_drop=0.05, rng=derive_seed(1, "c", "m"))
    b = compare_scores(base, new, max_drop=0.05, rng=derive_seed(1, "c", "m"))
    c = compare_scores(base, new, max_drop=0.05, rng=derive_seed(2, "c", "m"))
    assert a["test"] == "permutation"
    assert a["ci"] == b["ci"] and a["p_value"] == b["p_value"]
    assert a["ci"] != c["ci"]


def test_permutation_and_bootstrap_detect_a_clear_continuous_drop() -> None:
    rng = np.random.default_rng(7)
    base = rng.random(200)
    new = base - 0.2 + rng.normal(0, 0.05, 200)
    for test in ("permutation", "bootstrap"):
        out = compare_scores(base, new, max_drop=0.05, test=test, rng=derive_seed(0, test))
        assert out["test"] == test
        assert out["p_value"] < 0.01
        assert out["ci"][1] < -0.05


def test_mcnemar_refuses_averaged_scores() -> None:
    with pytest.raises(ConfigError, match="one pass/fail outcome"):
        compare_scores(
            np.array([0.5, 1.0]), np.array([1.0, 0.0]), max_drop=0.0, test="mcnemar", rng=derive_seed(0)
        )


def test_relative_tolerance_scales_with_the_baseline() -> None:
    base = np.array([1.0, 1.0, 0.0, 1.0] * 25)
    out = compare_scores(base, base, max_drop=0.1, relative=True, rng=derive_seed(0))
    assert out["tolerance"] == pytest.approx(0.075)


def test_ratio_of_quantiles_is_exact_for_a_uniform_slowdown() -> None:
    rng = np.random.default_rng(3)
    lat = rng.lognormal(0, 0.5, 100)
    pairs = pd.DataFrame({"latency_s_b": lat, "latency_s_n": 2 * lat, "ttft_s_b": lat, "ttft_s_n": lat})
    arrays, stat, bv, nv, _ = ratio_inputs(pairs, "latency_p95", None)
    out = compare_ratio(arrays, stat, bv, nv, max_increase=0.2, rng=derive_seed(0))
    assert out["change"] == pytest.approx(2.0)
    assert out["ci"] == pytest.approx((2.0, 2.0))
    assert out["p_value"] == pytest.approx(1 / 2001)  # no resample is within the 20% limit


def test_cost_per_correct_by_hand() -> None:
    pairs = pd.DataFrame(
        {
            "cost_sum_b": [0.01, 0.01, 0.01, 0.01],
            "n_cost_b": [1, 1, 1, 1],
            "cost_sum_n": [0.02, 0.02, 0.02, 0.02],
            "n_cost_n": [1, 1, 1, 1],
            "score:ok_b": [1.0, 1.0, 0.0, 0.0],
            "count:ok_b": [1, 1, 1, 1],
            "score:ok_n": [1.0, 1.0, 1.0, 1.0],
            "count:ok_n": [1, 1, 1, 1],
        }
    )
    arrays, stat, bv, nv, note = ratio_inputs(pairs, "cost_per_correct", "ok")
    assert bv == pytest.approx(0.02) and nv == pytest.approx(0.02)  # double the cost, double the correct
    assert note == "correct = ok"
    arrays, stat, bv, nv, _ = ratio_inputs(pairs, "cost_per_task", None)
    assert (bv, nv) == pytest.approx((0.01, 0.02))


def test_unknown_cost_is_not_free(tmp_path: Path) -> None:
    b = RunBuilder(suite_name="u")
    b.cell("c")
    for i in range(5):
        b.task("c", f"s{i}", results=[("4", 1.0, True)], cost=None)
    s = summarize_run(b.write(tmp_path / "r"))
    pairs = pair_units(s.units, s.units)
    arrays, stat, bv, nv, note = ratio_inputs(pairs, "cost_per_task", None)
    assert note == "cost unknown" and np.isnan(bv)
    out = compare_ratio(arrays, stat, bv, nv, max_increase=0.1, rng=derive_seed(0))
    assert out["p_value"] is None and np.isnan(out["change"])
