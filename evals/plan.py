"""What a suite would do, without doing it: axes, counts, token and cost estimates. No network.

Counts come from the factors (cells x samples x seeds x replicates), never from walking tasks, so a
plan of a million tasks takes as long as rendering each sample's prompt once per prompt template.

Estimates:

- input tokens: rendered characters (messages + system prompt) / 4, rounded up per task. A rough
  heuristic, not a tokenizer: real counts differ by tens of percent, more for code and non-English.
  The prompt is counted once per task, whatever its numberResults.
- output tokens: at least 1 per result; at most ``maxTokens`` per result (thinking tokens included,
  as they are billed as output). With ``maxTokens`` unset the maximum is unbounded; the plan then
  also gives the bound set by the context length (context minus the prompt).
- cost: the model spec's price per million input and output tokens applied to those bounds. A model
  without a price gives ``None`` (unknown, not free).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from evals.dataset import source_label
from evals.expand import Expander, grid_of, iter_cell_plans, seed_plan
from evals.suite_loader import LoadedSuite

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class PlanAxis:
    name: str
    values: list[Any]


@dataclass
class Plan:
    """Counts and estimates of one suite."""

    suite: str
    path: str
    provider: str
    models: list[str]
    dataset: str
    axes: list[PlanAxis]
    zip: list[list[str]]
    exclude_rules: int
    include_rules: int
    cells: int
    samples: int
    seeds: int
    replicates: int
    tasks: int
    requests: int  # one request per task (attempts = 1; retries are not planned)
    results: int  # tasks x numberResults
    input_tokens: int
    output_tokens_min: int
    output_tokens_max: int | None  # None: some cell has no maxTokens (unbounded)
    output_tokens_max_context: int | None  # the bound the context length sets; None if it is unknown
    cost_min_usd: float | None
    cost_max_usd: float | None
    cost_max_context_usd: float | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``evals plan --json``)."""
        return asdict(self)


def estimate_tokens(text: str) -> int:
    """Characters / 4, rounded up: the plan's stated heuristic."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _add(total: float | None, part: float | None) -> float | None:
    return None if total is None or part is None else total + part


def make_plan(loaded: LoadedSuite) -> Plan:
    """Count and estimate ``loaded`` without any network call. Raises DatasetError for bad samples."""
    suite = loaded.suite
    grid = grid_of(loaded)
    expander = Expander(loaded)
    n_samples = len(expander.samples)
    n_seeds, _explicit = seed_plan(suite)
    repeats = n_seeds * suite.replicates

    # Per prompt template: summed prompt tokens over samples, and summed room left in the context.
    template_tokens: dict[str, list[int]] = {}
    cells = tasks = results = input_tokens = out_min = 0
    out_max: int | None = 0
    out_ctx: int | None = 0
    cost_min: float | None = 0.0
    cost_max: float | None = 0.0
    cost_ctx: float | None = 0.0
    models: list[str] = []
    unpriced: set[str] = set()
    unbounded = False
    for plan in iter_cell_plans(loaded):
        cell = plan.cell
        cells += 1
        if cell.model not in models:
            models.append(cell.model)
        key = plan.template_key
        per_sample = template_tokens.get(key)
        if per_sample is None:
            per_sample = [
                estimate_tokens("".join(m["content"] for m in messages) + (system or ""))
                for messages, system in expander.rendered(plan)
            ]
            template_tokens[key] = per_sample
        cell_tasks = n_samples * repeats
        cell_results = cell_tasks * cell.number_results
        cell_input = sum(per_sample) * repeats
        tasks += cell_tasks
        results += cell_results
        input_tokens += cell_input
        out_min += cell_results

        max_tokens = cell.settings.get("maxTokens")
        cell_max: int | None = cell_results * max_tokens if max_tokens is not None else None
        if cell_max is None:
            unbounded = True
        out_max = None if out_max is None or cell_max is None else out_max + cell_max
        context = plan.spec.context_tokens if plan.spec is not None else None
        cell_ctx: int | None = None
        if context is not None:
            room = sum(max(0, context - t) for t in per_sample) * repeats * cell.number_results
            cell_ctx = room if max_tokens is None else min(room, cell_max or 0)
        out_ctx = None if out_ctx is None or cell_ctx is None else out_ctx + cell_ctx

        price = plan.spec.price if plan.spec is not None else None
        if price is None:
            unpriced.add(cell.model)
            cost_min = cost_max = cost_ctx = None
            continue
        cost_min = _add(cost_min, price.cost(cell_input, cell_results))
        cost_max = _add(cost_max, price.cost(cell_input, cell_max))
        cost_ctx = _add(cost_ctx, price.cost(cell_input, cell_ctx))

    notes = [
        f"input tokens are estimated as characters / {CHARS_PER_TOKEN} of the rendered prompt"
        " (a heuristic, not a tokenizer), counted once per task",
        "output tokens: at least 1 per result, at most maxTokens per result (thinking tokens included)",
    ]
    if unbounded:
        notes.append(
            "maxTokens is unset for some cells: the maximum output is unbounded;"
            " output_tokens_max_context is the bound the model's context length sets"
        )
    if unpriced:
        notes.append(f"no price in the model spec for {', '.join(sorted(unpriced))}: cost is unknown")
    return Plan(
        suite=suite.name,
        path=str(loaded.path),
        provider=suite.target.provider,
        models=models,
        dataset=source_label(suite.dataset),
        axes=[PlanAxis(a.name, list(a.values)) for a in grid.axes],
        zip=[list(group) for group in grid.factors if len(group) > 1],
        exclude_rules=len(grid.exclude),
        include_rules=len(grid.include),
        cells=cells,
        samples=n_samples,
        seeds=n_seeds,
        replicates=suite.replicates,
        tasks=tasks,
        requests=tasks,
        results=results,
        input_tokens=input_tokens,
        output_tokens_min=out_min,
        output_tokens_max=out_max,
        output_tokens_max_context=out_ctx,
        cost_min_usd=cost_min,
        cost_max_usd=cost_max,
        cost_max_context_usd=cost_ctx,
        notes=notes,
        warnings=list(loaded.warnings),
    )
