"""Analyse: frames, statistics, comparisons and gates, plots, HTML/Markdown/JUnit renderers.

    run = reports.load("runs/smoke-20260101T000000")   # typed pandas frames of one run
    run.cell_summary()                                  # score with CI, pass@k, cost, latency per cell
    reports.write_reports(run.path, ["html", "md"])     # report.html, summary.md

Importing this package is cheap: pandas, numpy and matplotlib load only when a function needs them.
"""

from reports.frames import Run, load
from reports.render import Check, Section, write_reports

__all__ = ["Check", "Run", "Section", "load", "write_reports"]
