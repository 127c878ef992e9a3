"""What the runner asks of a provider client.

A provider turns one ``Task`` into one ``Attempt``. It never raises for an API failure: a failure is
classified where it enters (HTTP status, Runware error code, connection error) and returned as
``Attempt.error`` so the runner can decide to retry, stop or record. It does raise on cancellation
(anyio's cancel scopes must keep working) and on programming errors.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from evals.records import Attempt, Task


@runtime_checkable
class Provider(Protocol):
    name: str  # "runware" | "openai" | "local" | "sim"
    endpoint: str  # where requests go (no credentials in it)

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def send(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Send ``task`` under ``task_uuid`` (kept across retries) and wait for all its results."""
        ...

    async def fetch(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Fetch the result of a task already sent (after ``conflictTaskUUID``) without sending it again."""
        ...
