"""Lazy expansion of a suite into cells and tasks.

    grid points ──► cells (deduplicated by id) ──► × samples × seeds × replicates ──► Task (yielded)

Nothing here holds the task list: ``iter_tasks`` is a generator, and the only things kept in memory
are the samples, their rendered prompts (one per sample and prompt template) and the set of cell ids
seen so far (for deduplication).

Seeds: with ``settings.seed`` fixed every task uses it. With ``seeds: [a, b]`` the tasks of seed
index ``k`` use exactly the k-th seed. With ``seeds: N`` (default 1) and ``replicates: R``, each
(cell, sample, seed index k < N, replicate r < R) is a task whose seed is derived from the suite seed
and identities (see ``evals.identity``). ``Task.replicate`` is the flat repeat index ``k * R + r``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evals.dataset import load_samples
from evals.errors import DatasetError, SuiteIssue
from evals.grid import DEFAULT_VARIANT, GridPlan, build_grid
from evals.identity import (
    TaskKeys,
    canonical_json,
    cell_id,
    core_id,
    normalise_settings,
    sample_digest,
    streaming_hash,
)
from evals.model_spec import DEFAULT_MODEL, ModelSpec, get_spec
from evals.prompt import RenderError, render_messages
from evals.records import IDENTITY_VERSION, Cell, Sample, Task
from evals.suite import RUNWARE_SETTINGS, ScorerRef, Suite

if TYPE_CHECKING:
    from evals.suite_loader import LoadedSuite


class TemplateDataError(DatasetError):
    """A prompt template that a sample cannot fill, located at the suite line that wrote it."""

    def __init__(self, issue: SuiteIssue):
        super().__init__(str(issue))
        self.issue = issue


@dataclass(frozen=True)
class CellPlan:
    """A cell plus what expansion needs to turn it into requests."""

    cell: Cell
    core: str
    messages: tuple[tuple[str, str], ...]  # (role, content template)
    system: str | None  # system prompt template
    fixed_seed: int | None
    spec: ModelSpec | None = field(compare=False)

    @property
    def template_key(self) -> str:
        return canonical_json({"messages": self.messages, "system": self.system})


def _variant(suite: Suite, name: str | None) -> tuple[list[tuple[str, str]], str | None]:
    prompt = suite.prompt
    if name is None or (name == DEFAULT_VARIANT and name not in prompt.variants):
        messages = prompt.messages
        system = prompt.system
    else:
        variant = prompt.variants[name]
        messages = variant.messages
        system = variant.system if variant.system is not None else prompt.system
    return [(m.role, m.content) for m in messages], system


def build_cell(suite: Suite, point: dict[str, Any], axis_names: list[str]) -> CellPlan:
    """The cell at ``point`` (axis name -> value); axes it does not name keep the suite's defaults."""
    settings: dict[str, Any] = {name: getattr(suite.settings, name) for name in RUNWARE_SETTINGS}
    model = point.get("model", suite.target.model)
    number_results = point.get("numberResults", suite.settings.numberResults)
    delivery = point.get("deliveryMethod", suite.target.deliveryMethod)
    variant = point.get("prompt", DEFAULT_VARIANT if "prompt" in axis_names else None)
    for name, value in point.items():
        if name.startswith("settings."):
            settings[name.removeprefix("settings.")] = value
    messages, system = _variant(suite, variant)
    # One system prompt: a prompt's own wins over settings.systemPrompt (the loader refuses both at once).
    if system is not None:
        settings["systemPrompt"] = system
    system = settings.pop("systemPrompt")
    spec = get_spec(model)
    normalised = normalise_settings(settings, spec)
    template_messages = [{"role": r, "content": c} for r, c in messages]
    fixed_seed = suite.settings.seed
    identity_settings = dict(normalised)
    if system is not None:
        identity_settings["systemPrompt"] = system
    core = core_id(model, template_messages, identity_settings, number_results, fixed_seed)
    axes = {
        name: point.get(name, _actual(name, model, number_results, delivery, variant, normalised, system))
        for name in axis_names
    }
    axes.update({k: v for k, v in point.items() if k not in axes})
    cell = Cell(
        id=cell_id(core, delivery),
        axes=axes,
        model=model,
        settings={**normalised, **({"systemPrompt": system} if system is not None else {})},
        number_results=number_results,
        delivery_method=delivery,
        prompt_variant=variant,
    )
    return CellPlan(cell, core, tuple(messages), system, fixed_seed, spec)


