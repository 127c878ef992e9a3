"""``evals runs [DIR]``: list the runs under a directory with their suite, status, counts, cost, time."""

from __future__ import annotations

from pathlib import Path

import click

from evals.errors import ConfigError, StoreError


def _money(value: float | None) -> str:
    if value is None:
        return "?"
    # Sub-cent runs are common (small suites, cheap models): keep their digits visible.
    return f"${value:.4f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m"


@click.command("runs")
@click.argument("directory", required=False, default="runs", type=click.Path(file_okay=False, path_type=Path))
@click.option("--plain", is_flag=True, help="Tab-separated lines instead of a table.")
def runs(directory: Path, plain: bool) -> None:
    """List the runs under DIRECTORY (default runs/), newest last.

    Columns: run directory, suite, status, done/total, errored, pending, cache hits, cost of the
    answers, USD spent, duration, start time (UTC).
    """
    from evals.store import read_overview

    if not directory.is_dir():
        # A typo in the directory must not look like "no runs yet": exit 2 with one line.
        raise ConfigError(f"{directory}: no such directory")
    overviews = []
    unreadable = []
    for db in sorted(directory.glob("*/run.sqlite")):
        try:
            overviews.append(read_overview(db))
        except StoreError as exc:
            unreadable.append(str(exc))
    overviews.sort(key=lambda o: o.started_at)
    header = [
        "run",
        "suite",
        "status",
        "done",
        "errored",
        "pending",
        "cached",
        "cost",
        "spent",
        "duration",
        "started",
    ]
    rows = [
        [
            str(o.path.parent),
            o.suite_name,
            o.status,
            f"{o.counts['done']}/{o.total}",
            str(o.counts["errored"]),
            str(o.counts["pending"]),
            str(o.cache_hits),
            _money(o.cost),
            _money(o.cost_spent),
            _duration(o.duration_s),
            o.started_at,
        ]
        for o in overviews
    ]
    if plain or not rows:
        if not rows:
            click.echo(f"no runs under {directory}/", err=True)
        else:
            click.echo("\t".join(header))
            for row in rows:
                click.echo("\t".join(row))
    else:
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        from reports.compare_render import console_for_output

        console_for_output(table).print(table)
    for message in unreadable:
        click.echo(f"warning: {message}", err=True)
