"""``evals run SUITE`` and ``evals resume RUN_DIR``: run a suite (or finish one) into a run directory.

The runner lives in ``runners``; it is imported inside the commands (the CLI is the one floor of
``evals`` allowed to reach up the layering, and only lazily).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from evals.errors import ConfigError, ExitCode, StoreError

RUN_DB = "run.sqlite"


def _latest_run(root: Path, suite_name: str) -> Path:
    """The newest unfinished run of ``suite_name`` under ``root`` (for a bare ``--resume``)."""
    from evals.store import read_overview

    candidates = []
    for db in sorted(root.glob(f"{suite_name}-*/{RUN_DB}")):
        try:
            overview = read_overview(db)
        except StoreError:
            continue
        if overview.suite_name == suite_name and overview.status != "completed":
            candidates.append((overview.started_at, db.parent))
    if not candidates:
        raise ConfigError(f"no unfinished run of {suite_name!r} under {root}/ to resume; give its directory")
    return max(candidates)[1]


def _execute(
    suite_path: Path,
    *,
    run_dir: Path | None,
    resume: bool,
    cli_args: dict[str, Any],
    provider: str | None,
    endpoint: str | None,
    model: str | None,
    concurrency: int | None,
    max_cost: float | None,
    max_tasks: int | None,
    limit: int | None,
    no_cache: bool,
    refresh_cache: bool,
    cache_path: Path | None,
    grace: float,
    progress: str,
    report: bool,
    score: bool,
    baseline: Path | None = None,
    allow_provider_change: bool = False,
) -> None:
    from evals.suite_loader import load_suite
    from runners.run_dir import default_run_dir
    from runners.runner import RunOptions, print_summary, run_suite_sync

    loaded = load_suite(suite_path)
    for warning in getattr(loaded, "warnings", []) or []:
        click.echo(f"warning: {warning}", err=True)
    if run_dir is None:
        run_dir = default_run_dir(loaded.suite.name)
    options = RunOptions(
        provider=provider,
        endpoint=endpoint,
        model=model,
        concurrency=concurrency,
        max_cost=max_cost,
        max_tasks=max_tasks,
        limit=limit,
        # None when not given, so a resume keeps the run's own cache settings.
        cache=False if no_cache else None,
        refresh_cache=True if refresh_cache else None,
        cache_path=cache_path,
        resume=resume,
        grace_period=grace,
        progress=progress,  # type: ignore[arg-type]
        handle_signals=True,
        score=score,
        cli_args=cli_args,
        allow_provider_change=allow_provider_change,
    )
    try:
        summary = run_suite_sync(loaded, run_dir=run_dir, options=options)
    except KeyboardInterrupt:
        # Stopped while setting up or finishing (nothing was in flight). Ignore further Ctrl-C so
        # the exit code stays 130 instead of a signal death during interpreter shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        click.echo("interrupted", err=True)
        if (run_dir / RUN_DB).exists():
            click.echo(f"run directory: {run_dir}\nresume with: evals resume {run_dir}", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    if summary.status == "interrupted":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # saved already: a late Ctrl-C changes nothing
    gate_report = None
    if baseline is not None and summary.exit_code == ExitCode.OK:
        gate_report = _compare_with_baseline(run_dir, baseline, loaded.suite.gate)
    if report and summary.status != "interrupted":
        try:
            from reports.render import write_reports
        except ImportError:
            pass
        else:
            extra: dict[str, Any] = {}
            if gate_report is not None:
                from reports.compare_render import checks, section

                extra = {"extra_sections": [section(gate_report)], "checks": checks(gate_report)}
            try:
                for written in write_reports(run_dir, **extra):
                    click.echo(f"report: {written}", err=True)
            except Exception as exc:  # a report failure must not turn a finished run into a failure
                click.echo(
                    f"warning: reports failed ({type(exc).__name__}: {exc}); rerun `evals report`", err=True
                )
    print_summary(summary, file=sys.stderr)
    if baseline is not None and gate_report is None:
        click.echo("not compared with the baseline: the run did not complete", err=True)
    # sys.exit rather than click's Exit: with standalone_mode=False click would *return* the code,
    # and `python -m evals` would then exit 0 whatever happened.
    if summary.exit_code != ExitCode.OK or gate_report is None:
        sys.exit(summary.exit_code)
    sys.exit(gate_report.exit_code)


def _compare_with_baseline(run_dir: Path, baseline: Path, gate: Any) -> Any:
    """Compare the finished run with a committed baseline, as a CI job would (exit 1 or 3 on failure)."""
    from reports.compare_render import print_terminal, to_junit, to_markdown
    from reports.gate import check_against_baseline

    gate_report = check_against_baseline(run_dir, baseline, gate)
    print_terminal(gate_report)
    (run_dir / "comparison.md").write_text(to_markdown(gate_report), encoding="utf-8")
    (run_dir / "comparison.xml").write_bytes(to_junit(gate_report))
    click.echo(f"comparison: {run_dir / 'comparison.md'}", err=True)
    return gate_report


_shared_options = [
    click.option(
        "--provider",
        type=click.Choice(["local", "runware", "openai", "sim"]),
        help="Override target.provider.",
    ),
    click.option("--endpoint", help="Override target.endpoint (URL of the API or server)."),
    click.option("--model", help="Override target.model."),
    click.option(
        "--concurrency", type=click.IntRange(1, 4096), help="Override target.concurrency (maximum in flight)."
    ),
    click.option(
        "--max-cost",
        type=click.FloatRange(min=0),
        help="USD for the whole run (a resume counts what was spent).",
    ),
    click.option("--max-tasks", type=click.IntRange(min=1), help="Send at most N tasks to the API."),
    click.option("--limit", type=click.IntRange(min=1), help="Use only the first N samples."),
    click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache."),
    click.option("--refresh-cache", is_flag=True, help="Ignore cached answers, store the new ones."),
    click.option(
        "--cache-path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Response cache file (default $EVALS_CACHE_DIR/responses.sqlite or ~/.cache/evals-harness/).",
    ),
    click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=30.0,
        show_default=True,
        help="Seconds in-flight tasks get after Ctrl-C.",
    ),
    click.option(
        "--progress",
        type=click.Choice(["auto", "live", "plain", "off"]),
        default="auto",
        show_default=True,
        help="Live display on a terminal, plain lines otherwise (auto).",
    ),
    click.option("--no-report", is_flag=True, help="Do not write reports at the end."),
    click.option("--no-score", is_flag=True, help="Do not score at the end (`evals score` later)."),
    click.option(
        "--allow-provider-change",
        is_flag=True,
        help="Let a resume send to another provider, endpoint or model than the run used so far.",
    ),
    click.option(
        "--baseline",
        type=click.Path(exists=True, dir_okay=True, path_type=Path),
        help="After the run, compare it with this baseline file or run directory under the suite's "
        "gate: exit 1 when the gate fails, 3 when the comparison is not valid.",
    ),
]


def _with_shared(f: Any) -> Any:
    for option in reversed(_shared_options):
        f = option(f)
    return f


def _shared_arguments(kw: dict[str, Any]) -> dict[str, Any]:
    """The options `run` and `resume` share, as `_execute` keywords (--no-X flags become X=False)."""
    passed = (
        "provider",
        "endpoint",
        "model",
        "concurrency",
        "max_cost",
        "max_tasks",
        "limit",
        "no_cache",
        "refresh_cache",
        "cache_path",
        "grace",
        "progress",
        "baseline",
        "allow_provider_change",
    )
    return {**{name: kw[name] for name in passed}, "report": not kw["no_report"], "score": not kw["no_score"]}


@click.command("run")
@click.argument("suite", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory (default runs/<suite>-<timestamp>/).",
)
@click.option(
    "--resume",
    "resume_dir",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RUN_DIR]",
    help="Resume RUN_DIR (default: the newest unfinished run of this suite): send only unfinished tasks.",
)
@_with_shared
def run(suite: Path, out: Path | None, resume_dir: str | None, **kw: Any) -> None:
    """Run SUITE and store every attempt, result and score in a run directory.

    Exit codes: 0 success, 1 the gate failed against --baseline, 2 usage or configuration error,
    3 the run could not complete (fatal API error, too many errors) or is not valid for comparison,
    4 budget reached, 130 interrupted (resume with the printed command).
    """
    cli_args = {"command": "run", "suite": str(suite), "out": str(out) if out else None, "resume": resume_dir}
    cli_args.update({k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()})
    run_dir = out
    resume = resume_dir is not None
    if resume:
        if resume_dir:
            run_dir = Path(resume_dir)
        elif out is None:
            from evals.suite_loader import load_suite
            from runners.run_dir import DEFAULT_ROOT

            run_dir = _latest_run(DEFAULT_ROOT, load_suite(suite).suite.name)
    elif out is not None and (out / RUN_DB).exists():
        raise ConfigError(f"{out} already holds a run; use --resume {out} or choose another --out")
    _execute(
        suite,
        run_dir=run_dir,
        resume=resume,
        cli_args=cli_args,
        **_shared_arguments(kw),
    )


@click.command("resume")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--suite",
    "suite_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Suite file (default: the path stored with the run).",
)
@_with_shared
def resume(run_dir: Path, suite_path: Path | None, **kw: Any) -> None:
    """Finish RUN_DIR: send only the tasks without a final result, with the run's original options.

    Refuses (exit 2) when the suite now expands to different tasks, and says what changed.
    """
    from evals.store import RunStore

    with RunStore.open(run_dir / RUN_DB) as store:
        manifest = store.manifest()
    if suite_path is None:
        if not manifest.suite_path or not Path(manifest.suite_path).is_file():
            raise ConfigError(
                f"{run_dir}: the run's suite file {manifest.suite_path!r} is gone; pass it with --suite"
            )
        suite_path = Path(manifest.suite_path)
    cli_args = {"command": "resume", "run_dir": str(run_dir), "suite": str(suite_path)}
    cli_args.update({k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()})
    _execute(
        suite_path,
        run_dir=run_dir,
        resume=True,
        cli_args=cli_args,
        **_shared_arguments(kw),
    )
