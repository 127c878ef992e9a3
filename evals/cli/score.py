"""``evals score RUN_DIR``: score (or re-score) a stored run without calling the model again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evals.errors import ConfigError


def parse_scorer_spec(spec: str) -> Any:
    """``name`` or ``name:{flow YAML params}`` (e.g. ``numeric:{tolerance: 0.01}``) -> ScorerRef."""
    import yaml

    from evals.suite import ScorerRef

    name, sep, rest = spec.partition(":")
    params: Any = {}
    if sep:
        try:
            params = yaml.safe_load(rest) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"--scorer {spec!r}: the parameters are not YAML: {exc}") from None
        if not isinstance(params, dict):
            raise ConfigError(f"--scorer {spec!r}: the parameters must be a mapping like {{key: value}}")
    try:
        return ScorerRef(name=name.strip(), params=params)
    except ValueError as exc:
        raise ConfigError(f"--scorer {spec!r}: {exc}") from None


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--scorer",
    "scorer_specs",
    multiple=True,
    metavar="NAME[:{PARAMS}]",
    help="Scorer to apply (repeatable), e.g. 'numeric:{tolerance: 0.01}'. Default: the run's own scorers.",
)
@click.option(
    "--judge-provider",
    type=click.Choice(["local", "runware", "openai", "sim"]),
    help="Provider of the judge model for model_graded scorers.",
)
@click.option("--judge-model", help="Judge model id (default: the provider's default model).")
@click.option("--judge-endpoint", help="Judge endpoint (openai provider).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def score(
    run_dir: Path,
    scorer_specs: tuple[str, ...],
    judge_provider: str | None,
    judge_model: str | None,
    judge_endpoint: str | None,
    concurrency: int,
    as_json: bool,
) -> None:
    """Score the stored results of RUN_DIR; the scores are stored as a new pass beside older ones.

    Exit codes: 0 scored, 2 no run database, unknown scorer or bad parameters.
    """
    import anyio

    from evals.scoring import ScoringSummary, resolve_db, score_run_async, scorer_refs_of_run

    db = resolve_db(run_dir)
    refs = [parse_scorer_spec(s) for s in scorer_specs] or scorer_refs_of_run(db)
    if not refs:
        raise ConfigError("the run's suite names no scorer: give one with --scorer")
    if any(r.name == "model_graded" for r in refs) and judge_provider is None:
        raise ConfigError("model_graded needs a judge: give --judge-provider (and --judge-model)")

    async def main() -> ScoringSummary:
        if judge_provider is None:
            return await score_run_async(db, refs, concurrency=concurrency)
        from evals.scorers.model_graded import ProviderJudge
        from evals.suite import Target
        from runners.providers import open_provider

        options: dict[str, Any] = {"provider": judge_provider, "endpoint": judge_endpoint}
        if judge_model:
            options["model"] = judge_model
        target = Target(**options)
        async with open_provider(target) as provider:
            judge = ProviderJudge(provider, target.model)
            return await score_run_async(db, refs, judge=judge, concurrency=concurrency)

    summary = anyio.run(main)
    if as_json:
        click.echo(json.dumps(_as_dict(summary), indent=2))
        return
    _print(summary)


def _as_dict(summary: Any) -> dict[str, Any]:
    return {
        "db": str(summary.db_path),
        "pass_id": summary.pass_id,
        "results": summary.n_results,
        "scorers": {
            name: {"n": s.n, "passed": s.n_passed, "errors": s.n_errors, "mean": s.mean}
            for name, s in summary.scorers.items()
        },
        "judge_calls": summary.judge_calls,
        "judge_cost_usd": summary.judge_cost,
    }


def _print(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"scoring pass {summary.pass_id}: {summary.n_results} results")
    for column in ("scorer", "scored", "passed", "errors", "mean"):
        table.add_column(column, justify="left" if column == "scorer" else "right")
    for name, s in summary.scorers.items():
        mean = "-" if s.mean is None else f"{s.mean:.3f}"
        table.add_row(name, str(s.n - s.n_errors), str(s.n_passed), str(s.n_errors), mean)
    console = Console()
    console.print(table)
    if summary.judge_calls:
        cost = "unknown" if summary.judge_cost is None else f"${summary.judge_cost:.6f}"
        console.print(f"judge: {summary.judge_calls} calls, cost {cost} (stored in judge_calls)")
