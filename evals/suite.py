"""The suite file's model: strict pydantic classes that forbid unknown keys.

Key names follow the YAML: Runware parameters keep their camelCase wire names (``maxTokens``,
``deliveryMethod``) so a suite reads like the API docs; harness options are snake_case.
Range checks of Runware parameters are not here: they come from the model spec file
(``evals.model_spec``) so a new bound is a data edit. Locating errors (file, line, column) is the
loader's job (``evals.suite_loader``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from evals.model_spec import DEFAULT_MODEL

ProviderName = Literal["local", "runware", "openai", "sim"]
DeliveryMethod = Literal["sync", "async", "stream"]

# The Runware settings a suite may set (checked against the model spec for bounds).
RUNWARE_SETTINGS = (
    "systemPrompt",
    "temperature",
    "topP",
    "topK",
    "minP",
    "maxTokens",
    "frequencyPenalty",
    "presencePenalty",
    "repetitionPenalty",
    "stopSequences",
    "thinkingLevel",
)


# Largest seed Runware accepts (uint32).
MAX_SEED = 4294967295


class Strict(BaseModel):
    """Base of every suite class: unknown keys are errors and YAML types are taken as written.

    ``strict`` stops pydantic from quietly turning ``temperature: "0.7"`` or ``maxTokens: true`` into
    numbers: a suite that says a string where a number belongs is wrong, and should be told so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class Timeouts(Strict):
    connect: float = Field(10.0, gt=0, description="seconds to open a connection")
    read: float = Field(300.0, gt=0, description="seconds between bytes of an answer")
    task: float = Field(900.0, gt=0, description="deadline of one task over all its attempts")


class Retries(Strict):
    max_attempts: int = Field(5, ge=1, le=100)
    base_delay: float = Field(0.5, ge=0, description="seconds; exponential backoff with full jitter")
    max_delay: float = Field(30.0, ge=0)


class Polling(Strict):
    """Async delivery: getResponse pace (1 s growing x1.5 to 10 s, as Runware's SDKs do)."""

    initial: float = Field(1.0, gt=0)
    factor: float = Field(1.5, ge=1)
    max: float = Field(10.0, gt=0)
    deadline: float = Field(600.0, gt=0, description="give up and record an infrastructure error")


class Webhook(Strict):
    """Receive results by webhook: a receiver the harness starts, with a per-run secret in its URL."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    public_url: str | None = None  # what Runware should call, when it differs from host:port
    wait: float = Field(30.0, gt=0, description="seconds to wait for a delivery before polling instead")


class Target(Strict):
    provider: ProviderName = "local"
    model: str = DEFAULT_MODEL
    endpoint: str | None = None  # ${ENV_VAR} interpolation is allowed here only
    engine: Literal["smollm2", "sim"] | None = None  # for provider local/sim: which engine serves
    # llama.cpp threads of the embedded smollm2 engine. One by default: with other work on a 2-core
    # machine, two spin-waiting threads ran many times slower; on an idle machine two are ~45% faster.
    threads: int | None = Field(None, ge=1, le=256)
    sim: dict[str, Any] = Field(default_factory=dict)  # sim engine options (latency, faults), provider sim
    deliveryMethod: DeliveryMethod = "sync"
    includeUsage: bool = True
    includeCost: bool = True
    concurrency: int = Field(4, ge=1, le=4096, description="closed-loop maximum in-flight tasks")
    adaptive: bool = True  # lower concurrency on 429/503/504, grow back slowly
    rate: float | None = Field(None, gt=0, description="open-loop requests per second")
    arrival: Literal["constant", "poisson"] = "constant"
    warmup: int = Field(0, ge=0, description="tasks sent first and not counted")
    batch_size: int = Field(1, ge=1, le=100, description="tasks per POST")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retries: Retries = Field(default_factory=Retries)
    polling: Polling = Field(default_factory=Polling)
    webhook: Webhook = Field(default_factory=Webhook)
    max_error_rate: float = Field(0.2, ge=0, le=1, description="above this, the run could not complete")


class FieldMap(Strict):
    input: str = "input"
    target: str | None = "target"
    id: str | None = "id"
    metadata: list[str] = Field(default_factory=list)


class Filter(Strict):
    """Keep samples whose ``field`` compares with ``value``."""

    field: str
    op: Literal["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "contains"] = "eq"
    value: Any


class Dataset(Strict):
    # exactly one source
    samples: list[dict[str, Any]] | None = None
    file: str | None = None  # path relative to the suite file
    format: Literal["jsonl", "json", "csv", "parquet"] | None = None  # inferred from the extension
    hub: str | None = None  # Hugging Face dataset name
    config: str | None = None
    split: str = "test"
    revision: str | None = None
    generator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    fields: FieldMap = Field(default_factory=FieldMap)
    limit: int | None = Field(None, ge=1)
    shuffle: bool = False
    shuffle_seed: int | None = None
    filter: list[Filter] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> Dataset:
        given = [k for k in ("samples", "file", "hub", "generator") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a dataset needs exactly one source of samples, file, hub or generator"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class Message(Strict):
    role: Literal["user", "assistant"]
    content: str


class PromptVariant(Strict):
    system: str | None = None
    messages: list[Message] = Field(min_length=1)


class Prompt(Strict):
    """Messages with ``{field}`` placeholders filled from each sample; the last must be a user turn."""

    system: str | None = None
    messages: list[Message] = Field(default_factory=lambda: [Message(role="user", content="{input}")])
    variants: dict[str, PromptVariant] = Field(default_factory=dict)  # named variants for the grid


class Settings(Strict):
    """Defaults of every Runware setting and task option; None leaves the model's own default."""

    systemPrompt: str | None = None
    temperature: float | None = None
    topP: float | None = None
    topK: int | None = None
    minP: float | None = None
    maxTokens: int | None = None
    frequencyPenalty: float | None = None
    presencePenalty: float | None = None
    repetitionPenalty: float | None = None
    stopSequences: list[str] | None = None
    thinkingLevel: str | None = None
    numberResults: int = 1
    seed: int | None = None  # fixed seed for every task; None derives one per task


