"""Show a ``GateReport``: a rich table in the terminal, Markdown for a PR comment, JUnit XML for CI,
and an HTML section (plus JUnit checks) for the run report of ``reports.render``.

Every output is built from the same formatted rows (``rows``), so the four never disagree.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import jinja2

from reports.compare import MetricResult
from reports.gate import GateReport

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from reports.render import Check, Section

COLUMNS = ("cell", "metric", "baseline", "new", "change", "interval", "tolerance", "p", "n", "verdict")

_VERDICT_STYLE = {
    "fail": "bold red",
    "inconclusive": "yellow",
    "ok": "green",
    "improved": "bold green",
    "info": "dim",
}


def cell_label(report: GateReport, cell_id: str) -> str:
    """``temperature=0.2, prompt=terse`` from the cell's axes; the short id when it has none."""
    axes = report.cells.get(cell_id) or {}
    if not axes:
        return cell_id[:12]
    return ", ".join(f"{k.removeprefix('settings.')}={v}" for k, v in sorted(axes.items()))


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _value(r: MetricResult, x: float) -> str:
    if not _finite(x):
        return "n/a"
    if r.metric.startswith("cost"):
        return f"${x:.3g}"
    if r.metric.startswith(("latency", "ttft")):
        return f"{x:.3g} s"
    return f"{x:.3f}"


def _change(r: MetricResult, x: float) -> str:
    if not _finite(x):
        return "n/a"
    return f"x{x:.3f}" if r.kind == "ratio" else f"{x:+.3f}"


def _tolerance(r: MetricResult) -> str:
    if r.tolerance is None:
        return "-"
    if r.kind == "ratio":
        return f"<= x{r.tolerance:.3f}"
    return f"drop <= {r.tolerance:.3f}"


def _p(r: MetricResult) -> str:
    p = r.p_adjusted if r.p_adjusted is not None else r.p_value
    if p is None:
        return "-" if r.p_change is None else f"({r.p_change:.3g})"
    return f"{p:.3g}"


def rows(report: GateReport, *, gated_only: bool = False) -> list[dict[str, str]]:
    """One dict of display strings per (cell, metric), gated metrics first, in ``COLUMNS`` order."""
    return [row for row, _ in _rows(report, gated_only)]


def _cell_order(report: GateReport) -> dict[str, int]:
    """Cells sorted by axis values (temperature 0.2 before 0.8), not by their hash ids."""
    from reports.frames import axes_sort_key

    ids = sorted({r.cell_id for r in report.results})
    names: list[str] = []
    for cell_id in ids:
        names.extend(k for k in report.cells.get(cell_id) or {} if k not in names)
    ordered = sorted(ids, key=lambda c: (axes_sort_key(report.cells.get(c) or {}, names), c))
    return {c: i for i, c in enumerate(ordered)}


def _rows(report: GateReport, gated_only: bool) -> list[tuple[dict[str, str], MetricResult]]:
    order = _cell_order(report)
    results = sorted(report.results, key=lambda r: (r.tolerance is None, order[r.cell_id], r.metric))
    out = []
    for r in results:
        if gated_only and r.tolerance is None:
            continue
        interval = (
            f"[{_change(r, r.ci_low)}, {_change(r, r.ci_high)}]"
            if _finite(r.ci_low) and _finite(r.ci_high)
            else "n/a"
        )
        out.append(
            (
                {
                    "cell": cell_label(report, r.cell_id),
                    "metric": r.metric + (f" ({r.note})" if r.note else ""),
                    "baseline": _value(r, r.base),
                    "new": _value(r, r.new),
                    "change": _change(r, r.change),
                    "interval": interval,
                    "tolerance": _tolerance(r),
                    "p": _p(r),
                    "n": str(r.n),
                    "verdict": r.verdict,
                },
                r,
            )
        )
    return out


def _header(report: GateReport, *, warnings: bool = True) -> list[str]:
    v = report.validity
    lines = [
        f"baseline: {report.base_label}",
        f"new: {report.new_label}",
        f"paired samples: {v.paired_units} (only in baseline: {v.base_only}, only in new: {v.new_only}); "
        f"errored tasks: baseline {v.base_error_rate:.1%}, new {v.new_error_rate:.1%} "
        f"(limit {v.max_error_rate:.1%}); correction: {report.correction}",
    ]
    if warnings:
        lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"not valid: {reason}" for reason in v.reasons]
    return lines


WIDE_CONSOLE = 200
"""Columns of the console when stdout is not a terminal: rich would assume 80 in a CI log and cut
cell labels and metric names to "c1-e5…" and "finis…"."""


