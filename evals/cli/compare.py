"""``evals compare BASELINE NEW``: paired comparison of two runs (or a baseline file and a run) under a gate."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("baseline", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the gate from this suite file (default: the gate NEW recorded, else: no score may drop).",
)
@click.option(
    "--markdown",
    "markdown_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Markdown summary (PR comment).",
)
@click.option(
    "--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML."
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write every number as JSON."
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the comparison as an HTML fragment.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap and permutation resampling."
)
@click.option(
    "--resamples",
    type=click.IntRange(min=200),
    default=2000,
    show_default=True,
    help="Bootstrap and permutation resamples.",
)
@click.option(
    "--allow-suite-change",
    is_flag=True,
    help="Compare runs of different suite versions on the cells and samples they share.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the one-line outcome.")
def compare(
    baseline: Path,
    new: Path,
    suite_path: Path | None,
    markdown_out: Path | None,
    junit_out: Path | None,
    json_out: Path | None,
    html_out: Path | None,
    seed: int,
    resamples: int,
    allow_suite_change: bool,
    quiet: bool,
) -> None:
    """Compare NEW with BASELINE, each a run directory or a baseline file, paired by cell and sample.

    Exit codes: 0 the gate passed, 1 the gate failed, 2 configuration error (bad gate, baseline from
    another suite version), 3 the runs are not valid for comparison (too many errored tasks, nothing
    to pair).
    """
    from reports.compare_render import print_terminal, to_html, to_json, to_junit, to_markdown
    from reports.gate import compare_paths

    gate = None
    if suite_path is not None:
        from evals.suite_loader import load_suite

        gate = load_suite(suite_path).suite.gate
        if gate is None:
            raise click.UsageError(f"{suite_path} has no gate section")
    report = compare_paths(
        baseline, new, gate, seed=seed, resamples=resamples, allow_suite_change=allow_suite_change
    )
    if quiet:
        click.echo(report.summary())
        # Even quiet, a comparison of cached runs must not pass silently.
        for warning in report.warnings:
            click.echo(f"WARNING: {warning}", err=True)
    else:
        # Not a terminal (a CI log): print_terminal uses a wide console so the table is not folded.
        print_terminal(report)
    for path, content in ((markdown_out, to_markdown), (html_out, to_html), (json_out, to_json)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content(report), encoding="utf-8")
    if junit_out is not None:
        junit_out.parent.mkdir(parents=True, exist_ok=True)
        junit_out.write_bytes(to_junit(report))
    report.raise_for_status()
