"""The records that flow through the pipeline: what expansion yields, what a provider returns.

    Sample ──► Task (one complete Runware textInference request, minus its taskUUID)
                 │ provider.send(Call)
                 ▼
               Attempt ──► Generation × numberResults   (stored by the runner, scored later)

These are plain dataclasses with no behaviour beyond (de)serialisation so that ``runners`` and
``reports`` can share them without importing each other. Unknown is ``None``, never 0: a cost
nobody reported is not free, a missing token count is not zero tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

IDENTITY_VERSION = 1
"""Bumped whenever the hashing of cells or tasks changes, so old identities never collide with new."""


@dataclass(frozen=True)
class Sample:
    """One dataset row after field mapping."""

    id: str
    input: Any
    target: Any | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # every raw field, for {placeholders} and scorers


@dataclass(frozen=True)
class Cell:
    """One point of the settings grid. ``id`` hashes everything that changes the output."""

    id: str
    axes: dict[str, Any]  # axis name -> value at this point, for reports ("settings.temperature": 0.2)
    model: str
    settings: dict[str, Any]  # Runware settings, camelCase, defaults of the suite applied
    number_results: int
    delivery_method: str
    prompt_variant: str | None = None


@dataclass(frozen=True)
class Task:
    """One request to send: a cell applied to a sample, one replicate.

    ``request`` is a complete, validated Runware ``textInference`` task object without ``taskUUID``
    (the runner assigns one per task and keeps it across retries so a ``conflictTaskUUID`` answer can
    be resolved by polling rather than paying twice).
    """

    id: str  # stable hash of (cell id, sample id, replicate), versioned
    cell_id: str
    sample_id: str
    replicate: int
    seed: int
    request: dict[str, Any]
    sample: Sample


class ErrorClass(StrEnum):
    """How an API failure is handled (see the error table of the Runware protocol)."""

    PERMANENT = "permanent"  # 400 and friends: record, never retry
    FATAL = "fatal"  # 401, 402, 403: stop the whole run
    TRANSIENT = "transient"  # 408, 429, 5xx, resets, timeouts, malformed bodies: retry with backoff
    THROTTLED = "throttled"  # the transient subset that should also lower concurrency (429, 503, 504)
    CONFLICT = "conflict"  # conflictTaskUUID: poll the earlier task instead of sending again


@dataclass
class ApiError:
    """A classified failure of one attempt. ``message`` never contains the API key."""

    error_class: ErrorClass
    code: str  # Runware error code, or a harness code such as "connectionReset", "readTimeout"
    message: str
    http_status: int | None = None
    parameter: str | None = None
    retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def retryable(self) -> bool:
        return self.error_class in (ErrorClass.TRANSIENT, ErrorClass.THROTTLED)


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    thinking_tokens: int | None = None


@dataclass
class Generation:
    """One result of a task (a task with numberResults=N has N)."""

    index: int
    text: str
    reasoning: str | None = None  # reasoningContent, kept apart and never scored as the answer
    finish_reason: str | None = None  # stop | length | content_filter | unknown
    seed: int | None = None
    usage: Usage | None = None
    cost: float | None = None  # USD as reported (or priced from the spec when the provider gives none)
    cost_source: str | None = None  # "provider" | "price_table" | None when unknown


@dataclass
class Timing:
    """Monotonic timestamps (``time.perf_counter()`` seconds) of one attempt; None when not reached."""

    queued: float | None = None
    sent: float | None = None
    headers: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    done: float | None = None
    # Arrival time of every stream event, stamped when its bytes arrive and before JSON parsing.
    events: list[float] = field(default_factory=list)
    # Arrival times of the events that carried non-empty text or reasoning (token-bearing events).
    token_events: list[float] = field(default_factory=list)


@dataclass
class Attempt:
    """Everything one try of one task produced: results or a classified error, and its timing."""

    task_id: str
    task_uuid: str
    number: int  # 1-based attempt number
    http_status: int | None = None
    error: ApiError | None = None
    generations: list[Generation] = field(default_factory=list)
    usage: Usage | None = None  # summed over generations when the provider reports per result
    cost: float | None = None  # USD for the whole task
    timing: Timing = field(default_factory=Timing)
    # Settings the server was sent but is not known to honour (OpenAI-compatible servers), and
    # anything else provider-specific worth keeping with the attempt.
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
