"""``evals baseline save RUN_DIR --out FILE``: a compact, diff-friendly baseline file to commit."""

from __future__ import annotations

from pathlib import Path

import click

from evals.errors import ConfigError


@click.group()
def baseline() -> None:
    """Manage baseline files (per-sample scores of a reference run, committed next to the suite)."""


@baseline.command("save")
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file to write (JSON).",
)
@click.option("--allow-incomplete", is_flag=True, help="Save even if the run did not complete.")
def save(run_dir: Path, out: Path, allow_incomplete: bool) -> None:
    """Save RUN_DIR's per-sample scores, per-cell metrics, suite hash and harness version to FILE.

    Exit codes: 0 saved, 2 not a run directory or the run did not complete.
    """
    from reports.baseline import write_baseline
    from reports.compare import read_manifest, summarize_run

    status = read_manifest(run_dir).get("status")
    if status != "completed" and not allow_incomplete:
        raise ConfigError(
            f"{run_dir}: the run is {status}, not completed; a baseline of it would be partial (--allow-incomplete to save anyway)"
        )
    summary = summarize_run(run_dir)
    path = write_baseline(summary, out)
    click.echo(
        f"saved {path}: suite {summary.suite_name} ({summary.suite_hash[:12]}), {summary.cell_count} cells, "
        f"{summary.sample_count} samples, {int(summary.units['n_tasks'].sum())} tasks, "
        f"{summary.error_rate:.1%} errored"
    )
