"""An in-process provider for runner tests that need exact control over answers and failures.

Tests that exercise the real wire go through the sim server; this fake isolates the runner's own
logic (retries, limits, budget, cancellation) from HTTP timing so assertions can be exact.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio

from evals.records import ApiError, Attempt, ErrorClass, Generation, Task, Usage

ErrorRule = Callable[[Task, str, int, int], ApiError | None]
"""(task, task_uuid, attempt number, current in-flight count) -> an error to answer, or None."""


def throttled(status: int = 429) -> ApiError:
    return ApiError(ErrorClass.THROTTLED, "tooManyRequests", "queue full", http_status=status)


class FakeProvider:
    """Answers each task with its prompt reversed; optional latency, capacity and scripted errors."""

    name = "fake"
    endpoint = "fake://local"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        capacity: int | None = None,
        rule: ErrorRule | None = None,
        cost: float | None = 0.001,
        fail_first_uuid: bool = False,
    ) -> None:
        self.latency = latency
        self.capacity = capacity
        self.rule = rule
        self.cost = cost
        self.requests: Counter[str] = Counter()  # per taskUUID
        self.fetches: Counter[str] = Counter()
        self.answered: set[str] = set()  # task UUIDs that got a successful answer
        self.in_flight = 0
        self.max_in_flight = 0
        # fail_first_uuid: the server keeps each task's first UUID as a failed task for good; a send
        # under it answers as the Runware provider does after polling it (conflictTaskUUIDFailed).
        self.fail_first_uuid = fail_first_uuid
        self.first_uuid: dict[str, str] = {}  # task id -> first UUID seen

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def _answer(self, task: Task, task_uuid: str, number: int) -> Attempt:
        text = str(task.request["messages"][-1]["content"])[::-1]
        n = int(task.request.get("numberResults", 1))
        usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15, thinking_tokens=0)
        gens = [
            Generation(
                index=i,
                text=f"{text}#{i}",
                finish_reason="stop",
                seed=task.seed + i,
                usage=usage,
                cost=None if self.cost is None else self.cost / n,
                cost_source="provider",
            )
            for i in range(n)
        ]
        self.answered.add(task_uuid)
        return Attempt(
            task.id, task_uuid, number, http_status=200, generations=gens, usage=usage, cost=self.cost
        )

    async def send(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        self.requests[task_uuid] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        sent = time.perf_counter()
        first = self.first_uuid.setdefault(task.id, task_uuid)
        try:
            if self.fail_first_uuid and task_uuid == first:
                await anyio.lowlevel.checkpoint()
                failed = ApiError(
                    ErrorClass.TRANSIENT, "conflictTaskUUIDFailed", "the server keeps this UUID as failed"
                )
                result = Attempt(task.id, task_uuid, attempt, http_status=200, error=failed)
                result.notes["rotate_uuid"] = True
                result.timing.sent = sent
                result.timing.done = time.perf_counter()
                return result
            if self.capacity is not None and self.in_flight > self.capacity:
                error: ApiError | None = throttled()
            else:
                error = self.rule(task, task_uuid, attempt, self.in_flight) if self.rule else None
            if self.latency:
                await anyio.sleep(self.latency)
            else:
                await anyio.lowlevel.checkpoint()
            if error is not None:
                result = Attempt(task.id, task_uuid, attempt, http_status=error.http_status, error=error)
            else:
                result = self._answer(task, task_uuid, attempt)
            result.timing.sent = sent
            result.timing.done = time.perf_counter()
            return result
        finally:
            self.in_flight -= 1

    async def fetch(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        self.fetches[task_uuid] += 1
        await anyio.lowlevel.checkpoint()
        return self._answer(task, task_uuid, attempt)


def write_suite(
    directory: Path,
    *,
    samples: int = 10,
    temperatures: tuple[float, ...] = (0.0, 0.5),
    replicates: int = 1,
    extra: str = "",
    name: str = "fake-suite",
) -> Path:
    """A small inline-sample suite file; ``extra`` is appended YAML (e.g. a target block)."""
    lines = [f"name: {name}", "dataset:", "  samples:"]
    lines += [
        f"    - {{id: s{i}, input: 'question {i} [[answer:{i}]]', target: '{i}'}}" for i in range(samples)
    ]
    temps = ", ".join(str(t) for t in temperatures)
    lines += ["grid:", "  settings:", f"    temperature: [{temps}]", f"replicates: {replicates}"]
    path = directory / "suite.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path
