"""Plot functions: each returns a Figure built from frames, draws what it claims, saves nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import reports
from reports import plots
from reports.cost import cost_table
from reports.latency import task_metrics, throughput_over_time
from tests.reports.make_run import RunBuilder


@pytest.fixture
def sweep_run(tmp_path: Path) -> Path:
    """temperature {0.2, 0.8} x topP {0.5, 0.9}; cell score = temperature + topP rank, by design."""
    b = RunBuilder(run_id="sweep")
    for t in (0.2, 0.8):
        for p in (0.5, 0.9):
            cid = f"t{t}-p{p}"
            b.cell(cid, {"settings.temperature": t, "settings.topP": p})
            good = 1 + (t == 0.2) + (p == 0.9)  # 1..3 of 4 samples pass
            for i in range(4):
                b.task(
                    cid,
                    f"s{i}",
                    results=[("x", float(i < good), i < good)],
                    latency=(i, i + 0.1, i + 0.5 + t, i + 0.6 + t),
                    cost=0.001 * (1 + t),
                )
    return b.write(tmp_path / "sweep")


def test_pareto_front_by_hand() -> None:
    # (cost, score): B dominates A; D is worse than C at the same cost; E is the best score.
    x = [1.0, 0.5, 2.0, 2.0, 3.0, np.nan]
    y = [0.5, 0.6, 0.8, 0.7, 0.9, 1.0]
    assert plots.pareto_front(x, y) == [1, 2, 4]


def test_sweep_plots(sweep_run: Path) -> None:
    run = reports.load(sweep_run)
    summary = plots.summary_with_axes(run)
    assert {"settings.temperature", "settings.topP"} <= set(summary.columns)

    fig = plots.score_vs_axis(summary, "settings.temperature")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # one line per topP value
    assert len(ax.collections) == 2  # and one CI band each
    assert ax.get_xlabel() == "temperature"

    heat = plots.heatmap(summary, "settings.temperature", "settings.topP")
    image = heat.axes[0].images[0].get_array()
    # rows: topP descending (0.9, 0.5); columns: temperature ascending (0.2, 0.8)
    np.testing.assert_allclose(np.asarray(image), [[3 / 4, 2 / 4], [2 / 4, 1 / 4]])

    marg = plots.marginal_effects(summary, run.axes)
    assert len(marg.axes) == 2
    np.testing.assert_allclose(np.asarray(marg.axes[0].lines[0].get_ydata(), dtype=float), [2.5 / 4, 1.5 / 4])

    pareto = plots.quality_vs(summary, "cost_per_task_usd")
    front = [line for line in pareto.axes[0].lines if line.get_label() == "Pareto frontier"][0]
    # cheapest cells are temperature 0.2; of those the better one (topP 0.9) alone is the frontier
    assert np.asarray(front.get_ydata()).tolist() == [0.75]


def test_latency_throughput_and_cost_plots(std_run: Path) -> None:
    run = reports.load(std_run)
    labels = dict(zip(run.cells["cell_id"], run.cells["label"], strict=True))
    cdf = plots.latency_cdf(task_metrics(run.tasks), "latency_s", labels)
    lines = cdf.axes[0].lines
    assert [line.get_label() for line in lines] == ["temperature=0.2", "temperature=0.8"]
    assert np.asarray(lines[0].get_ydata())[-1] == 1.0

    timeline = plots.throughput_timeline(throughput_over_time(run), run.concurrency)
    assert len(timeline.axes) == 3  # throughput, its twin for tokens/s, concurrency
    limit = [line for line in timeline.axes[1].lines if line.get_label() == "concurrency limit"][0]
    assert np.asarray(limit.get_ydata()).tolist() == [4, 2, 3]

    costs = plots.cost_breakdown(cost_table(run), labels)
    bars = [p for p in costs.axes[0].patches if isinstance(p, Rectangle)]
    widths = np.array([b.get_width() for b in bars[:6]]).reshape(3, 2)  # input, output, thinking x cells
    np.testing.assert_allclose(widths.sum(axis=0), [0.004, 0.004])


def test_empty_inputs_give_a_labelled_empty_figure() -> None:
    empty = pd.DataFrame(columns=["cell_id", "mean", "ci_low", "ci_high", "label", "latency_s"])
    for fig in (
        plots.score_vs_axis(empty, "settings.temperature"),
        plots.quality_vs(empty, "latency_s"),
        plots.latency_cdf(empty),
    ):
        assert isinstance(fig, Figure)
        assert fig.axes[0].texts  # a message, not a blank image


def test_plots_do_not_touch_pyplot(std_run: Path) -> None:
    import sys

    plots.latency_cdf(task_metrics(reports.load(std_run).tasks))
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it: then no figure is open
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
