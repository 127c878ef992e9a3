"""Write a run's reports: ``report.html``, ``summary.md``, ``junit.xml`` and CSV/Parquet exports.

``write_reports(run_dir)`` computes every table once (``ReportData``) and hands it to each
renderer. Other parts of the harness add content without touching the renderers: a ``Section``
(e.g. the comparison with a baseline) goes into the HTML and the Markdown, a ``Check`` (e.g. a
gate decision) becomes a JUnit test case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from reports.frames import Run
    from reports.samples import SampleView

FORMATS = ("html", "md", "junit", "csv", "parquet")
FILE_NAMES = {"html": "report.html", "md": "summary.md", "junit": "junit.xml"}


@dataclass(frozen=True)
class Section:
    """Extra content for the reports: ``markdown`` goes into summary.md (and, rendered, into the
    HTML when ``html`` is None); ``html`` is trusted markup inserted as is into report.html."""

    title: str
    markdown: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class Check:
    """One JUnit test case: a gated metric, a run-level limit or a sample."""

    name: str
    classname: str
    passed: bool
    message: str = ""
    value: float | None = None
    skipped: bool = False


@dataclass
class ReportData:
    """Every table the renderers show, computed once."""

    run: Run
    summary: pd.DataFrame
    latency: pd.DataFrame
    costs: pd.DataFrame
    totals: dict[str, Any]
    errors: pd.DataFrame
    attempt_errors: pd.DataFrame
    finish_reasons: pd.DataFrame
    pass_at_k: pd.DataFrame
    samples: SampleView
    sections: list[Section] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return {
            str(k): str(v) for k, v in zip(self.run.cells["cell_id"], self.run.cells["label"], strict=True)
        }


def build_report_data(
    run_dir: str | Path,
    *,
    extra_sections: Sequence[Section] | None = None,
    checks: Sequence[Check] | None = None,
    sample_limit: int | None = None,
) -> ReportData:
    """Load a run (without its large texts) and compute the tables of the reports."""
    from reports.cost import cost_table, cost_totals
    from reports.frames import load
    from reports.latency import latency_table
    from reports.samples import DEFAULT_LIMIT, sample_view
    from reports.summary import attempt_error_table, error_table, finish_reason_table, pass_at_k_table

    run = load(run_dir, texts=False)
    data = ReportData(
        run=run,
        summary=run.cell_summary(),
        latency=latency_table(run),
        costs=cost_table(run),
        totals=cost_totals(run),
        errors=error_table(run),
        attempt_errors=attempt_error_table(run),
        finish_reasons=finish_reason_table(run),
        pass_at_k=pass_at_k_table(run),
        samples=sample_view(run, DEFAULT_LIMIT if sample_limit is None else sample_limit),
        sections=list(extra_sections or []),
    )
    data.checks = [*default_checks(data), *(checks or [])]
    return data


GATE_METRICS = {
    "latency_p50": ("latency_p50_s", "s"),
    "latency_p95": ("latency_p95_s", "s"),
    "ttft_p50": ("ttft_p50_s", "s"),
    "ttft_p95": ("ttft_p95_s", "s"),
    "cost_per_task": ("cost_per_task_usd", "USD"),
    "cost_per_correct": ("cost_per_correct_usd", "USD"),
}


def default_checks(data: ReportData) -> list[Check]:
    """The checks a run can decide on its own, without a baseline.

    - ``error_rate``: the run's share of errored tasks against ``gate.max_error_rate``;
    - one case per (gated metric, cell): fails when the metric could not be measured (the
      comparison against the baseline adds its own cases);
    - without a gate, one case per (cell, scorer) reporting the score and its interval.
    """
    import math

    import pandas as pd

    from reports.formatting import score_ci

    run = data.run
    gate = (run.manifest.get("expanded") or {}).get("gate") or {}
    tasks = len(run.tasks)
    errored = int((run.tasks["status"] == "errored").sum())
    rate = errored / tasks if tasks else math.nan
    limit = gate.get("max_error_rate")
    checks = [
        Check(
            name="error_rate",
            classname="run",
            passed=limit is None or (tasks > 0 and rate <= float(limit)),
            message=f"{errored} of {tasks} tasks errored ({rate:.1%})"
            + (f"; limit {float(limit):.1%}" if limit is not None else ""),
            value=rate,
        )
    ]
    labels = data.labels
    metrics = [m.get("metric") for m in gate.get("metrics", []) if isinstance(m, dict)]
    summary = data.summary
    if not metrics:
        metrics = list(run.scorers)
    cached = run.tasks.groupby("cell_id")["cache_hit"].sum()
    score_names = _score_metric_names(run)
    for metric in metrics:
        for _, row in summary.drop_duplicates(["cell_id", "scorer"]).iterrows():
            cell = labels.get(str(row["cell_id"]), str(row["cell_id"]))
            # A cell with no scored result (unscored, interrupted or budget-stopped runs) has one
            # row whose scorer is <NA>; comparing NA gives NA, which has no truth value.
            scorer = None if pd.isna(row["scorer"]) else str(row["scorer"])
            done = 0 if pd.isna(row["done"]) else int(row["done"])
            skip = ""
            if metric in GATE_METRICS:
                if scorer is not None and run.primary_scorer and scorer != run.primary_scorer:
                    continue  # cost and latency are per cell, not per scorer
                column, unit = GATE_METRICS[metric]
                value = row[column]
                ok = not pd.isna(value)
                msg = f"{metric} = {value:.6g} {unit}" if ok else f"{metric} could not be measured"
                if not ok and done == 0:
                    # A partial run (interrupted, budget-stopped) has not reached this cell yet.
                    skip = f"{metric}: no task of this cell finished"
                elif (
                    not ok
                    and metric.startswith(("latency", "ttft"))
                    and cached.get(row["cell_id"], 0) >= done
                ):
                    msg += ": every finished task came from the cache (rerun with --no-cache)"
            elif scorer is None and metric in score_names:
                # Not scored (--no-score, or no task finished yet): nothing to check, not a failure.
                value, ok = None, False
                skip = msg = f"no scored results for {metric}" + (
                    " (not scored: run `evals score`)" if done else " (no task of this cell finished)"
                )
            elif scorer == metric:
                value = row["mean"]
                ok = not pd.isna(value)
                msg = (
                    f"{metric} = {score_ci(row['mean'], row['ci_low'], row['ci_high'])} (n={row['n']}, {row['ci_method']})"
                    if ok
                    else f"no scored results for {metric}"
                )
            else:
                continue
            checks.append(
                Check(
                    name=f"{metric}[{cell}]",
                    classname=f"metrics.{metric}",
                    passed=bool(ok),
                    message=skip or msg,
                    value=float(value) if ok else None,
                    skipped=bool(skip),
                )
            )
    return checks


def _score_metric_names(run: Run) -> set[str]:
    """Metric names that are scores: the suite's scorers, whether they scored anything or not."""
    declared = {
        s.get("id") or s.get("name")
        for s in (run.manifest.get("expanded") or {}).get("scorers", [])
        if isinstance(s, dict)
    }
    return {str(n) for n in declared if n} | set(run.scorers)