def console_for_output(*renderables: RenderableType) -> Console:
    """A console on stdout: the terminal's width; when stdout is not a terminal (a pipe, a CI log),
    ``WIDE_CONSOLE`` columns, or more when ``renderables`` (e.g. a table) need more to show whole."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    if console.is_terminal:
        return console
    wide = Console(width=10_000)
    needed = [Measurement.get(wide, wide.options, r).maximum for r in renderables]
    return Console(width=max([WIDE_CONSOLE, *needed]))


def print_terminal(report: GateReport, console: Console | None = None) -> None:
    """Print the comparison as a rich table, then the one-line outcome."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col in ("baseline", "new", "change", "p", "n") else "left")
    for row in rows(report):
        style = _VERDICT_STYLE.get(row["verdict"], "")
        # Intervals look like markup tags ("[x1.0, x1.2]") to rich: escape every value.
        cells = [escape(row[c]) for c in COLUMNS]
        cells[-1] = f"[{style}]{row['verdict']}[/]" if style else row["verdict"]
        table.add_row(*cells)
    console = console or console_for_output(table)
    for line in _header(report, warnings=False):
        console.print(line, highlight=False, markup=False)
    # Warnings stand out: a comparison of cached runs "passes" without measuring latency or cost.
    for warning in report.warnings:
        console.print(f"WARNING: {warning}", style="bold yellow", highlight=False, markup=False)
    console.print(table)
    style = "bold red" if not report.passed else "bold green"
    console.print(f"[{style}]{report.summary()}[/]", highlight=False)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(data: list[dict[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in data:
        cells = [_md_escape(row[c]) for c in COLUMNS]
        if row["verdict"] == "fail":
            cells[-1] = "**FAIL**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(report: GateReport, *, heading_level: int = 2) -> str:
    """The comparison as Markdown for a pull-request comment: outcome, gated table, other metrics folded."""
    h = "#" * heading_level
    icon = "FAILED" if not report.passed else "passed"
    lines = [
        f"{h} Regression gate {icon}: {report.suite_name}",
        "",
        f"**{_md_escape(report.summary())}**",
        "",
    ]
    # Warnings go first, as a quote, so a reader of the PR comment cannot miss them.
    for warning in report.warnings:
        lines += [f"> **Warning:** {_md_escape(warning)}", ""]
    lines += [f"- {_md_escape(line)}" for line in _header(report, warnings=False)]
    gated = rows(report, gated_only=True)
    info = [r for r in rows(report) if r["tolerance"] == "-"]
    if gated:
        lines += ["", *_md_table(gated)]
    if info:
        lines += [
            "",
            "<details><summary>Other metrics (not gated)</summary>",
            "",
            *_md_table(info),
            "",
            "</details>",
        ]
    lines += [
        "",
        "Interval: two-sided at 2 x confidence - 1, so each end is a one-sided bound at the gate's "
        "confidence. A metric fails only when the whole interval lies beyond its tolerance and the "
        "corrected p-value is below 1 - confidence.",
    ]
    return "\n".join(lines) + "\n"


def to_junit(report: GateReport) -> bytes:
    """JUnit XML: one test case per gated (cell, metric) plus one for the validity of the comparison."""
    suite = ET.Element("testsuite", name=f"gate.{report.suite_name}")
    cases: list[ET.Element] = []
    validity = ET.Element("testcase", name="comparison is valid", classname=f"gate.{report.suite_name}")
    if not report.valid:
        ET.SubElement(validity, "failure", message="; ".join(report.validity.reasons), type="invalid")
    if report.warnings:
        ET.SubElement(validity, "system-err").text = "\n".join(f"warning: {w}" for w in report.warnings)
    cases.append(validity)
    for row, r in _rows(report, True):
        case = ET.Element(
            "testcase", name=f"{row['metric']} [{row['cell']}]", classname=f"gate.{report.suite_name}"
        )
        detail = (
            f"baseline {row['baseline']}, new {row['new']}, change {row['change']} {row['interval']}, "
            f"tolerance {row['tolerance']}, p {row['p']}, verdict {row['verdict']}"
        )
        if r.verdict == "fail":
            ET.SubElement(case, "failure", message=detail, type="regression")
        else:
            ET.SubElement(case, "system-out").text = detail
        cases.append(case)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", "0")
    suite.extend(cases)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def to_json(report: GateReport) -> str:
    """The comparison as JSON for scripts: outcome, validity and every measured number (NaN as null)."""
    import json
    from dataclasses import asdict

    def clean(x: object) -> object:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    doc = {
        "baseline": report.base_label,
        "new": report.new_label,
        "suite": report.suite_name,
        "passed": report.passed,
        "exit_code": int(report.exit_code),
        "summary": report.summary(),
        "correction": report.correction,
        "validity": {**asdict(report.validity), "valid": report.valid},
        "warnings": report.warnings,
        "results": [{**asdict(r), "cell": cell_label(report, r.cell_id)} for r in report.results],
    }
    return json.dumps(clean(doc), indent=1, sort_keys=True) + "\n"


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<section class="comparison">
<p class="{{ 'fail' if failed else 'pass' }}"><strong>{{ summary }}</strong></p>
<ul>{% for line in header %}<li>{{ line }}</li>{% endfor %}</ul>
<table>
<thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr class="verdict-{{ row.verdict }}">{% for c in columns %}<td>{{ row[c] }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</section>"""
)


def to_html(report: GateReport) -> str:
    """The comparison as an HTML fragment (escaped by jinja2) for the run report."""
    return _HTML.render(
        summary=report.summary(),
        failed=not report.passed,
        header=_header(report),
        columns=COLUMNS,
        rows=rows(report),
    )


def section(report: GateReport) -> Section:
    """A ``reports.render.Section`` holding this comparison, for ``write_reports(extra_sections=...)``."""
    from reports.render import Section

    return Section(
        title="Comparison with the baseline",
        markdown=to_markdown(report, heading_level=3),
        html=to_html(report),
    )


def checks(report: GateReport) -> list[Check]:
    """``reports.render.Check`` items (one per gated metric, one for validity) for the run's junit.xml."""
    from reports.render import Check

    cls = f"gate.{report.suite_name}"
    out = [
        Check(
            name="comparison is valid",
            classname=cls,
            passed=report.valid,
            message="; ".join(report.validity.reasons),
        )
    ]
    for row, r in _rows(report, True):
        out.append(
            Check(
                name=f"{row['metric']} [{row['cell']}]",
                classname=cls,
                passed=r.verdict != "fail",
                message=f"change {row['change']} {row['interval']}, tolerance {row['tolerance']}, {row['verdict']}",
                value=r.change if math.isfinite(r.change) else None,
            )
        )
    return out
