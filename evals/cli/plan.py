"""``evals plan SUITE``: axes, counts, token and cost estimates of a suite, without any network call."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from evals.errors import EvalsError

if TYPE_CHECKING:
    from evals.plan import Plan
    from evals.suite_loader import LoadedSuite


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def _tokens(value: int | None, unbounded: str = "unbounded") -> str:
    return unbounded if value is None else f"{value:,}"


def _render(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"[bold]{plan.suite}[/bold]  {plan.path}")
    console.print(f"provider {plan.provider}, models {', '.join(plan.models)}, dataset {plan.dataset}")
    if plan.axes:
        axes = Table(title="grid axes", title_justify="left")
        axes.add_column("axis")
        axes.add_column("values", overflow="fold")
        axes.add_column("n", justify="right")
        for axis in plan.axes:
            axes.add_row(axis.name, ", ".join(str(v) for v in axis.values), str(len(axis.values)))
        console.print(axes)
        extras = []
        if plan.zip:
            extras.append("zip " + "; ".join(" + ".join(g) for g in plan.zip))
        if plan.exclude_rules:
            extras.append(f"{plan.exclude_rules} exclude rule(s)")
        if plan.include_rules:
            extras.append(f"{plan.include_rules} include rule(s)")
        if extras:
            console.print(", ".join(extras))
    counts = Table(title="counts and estimates", title_justify="left", show_header=False)
    counts.add_column("what")
    counts.add_column("value", justify="right")
    rows = [
        ("cells", f"{plan.cells:,}"),
        ("samples", f"{plan.samples:,}"),
        ("seeds", f"{plan.seeds:,}"),
        ("replicates", f"{plan.replicates:,}"),
        ("tasks", f"{plan.tasks:,}"),
        ("requests", f"{plan.requests:,}"),
        ("results", f"{plan.results:,}"),
        ("input tokens (est.)", f"{plan.input_tokens:,}"),
        ("output tokens min", f"{plan.output_tokens_min:,}"),
        ("output tokens max", _tokens(plan.output_tokens_max)),
        ("cost min", _usd(plan.cost_min_usd)),
        ("cost max", _usd(plan.cost_max_usd) if plan.output_tokens_max is not None else "unbounded"),
    ]
    if plan.output_tokens_max is None:
        rows += [
            ("output tokens max (context)", _tokens(plan.output_tokens_max_context, "unknown")),
            ("cost max (context)", _usd(plan.cost_max_context_usd)),
        ]
    for what, value in rows:
        counts.add_row(what, value)
    console.print(counts)
    for note in plan.notes:
        console.print(f"note: {note}")


@click.command()
@click.argument("suite", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--detect",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Also plan the gate's power: samples needed to catch a drop of this size (e.g. 0.03) "
    "with the --power probability, and the smallest drop the suite can catch now.",
)
@click.option(
    "--power",
    "power",
    type=click.FloatRange(0.5, 1, max_open=True),
    default=0.8,
    show_default=True,
    help="Probability the gate should have of catching the --detect drop.",
)
@click.option(
    "--p0", type=click.FloatRange(0, 1), default=None, help="Baseline pass rate, when no baseline file."
)
@click.pass_context
def plan(
    ctx: click.Context, suite: str, as_json: bool, detect: float | None, power: float, p0: float | None
) -> None:
    """Show what SUITE would run: axes, counts, estimated tokens and cost. No network call.

    Exit codes: 0 planned, 2 invalid suite or dataset.
    """
    from evals.plan import make_plan
    from evals.suite_loader import load_suite

    try:
        loaded = load_suite(suite)
        result = make_plan(loaded)
    except EvalsError as exc:
        if (ctx.obj or {}).get("debug"):
            raise
        click.echo(f"error: {exc}", err=True)
        ctx.exit(int(exc.exit_code))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    power_plan = None
    if detect is not None:
        try:
            power_plan = _power_plan(loaded, result, detect, power, p0)
        except EvalsError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))
    if as_json:
        data = result.to_dict()
        if power_plan is not None:
            from dataclasses import asdict

            data["power"] = asdict(power_plan)
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        _render(result)
        if power_plan is not None:
            for line in power_plan.lines():
                click.echo(line)


def _power_plan(loaded: LoadedSuite, result: Plan, detect: float, power: float, p0: float | None) -> Any:
    """Plan the gate's power; the statistics live in reports (imported lazily: the CLI is the top floor)."""
    from reports.power import plan_gate

    gate = loaded.suite.gate
    baseline = None
    if gate is not None and gate.baseline:
        candidate = (loaded.base_dir / gate.baseline).resolve()
        baseline = candidate if candidate.exists() else None
    # Results per sample and cell: every seed, replicate and result is one more paired observation.
    number_results = max(1, result.results // max(1, result.tasks))
    return plan_gate(
        detect,
        samples=result.samples,
        cells=result.cells,
        replicates=result.seeds * result.replicates * number_results,
        gate=gate,
        p0=p0,
        baseline=baseline,
        power=power,
    )
