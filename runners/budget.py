"""Budgets: stop dispatching before a run could spend more than ``--max-cost`` or send ``--max-tasks``.

Before each dispatch the runner asks whether the money already spent, plus the worst case of every
task in flight, plus the worst case of the next task, stays within the limit. A task's worst case is
priced from the model spec: every prompt character counted as a token (a tokenizer never produces
more tokens than characters for ordinary text) and ``maxTokens`` (else the context length) output
tokens for each of ``numberResults``. A task whose price is unknown has an unknown worst case: it is
let through and counted with what the provider reports, and the run warns once that the budget is
only as good as the reported costs.

A request that reached the server but whose cost never came back (a connection reset after the
answer was generated, a read timeout, the task deadline) may well have been paid: such a task keeps
its worst case counted as spent instead of counting as free. The money limit covers the run's whole
life: a resume starts from what the earlier sessions spent (``RunStore.spent_so_far``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.model_spec import ModelSpec, get_spec
from evals.records import Task


def prompt_chars(request: dict[str, Any]) -> int:
    """Characters the model reads for ``request``: system prompt and every message."""
    chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    system = (request.get("settings") or {}).get("systemPrompt")
    return chars + (len(system) if isinstance(system, str) else 0)


def worst_case_cost(task: Task, spec: ModelSpec | None = None) -> float | None:
    """Upper bound in USD of what ``task`` can cost, or None when its model has no known price."""
    return request_worst_case(task.request, spec)


def request_worst_case(request: dict[str, Any], spec: ModelSpec | None = None) -> float | None:
    """``worst_case_cost`` of a stored request (a Runware task object)."""
    spec = spec if spec is not None else get_spec(str(request.get("model", "")))
    if spec is None or spec.price is None:
        return None
    settings = request.get("settings") or {}
    max_tokens = settings.get("maxTokens") or spec.context_tokens
    if max_tokens is None:
        return None
    n = int(request.get("numberResults") or 1)
    # Every result reads the prompt once and may write max_tokens (thinking tokens bill as output).
    return spec.price.cost(prompt_chars(request) * n, int(max_tokens) * n)


@dataclass
class Budget:
    """Money and task limits of one run; ``None`` means no limit."""

    max_cost: float | None = None
    max_tasks: int | None = None
    spent: float = 0.0  # reported costs, plus the worst case of tasks whose cost never came back
    dispatched: int = 0
    unknown_cost_tasks: int = 0  # admitted without a known price (no worst case to reserve)
    unreported_tasks: int = 0  # settled as possibly paid with no cost reported
    unreported_worst: float = 0.0  # the worst cases counted for them
    unreported_unpriced: int = 0  # of those, tasks without a price: counted as nothing
    _reserved: dict[str, float] = field(default_factory=dict)

    @property
    def reserved(self) -> float:
        """Worst case of the tasks in flight."""
        return sum(self._reserved.values())

    def admit(self, task_id: str, worst_case: float | None, *, counts: bool = True) -> str | None:
        """Reserve room for one task; None when admitted, else why the budget stops the run.

        ``counts=False`` (warm-up tasks) spends money but not a place under ``max_tasks``.
        """
        if counts and self.max_tasks is not None and self.dispatched >= self.max_tasks:
            return f"--max-tasks {self.max_tasks} reached"
        if (
            self.max_cost is not None
            and worst_case is not None
            and self.spent + self.reserved + worst_case > self.max_cost
        ):
            return (
                f"--max-cost {self.max_cost:g} USD: spent {self.spent:.6f} + in flight up to "
                f"{self.reserved:.6f} + next task up to {worst_case:.6f} would pass it"
            )
        if worst_case is None:
            self.unknown_cost_tasks += 1
        else:
            self._reserved[task_id] = worst_case
        if counts:
            self.dispatched += 1
        return None

    def settle(self, task_id: str, spent: float | None, *, unknown: bool = False) -> None:
        """Release a task's reservation and count what it cost.

        ``spent`` is the reported cost (None: not reported). ``unknown`` says a request of the task
        may have been paid without a reported cost: its reserved worst case is then counted as spent.
        """
        worst = self._reserved.pop(task_id, None)
        if spent is not None:
            self.spent += spent
        elif unknown:
            self.unreported_tasks += 1
            if worst is None:
                self.unreported_unpriced += 1
            else:
                self.spent += worst
                self.unreported_worst += worst
