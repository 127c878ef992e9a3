"""``evals validate SUITE...``: check suite files; exit 0 when all are valid, 2 otherwise."""

from __future__ import annotations

import click

from evals.errors import DatasetError, ExitCode


@click.command()
@click.argument("suites", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--no-data",
    is_flag=True,
    help="Do not load the dataset (no file reads, no hub access): check the suite file only.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.pass_context
def validate(ctx: click.Context, suites: tuple[str, ...], no_data: bool, quiet: bool) -> None:
    """Validate SUITE files: every error with its file, line, column and key path.

    Unless --no-data is given, the dataset is loaded too and every prompt is rendered for every
    sample, so a placeholder a sample lacks is found before a run. Exit codes: 0 all valid,
    2 any invalid.
    """
    from evals.expand import Expander, TemplateDataError, iter_cell_plans, iter_cells
    from evals.suite_loader import iter_issues

    failed = False
    for path, loaded, issues in iter_issues(list(suites)):
        if loaded is None:
            failed = True
            for issue in issues:
                click.echo(str(issue), err=True)
            continue
        for warning in loaded.warnings:
            click.echo(f"{path}: warning: {warning}", err=True)
        detail = ""
        if not no_data:
            try:
                expander = Expander(loaded)
                cells = 0
                for plan in iter_cell_plans(loaded):
                    expander.rendered(plan)
                    cells += 1
            except TemplateDataError as exc:
                failed = True
                click.echo(str(exc.issue), err=True)  # already located: file:line:col: key: message
                continue
            except DatasetError as exc:
                failed = True
                click.echo(f"{path}: dataset: {exc}", err=True)
                continue
            detail = f" ({cells} cells, {len(expander.samples)} samples)"
        else:
            detail = f" ({sum(1 for _ in iter_cells(loaded))} cells)"
        if not quiet:
            click.echo(f"ok {path}{detail}")
    if failed:
        ctx.exit(int(ExitCode.CONFIG))
