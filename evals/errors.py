"""The harness's exception tree and exit codes.

    EvalsError                      every error the harness raises on purpose
    ├── SuiteError                  a suite file is wrong (carries located SuiteIssue items) -> exit 2
    ├── ConfigError                 bad CLI usage or configuration                           -> exit 2
    ├── DatasetError                samples cannot be loaded or rendered                     -> exit 2
    ├── StoreError                  the run database is unusable or incompatible            -> exit 2
    ├── ResumeMismatch              a resumed run's suite changes its tasks                  -> exit 2
    ├── RunFailed                   the run could not complete (fatal API error, errors)     -> exit 3
    ├── BudgetReached               --max-cost / --max-tasks stopped the run                 -> exit 4
    └── GateFailed                  a regression gate failed                                  -> exit 1

Foreign exceptions (httpx, sqlite3, yaml) are translated where they enter the harness, so the CLI
only ever turns an ``EvalsError`` into a one-line message and its exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes, the same for every command."""

    OK = 0
    GATE_FAILED = 1
    CONFIG = 2
    RUN_FAILED = 3
    BUDGET = 4
    INTERRUPTED = 130


class EvalsError(Exception):
    """Base of every error the harness raises deliberately."""

    exit_code: ExitCode = ExitCode.CONFIG


@dataclass(frozen=True)
class SuiteIssue:
    """One located problem in a suite file."""

    file: str
    line: int | None
    column: int | None
    path: str  # key path, e.g. "grid.settings.temperature[3]"
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class SuiteError(EvalsError):
    """A suite file is invalid. ``issues`` lists every problem found, not only the first."""

    def __init__(self, issues: list[SuiteIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid suite")


class ConfigError(EvalsError):
    """Wrong usage or configuration outside a suite file."""


class DatasetError(EvalsError):
    """Samples cannot be loaded, filtered or rendered into prompts."""


class StoreError(EvalsError):
    """The run database is missing, corrupt or from an incompatible schema."""


class ResumeMismatch(EvalsError):
    """A resume was asked for, but the suite now expands to different tasks."""


class RunFailed(EvalsError):
    """The run could not complete: a fatal API error or too many infrastructure errors."""

    exit_code = ExitCode.RUN_FAILED


class BudgetReached(EvalsError):
    """A cost or task budget stopped the run."""

    exit_code = ExitCode.BUDGET


class GateFailed(EvalsError):
    """A regression gate failed."""

    exit_code = ExitCode.GATE_FAILED
