"""Plots: each one a function from frames to a matplotlib ``Figure``.

They never show or save themselves (``reports.html`` embeds them) and use matplotlib's object API
on the Agg canvas, without pyplot, so no global state or GUI backend is touched. matplotlib is
imported inside the functions so importing ``reports`` stays fast.

Inputs are the frames of ``reports``: ``Run.cell_summary()`` (joined with the cell axes by
``summary_with_axes``), ``latency.task_metrics``, ``latency.throughput_over_time``, the run's
``concurrency`` frame and ``cost.cost_table``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from reports.frames import Run

MAX_LINES = 8
"""More series than this on one axis become unreadable: plots fall back to marginal means."""


def _figure(width: float = 6.4, height: float = 3.6) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_axis_off()
    return fig


def summary_with_axes(run: Run, scorer: str | None = None) -> pd.DataFrame:
    """The cell summary of one scorer (default: the primary one) with one column per grid axis."""
    summary = run.cell_summary()
    scorer = scorer or run.primary_scorer
    if scorer is not None:
        summary = summary[summary["scorer"] == scorer]
    axes = run.cells[["cell_id", *run.axes]]
    return summary.merge(axes, on="cell_id", how="left")


def _numeric(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s))


def score_vs_axis(summary: pd.DataFrame, axis: str, *, title: str | None = None) -> Figure:
    """Mean score against one axis, with its confidence band; one line per combination of the
    other axes (``summary`` from ``summary_with_axes``; other axes are the columns containing a dot
    or named ``prompt``/``model`` that vary)."""
    from reports.frames import axis_label

    fig = _figure()
    data = summary.dropna(subset=["mean"])
    if data.empty or axis not in data.columns:
        return _empty(fig, "no scores to plot")
    ax = fig.add_subplot()
    others = [c for c in _axis_columns(data) if c != axis and data[c].nunique(dropna=False) > 1]
    groups: list[tuple[str, pd.DataFrame]]
    if not others:
        groups = [("", data)]
    else:
        grouped = list(data.groupby(others, dropna=False, sort=True))
        if len(grouped) > MAX_LINES:
            groups = [("mean over other axes", _marginal(data, axis))]
        else:
            groups = [
                (
                    ", ".join(
                        f"{axis_label(o)}={v}"
                        for o, v in zip(others, key if isinstance(key, tuple) else (key,), strict=True)
                    ),
                    g,
                )
                for key, g in grouped
            ]
    for label, g in groups:
        g = g.sort_values(axis)
        x = g[axis] if _numeric(g[axis]) else g[axis].astype(str)
        line = ax.plot(x, g["mean"], marker="o", label=label or None)[0]
        ax.fill_between(x, g["ci_low"], g["ci_high"], alpha=0.2, color=line.get_color(), linewidth=0)
    ax.set_xlabel(axis_label(axis))
    ax.set_ylabel("mean score (95% CI)")
    ax.set_title(title or f"Score against {axis_label(axis)}")
    ax.grid(alpha=0.3)
    if len(groups) > 1 or groups[0][0]:
        ax.legend(fontsize="small")
    return fig


def _axis_columns(summary: pd.DataFrame) -> list[str]:
    from reports import columns as C

    return [c for c in summary.columns if c not in C.CELL_SUMMARY]


def _marginal(data: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Mean of the cell means (and of their interval bounds) at each value of ``axis``."""
    return data.groupby(axis, sort=True)[["mean", "ci_low", "ci_high"]].mean().reset_index()


def marginal_effects(summary: pd.DataFrame, axes: list[str]) -> Figure:
    """One panel per axis: the mean score at each value of that axis, averaged over the other
    axes, with the range of the cell means as error bars (how much each axis moves the score)."""
    from reports.frames import axis_label

    axes = [a for a in axes if a in summary.columns]
    fig = _figure(max(3.2 * len(axes), 4.0), 3.2)
    data = summary.dropna(subset=["mean"])
    if data.empty or not axes:
        return _empty(fig, "no axes to plot")
    panels = fig.subplots(1, len(axes), sharey=True, squeeze=False)[0]
    for ax, axis in zip(panels, axes, strict=True):
        g = data.groupby(axis, sort=True)["mean"].agg(["mean", "min", "max"]).reset_index()
        x = g[axis] if _numeric(g[axis]) else g[axis].astype(str)
        mean = g["mean"].to_numpy(dtype=float)
        yerr = [mean - g["min"].to_numpy(dtype=float), g["max"].to_numpy(dtype=float) - mean]
        ax.errorbar(x.to_numpy(), mean, yerr=yerr, marker="o", capsize=3)
        ax.set_xlabel(axis_label(axis))
        ax.grid(alpha=0.3)
    panels[0].set_ylabel("mean score (range over cells)")
    fig.suptitle("Marginal effect of each axis")
    return fig


def heatmap(summary: pd.DataFrame, x: str, y: str, value: str = "mean") -> Figure:
    """``value`` over two axes (e.g. temperature by topP), averaged over any other axes."""
    from reports.frames import axis_label

    fig = _figure(6.4, 4.4)
    data = summary.dropna(subset=[value])
    if data.empty or x not in data.columns or y not in data.columns:
        return _empty(fig, "no data for a heatmap")
    table = data.pivot_table(index=y, columns=x, values=value, aggfunc="mean").sort_index(ascending=False)
    ax = fig.add_subplot()
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    finite = table.to_numpy(dtype=float)
    mid = float(finite[~(finite != finite)].mean()) if finite.size else 0.0
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = table.iat[i, j]
            if v == v:  # not NaN
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="white" if v < mid else "black")
    fig.colorbar(image, ax=ax, label=value)
    ax.set_title(f"{value} by {axis_label(x)} and {axis_label(y)}")
    return fig


