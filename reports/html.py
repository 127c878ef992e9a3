"""``report.html``: one self-contained file, readable offline.

Plots are embedded as base64 PNG data URIs, styles are inline and a Content-Security-Policy meta tag
(``default-src 'none'``) forbids the page any request: nothing leaves the machine when it is opened.
The page is a jinja2 template with autoescaping on, so model output (which may contain markup) is
always shown as text.
"""

from __future__ import annotations

import base64
import io
from importlib import resources
from typing import TYPE_CHECKING, Any

from reports import formatting as fmt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from reports.render import ReportData

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_TABLE_ROWS = 200
"""Rows of a table shown in the page; the full tables are in the CSV/Parquet exports."""


def figure_to_data_uri(fig: Figure, dpi: int = 100) -> str:
    """PNG data URI of a figure (the figure is not kept open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(data: ReportData) -> list[dict[str, str]]:
    from reports import plots
    from reports.latency import task_metrics, throughput_over_time

    run = data.run
    out: list[dict[str, str]] = []

    def add(title: str, fig: Figure, note: str = "") -> None:
        out.append({"title": title, "src": figure_to_data_uri(fig), "note": note})

    summary = plots.summary_with_axes(run) if run.primary_scorer else None
    axes = [a for a in run.axes if run.cells[a].nunique() > 1]
    if summary is not None and not summary.empty:
        for axis in axes:
            add(f"Score against {axis}", plots.score_vs_axis(summary, axis))
        numeric = [a for a in axes if summary[a].dtype.kind in "if"]
        if len(numeric) >= 2:
            add(f"{numeric[0]} × {numeric[1]}", plots.heatmap(summary, numeric[0], numeric[1]))
        if len(axes) >= 2:
            add("Marginal effects", plots.marginal_effects(summary, axes))
        if summary["cost_per_task_usd"].notna().any():
            add(
                "Quality against cost",
                plots.quality_vs(summary, "cost_per_task_usd", xlabel="cost per task (USD)"),
            )
        if summary["latency_p50_s"].notna().any():
            add(
                "Quality against latency",
                plots.quality_vs(summary, "latency_p50_s", xlabel="median end-to-end latency (s)"),
            )
    metrics = task_metrics(run.tasks)
    labels = data.labels
    if metrics["latency_s"].notna().any():
        add("End-to-end latency CDF", plots.latency_cdf(metrics, "latency_s", labels))
    if metrics["ttft_s"].notna().any():
        add("Time to first token CDF", plots.latency_cdf(metrics, "ttft_s", labels))
    throughput = throughput_over_time(run)
    if not throughput.empty:
        add("Throughput and concurrency", plots.throughput_timeline(throughput, run.concurrency))
    if data.costs["cost_usd"].notna().any():
        add("Cost per cell", plots.cost_breakdown(data.costs, labels))
    return out


def _table(frame: Any, columns: list[tuple[str, str, Any]], limit: int = MAX_TABLE_ROWS) -> dict[str, Any]:
    """A frame as header + formatted rows: columns are (frame column, header, formatter)."""
    rows = []
    for record in frame.head(limit).to_dict("records"):
        rows.append([f(record.get(col)) for col, _, f in columns])
    numeric = [f in (fmt.num, fmt.pct, fmt.usd, fmt.seconds) for _, _, f in columns]
    return {
        "headers": [h for _, h, _ in columns],
        "numeric": numeric,
        "rows": rows,
        "total": len(frame),
        "shown": len(rows),
    }


def _text(v: Any) -> str:
    return fmt.MISSING if fmt.is_missing(v) else str(v)


def _manifest(data: ReportData) -> list[tuple[str, str]]:
    m = data.run.manifest
    keys = [
        ("run_id", "run"),
        ("suite_name", "suite"),
        ("suite_path", "suite file"),
        ("suite_hash", "suite hash"),
        ("model", "model"),
        ("provider", "provider"),
        ("endpoint", "endpoint"),
        ("status", "status"),
        ("started_at", "started"),
        ("ended_at", "ended"),
        ("harness_version", "harness"),
        ("git_commit", "git commit"),
        ("host", "host"),
    ]
    return [(label, str(m[k])) for k, label in keys if m.get(k) not in (None, "")]


def render_html(data: ReportData) -> str:
    """The complete page."""
    import jinja2
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    labels = data.labels
    label = lambda c: labels.get(str(c), str(c))  # noqa: E731 - a tiny formatter
    summary = _table(
        data.summary,
        [
            ("cell_id", "cell", label),
            ("scorer", "scorer", _text),
            ("n", "n", fmt.num),
            ("mean", "score [95% CI]", fmt.num),
            ("ci_method", "interval", _text),
            ("pass_at_k", "pass@k", fmt.num),
            ("error_rate", "errors", fmt.pct),
            ("latency_p50_s", "latency p50", fmt.seconds),
            ("latency_p95_s", "latency p95", fmt.seconds),
            ("ttft_p50_s", "TTFT p50", fmt.seconds),
            ("cost_per_task_usd", "cost/task", fmt.usd),
            ("cost_per_correct_usd", "cost/correct", fmt.usd),
        ],
    )
    # The score column joins three frame columns, so fill it from the records directly.
    for row, record in zip(
        summary["rows"], data.summary.head(MAX_TABLE_ROWS).to_dict("records"), strict=True
    ):
        row[3] = fmt.score_ci(record["mean"], record["ci_low"], record["ci_high"])
        if not fmt.is_missing(record.get("k")):
            row[5] = f"{fmt.num(record['pass_at_k'])} (k={record['k']})"
    latency = _table(
        data.latency,
        [
            ("cell_id", "cell", label),
            ("metric", "metric", _text),
            ("n", "n", fmt.num),
            ("mean", "mean", fmt.num),
            ("p50", "p50", fmt.num),
            ("p90", "p90", fmt.num),
            ("p95", "p95", fmt.num),
            ("p99", "p99", fmt.num),
        ],
    )
    costs = _table(
        data.costs,
        [
            ("cell_id", "cell", label),
            ("tasks", "tasks", fmt.num),
            ("cost_usd", "cost", fmt.usd),
            ("cost_spent_usd", "spent", fmt.usd),
            ("saved_by_cache_usd", "saved by cache", fmt.usd),
            ("cost_per_task_usd", "per task", fmt.usd),
            ("cost_per_correct_usd", "per correct", fmt.usd),
            ("prompt_tokens", "input tok", fmt.num),
            ("completion_tokens", "output tok", fmt.num),
            ("thinking_tokens", "thinking tok", fmt.num),
        ],
    )
    # Sums that leave out tasks of unknown cost are lower bounds: say so rather than show a total.
    for row, record in zip(costs["rows"], data.costs.head(MAX_TABLE_ROWS).to_dict("records"), strict=True):
        row[2] = fmt.usd_bound(record["cost_usd"], record["tasks_unpriced"])
        row[3] = fmt.usd_bound(record["cost_spent_usd"], record["spent_unknown"])
        row[6] = fmt.usd_bound(record["cost_per_correct_usd"], record["tasks_unpriced"])
    errors = _table(
        data.errors,
        [
            ("cell_id", "cell", label),
            ("error_class", "class", _text),
            ("error_code", "code", _text),
            ("count", "tasks", fmt.num),
            ("rate", "rate", fmt.pct),
            ("example", "example", _text),
        ],
    )
    attempt_errors = _table(
        data.attempt_errors,
        [
            ("error_class", "class", _text),
            ("error_code", "code", _text),
            ("http_status", "HTTP", _text),
            ("count", "attempts", fmt.num),
        ],
    )
    finish = _table(
        data.finish_reasons,
        [
            ("cell_id", "cell", label),
            ("finish_reason", "finish reason", _text),
            ("count", "results", fmt.num),
            ("share", "share", fmt.pct),
        ],
    )
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    # A section's html comes from the harness itself (trusted); its markdown is rendered with raw
    # HTML disabled, so either way the result can be marked safe for the autoescaping template.
    sections = [
        {"title": s.title, "html": Markup(s.html if s.html is not None else md.render(s.markdown or ""))}
        for s in data.sections
    ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt.num, pct=fmt.pct, usd=fmt.usd, usd_bound=fmt.usd_bound, seconds=fmt.seconds, text=_text
    )
    template = env.get_template("report.html.jinja")
    t = data.totals
    m = data.run.manifest
    return template.render(
        csp=Markup(CSP),  # a constant without double quotes: safe inside the attribute
        title=f"{data.run.manifest.get('suite_name', 'run')} · {data.run.manifest.get('run_id', '')}",
        heading=f"{m.get('suite_name') or 'Run'}: evaluation report",
        subheading=" · ".join(str(m[k]) for k in ("run_id", "model", "provider", "status") if m.get(k)),
        manifest=_manifest(data),
        totals=t,
        summary=summary,
        latency=latency,
        costs=costs,
        errors=errors,
        attempt_errors=attempt_errors,
        finish=finish,
        plots=_plots(data),
        sections=sections,
        samples=data.samples,
        labels=labels,
        checks=data.checks,
    )


def template_source() -> str:
    """The template text (for tests and for people adapting the page)."""
    return resources.files("reports").joinpath("templates/report.html.jinja").read_text(encoding="utf-8")
