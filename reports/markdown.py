"""``summary.md``: a compact Markdown summary for a CI job summary or a pull-request comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reports import formatting as fmt

if TYPE_CHECKING:
    from reports.render import ReportData

MAX_CELLS = 30
"""Cells listed in the table (best first); a sweep of hundreds of cells would bury the comment."""
MAX_ERROR_ROWS = 10


def _escape(text: object) -> str:
    """Keep a value from breaking a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(data: ReportData) -> str:
    """The summary as Markdown text."""
    m = data.run.manifest
    t = data.totals
    labels = data.labels
    lines = [
        f"## {_escape(m.get('suite_name', 'run'))} · `{_escape(m.get('run_id', ''))}`",
        "",
        f"**Model** `{_escape(m.get('model') or '?')}` via {_escape(m.get('provider', '?'))} · "
        f"**status** {_escape(m.get('status', '?'))} · **tasks** {fmt.num(t['tasks'])} · "
        f"**cost** {fmt.usd_bound(t['cost_usd'], t['tasks_unpriced'])} "
        f"(spent {fmt.usd_bound(t['cost_spent_usd'], t['spent_unknown'])}"
        + (f", of which warm-up {fmt.usd(t['warmup_spent_usd'])}" if t["warmup_tasks"] else "")
        + f", saved by cache {fmt.usd(t['saved_by_cache_usd'])}) · "
        f"**per correct** {fmt.usd_bound(t['cost_per_correct_usd'], t['tasks_unpriced'])}",
        "",
    ]
    failed = [c for c in data.checks if not c.passed and not c.skipped]
    if data.checks:
        lines.append(
            f"**Checks:** {len(data.checks) - len(failed)} passed, {len(failed)} failed"
            + "".join(f"\n- ❌ `{_escape(c.name)}`: {_escape(c.message)}" for c in failed)
        )
        lines.append("")
    summary = data.summary
    if not summary.empty:
        # Scorers in suite order (the primary one first), then the best cells first.
        rank = {name: i for i, name in enumerate(data.run.scorers)}
        ordered = summary.assign(_rank=summary["scorer"].map(rank).astype("float64"))
        ordered = ordered.sort_values(["_rank", "mean"], ascending=[True, False], na_position="last")
        shown = ordered.head(MAX_CELLS)
        lines += [
            "| cell | scorer | n | score [95% CI] | pass@k | errors | p50 latency | p95 latency | cost/task |",
            "|---|---|--:|---|--:|--:|--:|--:|--:|",
        ]
        for r in shown.to_dict("records"):
            pk = fmt.MISSING if fmt.is_missing(r["k"]) else f"{fmt.num(r['pass_at_k'])} (k={r['k']})"
            lines.append(
                f"| {_escape(labels.get(str(r['cell_id']), r['cell_id']))} | {_escape(fmt.MISSING if fmt.is_missing(r['scorer']) else r['scorer'])} "
                f"| {fmt.num(r['n'])} | {fmt.score_ci(r['mean'], r['ci_low'], r['ci_high'])} | {pk} "
                f"| {fmt.pct(r['error_rate'])} | {fmt.seconds(r['latency_p50_s'])} "
                f"| {fmt.seconds(r['latency_p95_s'])} | {fmt.usd(r['cost_per_task_usd'])} |"
            )
        if len(summary) > len(shown):
            lines.append(f"\n_Best {len(shown)} of {len(summary)} rows; the full table is in report.html._")
        lines.append("")
    if not data.errors.empty:
        lines += ["**Errors**", "", "| cell | class | code | tasks | rate |", "|---|---|---|--:|--:|"]
        for r in data.errors.sort_values("count", ascending=False).head(MAX_ERROR_ROWS).to_dict("records"):
            lines.append(
                f"| {_escape(labels.get(str(r['cell_id']), r['cell_id']))} | {_escape(r['error_class'])} "
                f"| {_escape(r['error_code'])} | {fmt.num(r['count'])} | {fmt.pct(r['rate'])} |"
            )
        lines.append("")
    for section in data.sections:
        if section.markdown:
            lines += [f"### {section.title}", "", section.markdown.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"