class Range(Strict):
    """``{from: 0.0, to: 1.2, step: 0.2}``: inclusive, snapped to the parameter's own step."""

    from_: float = Field(alias="from")
    to: float
    step: float = Field(gt=0)


def _axis_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict | Range):
        return "range"
    return None


# A grid axis is a list of values or a range; the discriminator keeps pydantic's errors to the one
# form the user meant instead of reporting a failure against every member of the union.
AxisValues = Annotated[
    Annotated[list[Any], Tag("list"), Field(min_length=1)] | Annotated[Range, Tag("range")],
    Discriminator(
        _axis_kind,
        custom_error_type="axis_values",
        custom_error_message="expected a list of values or a range {from, to, step}",
    ),
]


def _seeds_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "count"
    if isinstance(value, list):
        return "list"
    return None


SeedsSpec = Annotated[
    Annotated[int, Tag("count"), Field(ge=1, le=1_000_000)]
    | Annotated[list[Annotated[int, Field(ge=0, le=MAX_SEED)]], Tag("list"), Field(min_length=1)],
    Discriminator(
        _seeds_kind,
        custom_error_type="seeds",
        custom_error_message="expected a count of seeds (an integer >= 1) or a list of seeds",
    ),
]


class Rule(Strict):
    """A partial cell: axis name -> value. ``exclude`` drops matching cells, ``include`` adds one."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Grid(Strict):
    settings: dict[str, AxisValues] = Field(default_factory=dict)  # any Runware setting
    model: list[str] | None = None
    numberResults: list[int] | None = None
    deliveryMethod: list[DeliveryMethod] | None = None
    prompt: list[str] | None = None  # names of prompt variants
    zip: list[list[str]] = Field(default_factory=list)  # groups of axis names that vary together
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    include: list[dict[str, Any]] = Field(default_factory=list)


def scorer_ids(refs: list[ScorerRef]) -> list[str]:
    """How each scorer's scores are stored: its ``id``, else its name, a repeated name as ``name#2``...

    Gate metrics name scorers by these ids, so the loader checks them against this list.
    """
    seen: dict[str, int] = {}
    ids: list[str] = []
    for ref in refs:
        seen[ref.name] = seen.get(ref.name, 0) + 1
        count = seen[ref.name]
        ids.append(ref.id or (ref.name if count == 1 else f"{ref.name}#{count}"))
    return ids


class ScorerRef(Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # how its scores are stored; defaults to name
    # model_graded only: the judge's target, merged over the run's own target (so a bare
    # ``judge: {model: ...}`` keeps the run's provider). None judges with the run's target.
    judge: dict[str, Any] | None = None


# The metrics a gate may name besides the suite's scorer ids: ratios (new / base) of latency and
# cost, gated by how much they may grow (``max_increase``). The single list of them: the reports
# package gates exactly these, and the suite loader refuses any other name.
GATE_RATIO_METRICS: tuple[str, ...] = (
    "latency_p50",
    "latency_p95",
    "ttft_p50",
    "ttft_p95",
    "cost_per_task",
    "cost_per_correct",
)


class MetricGate(Strict):
    """One gated metric of the CI comparison."""

    metric: str  # a scorer id of the suite, or one of GATE_RATIO_METRICS
    max_drop: float | None = Field(None, ge=0)  # largest acceptable drop of a score
    relative: bool = False  # max_drop as a fraction of the baseline
    max_increase: float | None = Field(None, ge=0)  # cost/latency: largest acceptable relative growth
    confidence: float = Field(0.95, gt=0.5, lt=1)
    test: Literal["auto", "mcnemar", "bootstrap", "permutation"] = "auto"
    scorer: str | None = None  # cost_per_correct: which pass/fail scorer counts an answer as correct

    @model_validator(mode="after")
    def _one_tolerance(self) -> MetricGate:
        # A score is gated by how far it may drop, a cost or a latency by how much it may grow.
        if self.max_drop is not None and self.max_increase is not None:
            raise ValueError("give max_drop (scores) or max_increase (cost, latency), not both")
        return self


class Gate(Strict):
    metrics: list[MetricGate] = Field(default_factory=list)
    correction: Literal["none", "holm", "bh"] = "holm"
    max_error_rate: float = Field(0.05, ge=0, le=1)
    baseline: str | None = None  # path of a committed baseline file, relative to the suite


class Suite(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    extends: str | None = None  # handled by the loader before validation
    target: Target = Field(default_factory=Target)
    dataset: Dataset
    prompt: Prompt = Field(default_factory=Prompt)
    settings: Settings = Field(default_factory=Settings)
    grid: Grid = Field(default_factory=Grid)
    seed: int = Field(0, ge=0, le=MAX_SEED, description="suite seed from which every task seed is derived")
    seeds: SeedsSpec = Field(1, description="a count of seeds, or the seeds themselves")
    replicates: int = Field(1, ge=1, le=1000)
    scorers: list[ScorerRef] = Field(default_factory=list)
    gate: Gate | None = None
