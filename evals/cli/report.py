"""``evals report RUN_DIR``: (re)generate a run's reports from its database."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS_HELP = "comma-separated: html, md, junit, csv, parquet"


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "formats", default="html,md,junit", show_default=True, help=FORMATS_HELP)
@click.option(
    "--samples",
    "sample_limit",
    type=click.IntRange(min=0),
    default=None,
    help="Rows of the per-sample view embedded in report.html, failures first [default: 500].",
)
@click.option("--junit-samples", is_flag=True, help="Also write one JUnit test case per sample row.")
def report(run_dir: Path, formats: str, sample_limit: int | None, junit_samples: bool) -> None:
    """Write report.html, summary.md, junit.xml and/or CSV/Parquet frames into RUN_DIR.

    Exit codes: 0 written, 2 unknown format or unreadable run database.
    """
    from reports.render import write_reports

    paths = write_reports(
        run_dir,
        [f for f in formats.split(",") if f.strip()],
        sample_limit=sample_limit,
        junit_samples=junit_samples,
    )
    for path in paths:
        click.echo(str(path))