def pareto_front(x: Any, y: Any) -> list[int]:
    """Positions of the points no other point beats: lower ``x`` and higher ``y`` are better.

    Returned in order of increasing x."""
    import numpy as np

    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    ok = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    # Sort by x ascending, then by y descending so ties in x keep only the best y.
    order = ok[np.lexsort((-ys[ok], xs[ok]))]
    front: list[int] = []
    best = -np.inf
    for i in order:
        if ys[i] > best:
            front.append(int(i))
            best = ys[i]
    return front


def quality_vs(summary: pd.DataFrame, x: str, *, xlabel: str | None = None) -> Figure:
    """Mean score against a cost or latency column (e.g. ``cost_per_task_usd``,
    ``latency_p50_s``), one point per cell with its CI, the Pareto frontier drawn and labelled."""
    fig = _figure()
    data = summary.dropna(subset=["mean", x]).reset_index(drop=True)
    if data.empty:
        return _empty(fig, f"no cells with both a score and {x}")
    ax = fig.add_subplot()
    yerr = [(data["mean"] - data["ci_low"]).clip(lower=0), (data["ci_high"] - data["mean"]).clip(lower=0)]
    ax.errorbar(data[x], data["mean"], yerr=yerr, fmt="o", color="#888", alpha=0.7, capsize=2, label="cells")
    front = pareto_front(data[x], data["mean"])
    f = data.iloc[front]
    ax.plot(f[x], f["mean"], "-o", color="#d62728", label="Pareto frontier", zorder=3)
    for _, row in f.iterrows():
        ax.annotate(
            str(row["label"]),
            (row[x], row["mean"]),
            fontsize="x-small",
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("mean score (95% CI)")
    ax.set_title(f"Quality against {xlabel or x}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def latency_cdf(
    metrics: pd.DataFrame, metric: str = "latency_s", labels: dict[str, str] | None = None
) -> Figure:
    """Empirical CDF of a per-task latency metric (``latency.task_metrics``), one line per cell."""
    import numpy as np

    fig = _figure()
    data = metrics.dropna(subset=[metric])
    if data.empty:
        return _empty(fig, f"no {metric} measurements")
    ax = fig.add_subplot()
    groups = list(data.groupby("cell_id", sort=False))
    if len(groups) > MAX_LINES:
        groups = [("all cells", data)]
    for cell_id, g in groups:
        v = np.sort(g[metric].to_numpy(dtype=float))
        ax.step(
            v,
            np.arange(1, v.size + 1) / v.size,
            where="post",
            label=(labels or {}).get(str(cell_id), str(cell_id)),
        )
    ax.set_xlabel(metric)
    ax.set_ylabel("fraction of tasks")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"CDF of {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def throughput_timeline(throughput: pd.DataFrame, concurrency: pd.DataFrame | None = None) -> Figure:
    """Completions per second and in-flight tasks over the run (``latency.throughput_over_time``);
    the adaptive concurrency limit too when its history (``Run.concurrency``) is given."""
    fig = _figure(6.4, 4.2)
    if throughput.empty:
        return _empty(fig, "no finished tasks")
    top, bottom = fig.subplots(2, 1, sharex=True)
    mids = (throughput["t_start"] + throughput["t_end"]) / 2
    top.plot(mids, throughput["completions_per_s"], label="completions/s")
    top.set_ylabel("completions/s")
    out = top.twinx()
    out.plot(mids, throughput["output_tps"], color="#ff7f0e", alpha=0.7, label="output tokens/s")
    out.set_ylabel("output tokens/s")
    top.set_title("Throughput and concurrency over the run")
    top.grid(alpha=0.3)
    bottom.plot(mids, throughput["in_flight"], label="in flight (tasks)")
    if concurrency is not None and not concurrency.empty:
        bottom.step(
            concurrency["t"],
            concurrency["limit_value"].astype(float),
            where="post",
            label="concurrency limit",
            color="#2ca02c",
        )
    bottom.set_xlabel("seconds since run start")
    bottom.set_ylabel("tasks")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize="small")
    return fig


def cost_breakdown(costs: pd.DataFrame, labels: dict[str, str] | None = None) -> Figure:
    """Cost per cell (``cost.cost_table``) stacked by input, output and thinking tokens; the share
    that cache hits saved is hatched."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = _figure(6.4, max(2.8, 0.4 * len(costs) + 1.6))
    if costs.empty or costs["cost_usd"].isna().all():
        return _empty(fig, "no known cost")
    ax = fig.add_subplot()
    names = [(labels or {}).get(str(c), str(c)) for c in costs["cell_id"]]
    y = np.arange(len(costs))
    left = np.zeros(len(costs))
    parts = [("cost_input_usd", "input"), ("cost_output_usd", "output"), ("cost_thinking_usd", "thinking")]
    if costs[[p for p, _ in parts]].isna().all().all():
        parts = [("cost_usd", "total")]  # no price table: the split is unknown, show the total
    for col, label in parts:
        v = costs[col].fillna(0).to_numpy(dtype=float)
        ax.barh(y, v, left=left, label=label)
        left += v
    saved = costs["saved_by_cache_usd"].fillna(0).to_numpy(dtype=float)
    if saved.any():
        # cost_usd includes what cache hits would have cost: hatch that share, at the bar's end.
        ax.barh(
            y, saved, left=left - saved, label="saved by cache", color="none", edgecolor="#333", hatch="//"
        )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"${v:.3g}"))
    ax.set_xlabel("USD")
    ax.set_title("Cost per cell")
    fig.legend(loc="outside lower center", ncols=4, fontsize="small", frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return fig