def _actual(
    name: str,
    model: str,
    number_results: int,
    delivery: str,
    variant: str | None,
    settings: dict[str, Any],
    system: str | None,
) -> Any:
    if name == "model":
        return model
    if name == "numberResults":
        return number_results
    if name == "deliveryMethod":
        return delivery
    if name == "prompt":
        return variant
    setting = name.removeprefix("settings.")
    return system if setting == "systemPrompt" else settings.get(setting)


def template_path(suite: Suite, plan: CellPlan, part: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The key path in the suite of the template ``part`` (``("messages", 0, "content")`` or
    ``("system",)``) that ``plan`` renders: the variant's own, else the top prompt's, and for the
    system prompt, failing both, the setting it came from."""
    variant = plan.cell.prompt_variant
    variants = suite.prompt.variants
    own = variants.get(variant) if variant is not None else None
    if part[:1] != ("system",):
        return ("prompt", "variants", str(variant), *part) if own is not None else ("prompt", *part)
    if own is not None and own.system is not None:
        return ("prompt", "variants", str(variant), "system")
    if suite.prompt.system is not None:
        return ("prompt", "system")
    axis = suite.grid.settings.get("systemPrompt")
    if isinstance(axis, list) and plan.system in axis:
        return ("grid", "settings", "systemPrompt", axis.index(plan.system))
    return ("settings", "systemPrompt")


def grid_of(loaded: LoadedSuite) -> GridPlan:
    """The grid of a loaded (hence valid) suite."""
    spec = get_spec(loaded.suite.target.model) or get_spec(DEFAULT_MODEL)
    grid, _issues, _warnings = build_grid(loaded.suite, spec)
    return grid


def iter_cell_plans(loaded: LoadedSuite) -> Iterator[CellPlan]:
    """Every distinct cell of the suite, lazily, in grid order; identical cells are yielded once."""
    grid = grid_of(loaded)
    names = grid.axis_names
    seen: set[str] = set()
    for point, _included in grid.points():
        plan = build_cell(loaded.suite, point, names)
        if plan.cell.id in seen:
            continue
        seen.add(plan.cell.id)
        yield plan


def iter_cells(loaded: LoadedSuite) -> Iterator[Cell]:
    """Every distinct cell of the suite, lazily."""
    for plan in iter_cell_plans(loaded):
        yield plan.cell


def seed_plan(suite: Suite) -> tuple[int, list[int] | None]:
    """(number of seed indices, the explicit seeds or None when seeds are derived)."""
    if isinstance(suite.seeds, list):
        return len(suite.seeds), list(suite.seeds)
    return suite.seeds, None


class Expander:
    """Samples and rendered prompts of one suite, shared by task expansion and the plan."""

    def __init__(self, loaded: LoadedSuite, *, limit_samples: int | None = None):
        self.loaded = loaded
        samples = load_samples(loaded.suite.dataset, loaded.base_dir)
        if limit_samples is not None:
            if limit_samples < 1:
                raise DatasetError(f"limit_samples must be at least 1, got {limit_samples}")
            samples = samples[:limit_samples]
        self.samples: list[Sample] = samples
        self.digests = [sample_digest(s.fields, s.input, s.target) for s in samples]
        self._rendered: dict[str, list[tuple[list[dict[str, str]], str | None]]] = {}

    def rendered(self, plan: CellPlan) -> list[tuple[list[dict[str, str]], str | None]]:
        """(messages, system prompt) of every sample under ``plan``'s template; cached per template."""
        key = plan.template_key
        cached = self._rendered.get(key)
        if cached is None:
            templates = [{"role": r, "content": c} for r, c in plan.messages]
            try:
                cached = [render_messages(templates, plan.system, s) for s in self.samples]
            except RenderError as exc:
                raise self._located(plan, exc.part, exc.detail) from None
            system_param = plan.spec.settings.get("systemPrompt") if plan.spec is not None else None
            if system_param is not None:
                for sample, (_messages, system) in zip(self.samples, cached, strict=True):
                    if system is not None and (reason := system_param.check(system)) is not None:
                        raise self._located(plan, ("system",), f"rendered for sample {sample.id!r}: {reason}")
            self._rendered[key] = cached
        return cached

    def _located(self, plan: CellPlan, part: tuple[str | int, ...], detail: str) -> TemplateDataError:
        return TemplateDataError(self.loaded.issue(template_path(self.loaded.suite, plan, part), detail))

    def tasks(self) -> Iterator[Task]:
        """Every task, lazily. Every prompt template is rendered for every sample before the first
        task is yielded, so a missing placeholder stops the run before any request is sent."""
        for plan in iter_cell_plans(self.loaded):
            self.rendered(plan)
        suite = self.loaded.suite
        n_seeds, explicit = seed_plan(suite)
        replicates = suite.replicates
        target = suite.target
        for plan in iter_cell_plans(self.loaded):
            cell = plan.cell
            rendered = self.rendered(plan)
            base_settings = {k: v for k, v in cell.settings.items() if k != "systemPrompt"}
            for sample, digest, (messages, system) in zip(self.samples, self.digests, rendered, strict=True):
                settings = dict(base_settings)
                if system is not None:
                    settings["systemPrompt"] = system
                keys = TaskKeys(suite.seed, plan.core, cell.id, sample.id, digest)
                for k in range(n_seeds):
                    for r in range(replicates):
                        if plan.fixed_seed is not None:
                            seed = plan.fixed_seed
                        elif explicit is not None:
                            seed = explicit[k]
                        else:
                            seed = keys.seed(k, r)
                        request = {
                            "taskType": "textInference",
                            "model": cell.model,
                            "deliveryMethod": cell.delivery_method,
                            "numberResults": cell.number_results,
                            "includeCost": target.includeCost,
                            "includeUsage": target.includeUsage,
                            "seed": seed,
                            # Fresh containers per task: a consumer that edits one request (adds its
                            # taskUUID, say) must not change another's.
                            "messages": [dict(m) for m in messages],
                            "settings": dict(settings),
                        }
                        yield Task(
                            id=keys.task_id(k, r),
                            cell_id=cell.id,
                            sample_id=sample.id,
                            replicate=k * replicates + r,
                            seed=seed,
                            request=request,
                            sample=sample,
                        )


def iter_tasks(loaded: LoadedSuite, *, limit_samples: int | None = None) -> Iterator[Task]:
    """Every task of the suite, lazily: cells in grid order, then samples, seeds and replicates.

    Raises DatasetError when called if the samples cannot be loaded, and at the first ``next()``
    (before any task is yielded) if a prompt placeholder is missing from a sample.
    """
    return Expander(loaded, limit_samples=limit_samples).tasks()


# The fields ScorerRef had when suite hashes were introduced (version 1): always hashed, unset or
# not, because that is how every stored suite hash and committed baseline was computed.
_SCORER_FIELDS_V1 = ("name", "params", "id", "judge")


def scorer_identity(ref: ScorerRef) -> dict[str, Any]:
    """What of a scorer entry the suite hash covers.

    A field added to ``ScorerRef`` later counts only when set to something other than its default,
    so adding an optional field does not change the hash of any suite that does not use it (and
    does not invalidate committed baselines).
    """
    full = ref.model_dump()
    identity = {name: full[name] for name in _SCORER_FIELDS_V1}
    for name, value in ref.model_dump(exclude_defaults=True).items():
        identity.setdefault(name, value)
    return identity


def suite_hash(loaded: LoadedSuite) -> str:
    """``s1-<hex>``: equal for two suites exactly when they expand to the same tasks and scorers.

    Tasks are the product of cells, samples, seeds and replicates, so hashing those factors (cell ids
    sorted, sample ids with content digests sorted, seeds, replicates, suite seed) identifies the set
    of task identities without walking every task.
    """
    suite = loaded.suite
    expander = Expander(loaded)
    h = streaming_hash()
    h.update(f"suite-hash|v{IDENTITY_VERSION}|seed={suite.seed}|replicates={suite.replicates}|".encode())
    h.update(
        canonical_json(
            {"seeds": suite.seeds, "scorers": [scorer_identity(s) for s in suite.scorers]}
        ).encode()
    )
    for cid in sorted(c.id for c in iter_cells(loaded)):
        h.update(f"|cell={cid}".encode())
    for sid, digest in sorted(zip((s.id for s in expander.samples), expander.digests, strict=True)):
        h.update(f"|sample={canonical_json(sid)}:{digest}".encode())
    return f"s{IDENTITY_VERSION}-{h.hexdigest()}"