def write_reports(
    run_dir: Path,
    formats: Sequence[str] = ("html", "md", "junit"),
    *,
    extra_sections: list[Section] | None = None,
    checks: Sequence[Check] | None = None,
    sample_limit: int | None = None,
    junit_samples: bool = False,
) -> list[Path]:
    """Write the requested formats into ``run_dir`` and return the paths written.

    Formats: ``html`` (report.html), ``md`` (summary.md), ``junit`` (junit.xml), ``csv`` and
    ``parquet`` (one file per frame under ``run_dir/frames/``)."""
    formats = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(
            f"unknown report format {', '.join(unknown)}: expected some of {', '.join(FORMATS)}"
        )
    run_dir = Path(run_dir)
    data = build_report_data(run_dir, extra_sections=extra_sections, checks=checks, sample_limit=sample_limit)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "html":
            from reports.html import render_html

            path = run_dir / FILE_NAMES["html"]
            path.write_text(render_html(data), encoding="utf-8")
            written.append(path)
        elif fmt == "md":
            from reports.markdown import render_markdown

            path = run_dir / FILE_NAMES["md"]
            path.write_text(render_markdown(data), encoding="utf-8")
            written.append(path)
        elif fmt == "junit":
            from reports.junit import render_junit

            path = run_dir / FILE_NAMES["junit"]
            path.write_bytes(render_junit(data, samples=junit_samples))
            written.append(path)
        else:
            from reports.export import export_frames

            written.extend(export_frames(data, run_dir / "frames", fmt))
    return written
