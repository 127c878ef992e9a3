"""The ``evals`` command line: the top floor of the harness.

Each command lives in its own module of this package and is imported only when it runs, so
``evals --help`` stays fast and a command may import ``runners`` or ``reports`` lazily (the one
place where ``evals`` is allowed to reach up the layering).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from evals.errors import EvalsError, ExitCode

# command name -> "module:function"; one module per command.
COMMANDS: dict[str, str] = {
    "validate": "evals.cli.validate:validate",
    "plan": "evals.cli.plan:plan",
    "serve": "evals.cli.serve:serve",
    "run": "evals.cli.run:run",
    "resume": "evals.cli.run:resume",
    "runs": "evals.cli.runs:runs",
    "score": "evals.cli.score:score",
    "report": "evals.cli.report:report",
    "compare": "evals.cli.compare:compare",
    "baseline": "evals.cli.baseline:baseline",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    @staticmethod
    def _available(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="evals-harness", prog_name="evals")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Evaluate and benchmark LLMs served over an inference API.

    Exit codes: 0 success, 1 gate failed, 2 usage or configuration error, 3 the run could not
    complete, 4 budget reached, 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``evals`` console script: domain errors become one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Without standalone mode click returns the code of ctx.exit(n) instead of exiting with it.
        result: Any = cli.main(args=args, prog_name="evals", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.CONFIG)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except EvalsError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        # A bug of ours, not the user's: one line and exit 3 ("could not complete"), never 1,
        # which CI reads as "the gate failed". The traceback is one flag away.
        if debug:
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True
        )
        sys.exit(ExitCode.RUN_FAILED)
