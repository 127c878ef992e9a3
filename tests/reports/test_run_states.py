"""Reports of runs in every state (partial, interrupted, budget-stopped, unscored), cell order,
latency exclusions and what a run spent."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import reports
from evals.cli import main
from reports import formatting as fmt
from reports.compare import summarize_run
from reports.cost import cost_table, cost_totals
from reports.latency import inter_token_latencies, latency_table, task_metrics
from reports.render import build_report_data, write_reports
from tests.reports.make_run import RunBuilder

GATE = {
    "max_error_rate": 0.05,
    "metrics": [
        {"metric": "exact", "max_drop": 0.1},
        {"metric": "latency_p95", "max_increase": 0.5},
    ],
}
ALL_FORMATS = ["html", "md", "junit", "csv"]


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _pending(b: RunBuilder, cell: str, sample: str) -> None:
    b.task(cell, sample, status="pending", latency=None, usage=(None, None, None), cost=None)


def _partial_run(tmp_path: Path, status: str) -> Path:
    """Cell 0.2 finished and scored two samples; cell 0.8 has not started (all pending)."""
    b = RunBuilder(run_id=status, status=status, gate=GATE)
    b.cell("c-hot", {"settings.temperature": 0.8})
    b.cell("c-cold", {"settings.temperature": 0.2})
    b.task("c-cold", "s1", results=[("4", 1.0, True)])
    b.task("c-cold", "s2", results=[("5", 0.0, False)])
    _pending(b, "c-cold", "s3")
    for sample in ("s1", "s2", "s3"):
        _pending(b, "c-hot", sample)
    return b.write(tmp_path / status)


@pytest.mark.parametrize("status", ["interrupted", "budget", "running", "failed"])
def test_reports_of_a_partial_run(tmp_path: Path, status: str) -> None:
    # Regression: a cell without scored results has scorer <NA>, and the default checks compared
    # it with ``!=`` ("boolean value of NA is ambiguous").
    run_dir = _partial_run(tmp_path, status)
    written = write_reports(run_dir, ALL_FORMATS)
    assert {p.name for p in written} >= {"report.html", "summary.md", "junit.xml"}
    data = build_report_data(run_dir)
    by_name = {c.name: c for c in data.checks}
    # The cell that has not started is skipped, not failed; the finished one is measured.
    assert by_name["exact[temperature=0.8]"].skipped
    assert by_name["latency_p95[temperature=0.8]"].skipped
    assert by_name["exact[temperature=0.2]"].passed
    assert by_name["latency_p95[temperature=0.2]"].passed
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert root.get("failures") == "0" and root.get("skipped") == "2"
    assert "| temperature=0.8 | — | 0 | — |" in (run_dir / "summary.md").read_text()
    assert _exit_code(["report", str(run_dir)]) == 0


def test_report_of_an_unscored_run_with_a_gate(tmp_path: Path) -> None:
    # ``evals run --no-score`` on a suite with a gate: every task done, no score row at all.
    b = RunBuilder(run_id="unscored", gate=GATE)
    b.cell("c1", {"settings.temperature": 0.2})
    for sample in ("s1", "s2", "s3"):
        b.task("c1", sample, results=[("4", None, None)])
    run_dir = b.write(tmp_path / "unscored")
    with sqlite3.connect(run_dir / "run.sqlite") as con:
        con.execute("DELETE FROM scores")
    assert _exit_code(["report", str(run_dir), "--format", ",".join(ALL_FORMATS)]) == 0
    checks = {c.name: c for c in build_report_data(run_dir).checks}
    assert checks["exact[temperature=0.2]"].skipped
    assert "not scored" in checks["exact[temperature=0.2]"].message
    assert checks["latency_p95[temperature=0.2]"].passed  # latency needs no score


def test_a_latency_check_of_a_cached_run_says_why(tmp_path: Path) -> None:
    b = RunBuilder(run_id="cached", gate=GATE)
    b.cell("c1", {"settings.temperature": 0.2})
    for sample in ("s1", "s2"):
        b.task("c1", sample, results=[("4", 1.0, True)], latency=None, cache_hit=True)
    run_dir = b.write(tmp_path / "cached")
    check = {c.name: c for c in build_report_data(run_dir).checks}["latency_p95[temperature=0.2]"]
    assert not check.passed and not check.skipped
    assert "cache" in check.message and "--no-cache" in check.message


def test_cells_are_listed_by_axis_values_not_storage_order(tmp_path: Path) -> None:
    b = RunBuilder(run_id="order")
    # Stored in neither numeric nor id order; the ids sort the other way round.
    for cell_id, temp, top_p in [("a", 0.8, 1.0), ("b", 0.2, 1.0), ("c", 0.8, 0.5), ("d", 0.2, 0.5)]:
        b.cell(cell_id, {"settings.temperature": temp, "settings.topP": top_p})
        b.task(cell_id, "s1", results=[("4", 1.0, True)])
        b.task(cell_id, "s2", status="errored", error=("permanent", "x"), latency=None, cost=None)
    run = reports.load(b.write(tmp_path / "order"))
    expected = ["d", "b", "c", "a"]  # (0.2, 0.5), (0.2, 1.0), (0.8, 0.5), (0.8, 1.0)
    assert run.cells["cell_id"].tolist() == expected
    assert run.cell_summary()["cell_id"].tolist() == expected
    from reports.summary import error_table, pass_at_k_table

    assert error_table(run)["cell_id"].tolist() == expected
    assert pass_at_k_table(run)["cell_id"].tolist() == expected
    assert cost_table(run)["cell_id"].tolist() == expected
    cells = latency_table(run, itl=False)["cell_id"].drop_duplicates().tolist()
    assert cells == [*expected, "(all)"]


def test_mixed_axis_values_sort_without_comparing_types(tmp_path: Path) -> None:
    b = RunBuilder(run_id="mixed")
    for cell_id, variant in [("a", None), ("b", "terse"), ("c", 3), ("d", "brief")]:
        b.cell(cell_id, {"prompt": variant} if variant is not None else {})
        b.task(cell_id, "s1", results=[("4", 1.0, True)])
    run = reports.load(b.write(tmp_path / "mixed"))
    assert run.cells["cell_id"].tolist() == ["c", "d", "b", "a"]  # numbers, text, missing


def test_latency_leaves_out_conflict_polls_and_cache_hits(tmp_path: Path) -> None:
    b = RunBuilder(run_id="poll")
    b.cell("c1", {"settings.temperature": 0.2})
    b.task("c1", "s1", results=[("4", 1.0, True)], latency=(0.0, 0.1, 0.5, 1.0), token_events=[0.1, 0.3])
    # Answer fetched by polling an earlier submission: 30 s of polling, not of generation.
    b.task(
        "c1",
        "s2",
        results=[("4", 1.0, True)],
        latency=(0.0, 29.0, 29.5, 30.0),
        token_events=[29.0, 29.5],
        notes={"resolved_by": "conflict_poll"},
    )
    b.task("c1", "s3", results=[("4", 1.0, True)], latency=None, cache_hit=True)
    b.task("c1", "s4", results=[("4", 1.0, True)], latency=(0.0, 0.1, 0.5, 2.0), notes={"other": 1})
    run = reports.load(b.write(tmp_path / "poll"))
    assert run.tasks.set_index("task_id").loc["c1/s2/0", "resolved_by"] == "conflict_poll"
    m = task_metrics(run.tasks).set_index("task_id")
    assert m.loc[["c1/s2/0", "c1/s3/0"], ["latency_s", "ttft_s"]].isna().all().all()
    np.testing.assert_allclose(m.loc[["c1/s1/0", "c1/s4/0"], "latency_s"], [1.0, 2.0])
    lat = latency_table(run).set_index(["cell_id", "metric"])
    assert lat.loc[("c1", "latency_s"), "n"] == 2
    assert lat.loc[("c1", "latency_s"), "p50"] == pytest.approx(1.5)
    np.testing.assert_allclose(inter_token_latencies(run)["itl_s"], [0.2])
    assert run.cell_summary()["latency_p95_s"].iloc[0] < 2.0
    # The comparison's unit table leaves them out too.
    units = summarize_run(run.path).units.set_index("sample_id")
    assert units.loc[["s2", "s3"], "latency_s"].isna().all()
    assert units.loc["s1", "latency_s"] == pytest.approx(1.0)
    assert units["n_cached"].tolist() == [0, 0, 1, 0]


def test_spent_includes_warmup_and_unknown_costs_are_never_zero(tmp_path: Path) -> None:
    b = RunBuilder(run_id="costs")
    b.cell("c1", {"settings.temperature": 0.2})
    b.task("c1", "s1", results=[("4", 1.0, True)], cost=0.01)
    b.task("c1", "s2", results=[("4", 1.0, True)], cost=None)  # answered, never priced
    b.task("c1", "w1", results=[("4", 1.0, True)], warmup=True, cost=0.02)
    run_dir = b.write(tmp_path / "costs")
    run = reports.load(run_dir)
    totals = cost_totals(run)
    assert totals["cost_spent_usd"] == pytest.approx(0.03)  # warm-up was paid
    assert totals["warmup_tasks"] == 1 and totals["warmup_spent_usd"] == pytest.approx(0.02)
    assert totals["cost_usd"] == pytest.approx(0.01)  # the answers: warm-up left out
    assert totals["cost_per_task_usd"] == pytest.approx(0.01)
    assert totals["tasks_unpriced"] == 1 and totals["spent_unknown"] == 1
    row = cost_table(run).iloc[0]
    assert row["cost_spent_usd"] == pytest.approx(0.03) and row["tasks_unpriced"] == 1
    assert run.cell_summary()["n"].iloc[0] == 2  # warm-up stays out of the scores
    write_reports(run_dir, ["html", "md"])
    md = (run_dir / "summary.md").read_text()
    assert "**cost** ≥ $0.01 (1 unknown)" in md
    assert "spent ≥ $0.03 (1 unknown), of which warm-up $0.02" in md
    assert "≥ $0.03 (1 unknown)" in (run_dir / "report.html").read_text()


def test_usd_bound() -> None:
    assert fmt.usd_bound(0.5, 0) == "$0.50"
    assert fmt.usd_bound(0.5, 2) == "≥ $0.50 (2 unknown)"
    assert fmt.usd_bound(float("nan"), 3) == "unknown (3 tasks)"
    assert fmt.usd_bound(0.0, 3) == "unknown (3 tasks)"  # never "$0" for unreported costs
    assert fmt.usd_bound(None, None) == fmt.MISSING
