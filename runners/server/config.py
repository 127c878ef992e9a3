"""Configuration of the local Runware-compatible server and of its simulator engine.

Both are plain dataclasses so a suite's ``target.sim`` mapping, a CLI flag or a test can build them.
``SimOptions.from_value`` refuses unknown keys (naming them) rather than silently ignoring a typo.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from evals.errors import ConfigError
from evals.model_spec import DEFAULT_MODEL

EngineName = Literal["smollm2", "sim"]

FAULT_KINDS = (
    "http_429",
    "http_500",
    "http_503",
    "http_504",
    "drop",
    "stall",
    "malformed_json",
    "midstream_error",
    "no_done",
    "duplicate_webhook",
)
"""Every fault the simulator can inject, in the order the fault draw walks them."""


@dataclass(frozen=True)
class SimOptions:
    """Options of the ``sim`` engine: answers, latency and fault injection, all seeded.

    Answers: when the last user message contains ``[[answer:XYZ]]`` the sim answers ``XYZ`` with
    probability ``correct_probability(settings)``, else a wrong answer; without a marker it writes
    filler text derived from the prompt and the seed.
    """

    seed: int = 0
    """Seed of the latency draws, mixed with each result's own seed."""
    zero_latency: bool = False
    """Answer at once (no time to first token, no per-token delay): for overhead benchmarks."""
    ttft_mean: float = 0.05
    """Mean time to first token, seconds."""
    ttft_jitter: float = 0.02
    """Half-width of the uniform jitter around ``ttft_mean``, seconds."""
    tokens_per_s: float = 400.0
    """Mean decoding speed; each inter-token gap is drawn from an exponential with this rate."""
    output_tokens: int = 24
    """Length of a filler answer (before ``maxTokens`` caps it); a marked answer is shorter."""
    base_accuracy: float = 0.95
    """Probability of the right answer at temperature 0 and topP 0 (before the slopes below)."""
    temperature_slope: float = 0.3
    """Accuracy lost per unit of temperature."""
    top_p_slope: float = 0.1
    """Accuracy lost per unit of topP: small, because topP matters less than temperature."""
    min_accuracy: float = 0.05
    """Floor of the accuracy model."""
    fault_seed: int = 0
    """Seed of the fault draws: a fault is a pure function of (fault_seed, taskUUID, attempt number)."""
    faults: dict[str, float] = field(default_factory=dict)
    """Rate per fault kind (see ``FAULT_KINDS``); rates must sum to at most 1."""
    stall_seconds: float = 30.0
    """How long a ``stall`` fault holds the answer (longer than a client's read timeout)."""
    capacity: int | None = None
    """At most this many tasks in flight; beyond it the server answers 429 (a capacity fault)."""
    report_send_time: bool = False
    """Stream events carry ``simSentAt``: ``time.monotonic()`` when the server wrote the event."""
    oracle: bool = True
    """Read by the ``sim`` provider (client side): mark each prompt with its sample's known answer."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "faults":
                ok = isinstance(value, dict) and all(
                    isinstance(r, int | float) and not isinstance(r, bool) for r in value.values()
                )
            elif f.name == "capacity":
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            elif isinstance(f.default, bool):
                ok = isinstance(value, bool)
            elif isinstance(f.default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:  # a float option also takes an integer
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise ConfigError(f"sim.{f.name}: {value!r} has the wrong type")
        unknown = sorted(set(self.faults) - set(FAULT_KINDS))
        if unknown:
            raise ConfigError(f"sim.faults: unknown fault kind(s) {unknown}; known: {list(FAULT_KINDS)}")
        if any(not 0 <= r <= 1 for r in self.faults.values()):
            raise ConfigError("sim.faults: every rate must be between 0 and 1")
        if sum(self.faults.values()) > 1 + 1e-9:
            raise ConfigError("sim.faults: the rates add up to more than 1")
        if self.tokens_per_s <= 0:
            raise ConfigError("sim.tokens_per_s must be positive")
        if self.capacity is not None and self.capacity < 1:
            raise ConfigError("sim.capacity must be at least 1")

    @classmethod
    def from_value(cls, value: SimOptions | dict[str, Any] | None) -> SimOptions:
        """Build options from a suite's ``target.sim`` mapping (unknown keys are refused)."""
        if value is None:
            return cls()
        if isinstance(value, SimOptions):
            return value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(f"sim: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**value)

    def correct_probability(self, settings: dict[str, Any]) -> float:
        """Chance of answering a marked sample right under ``settings`` (falls with temperature)."""
        temperature = float(settings.get("temperature", 0.6))
        top_p = float(settings.get("topP", 0.95))
        p = self.base_accuracy - self.temperature_slope * temperature - self.top_p_slope * top_p
        return min(1.0, max(self.min_accuracy, p))


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``evals serve`` and ``serve_in_background`` need. Binds loopback by default."""

    engine: EngineName = "sim"
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free ephemeral port."""
    api_key: str | None = None
    """When set, every request must carry ``Authorization: Bearer <key>`` (else 401 invalidApiKey)."""
    model_alias: str = DEFAULT_MODEL
    """The model id the server answers to; its spec file gives the bounds and the reference price."""
    queue_size: int = 64
    """Tasks admitted (running or waiting for the engine) before the server answers 429."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger request bodies are refused with 413."""
    max_tasks_per_post: int = 1000
    """A ``POST /v1`` carrying more tasks than this is refused whole with 400 ``tooManyTasks``."""
    sim: SimOptions | dict[str, Any] | None = None
    webhook_retries: int = 4
    """Attempts after the first to deliver one webhook POST on a non-2xx answer or a network error."""
    webhook_backoff: float = 0.25
    """First retry delay of a webhook, seconds; doubles at each retry."""
    webhook_timeout: float = 5.0
    """Seconds to wait for a webhook receiver's answer."""
    n_threads: int = 1
    """CPU threads of the llama.cpp engine. One by default: llama.cpp's threads spin-wait on each
    other, so on a busy machine (or just beside the server's own event loop on 2 cores) 2 threads
    measured 15x slower than 1; raise it only on an otherwise idle machine with cores to spare."""
    n_ctx: int = 2048
    """Context window of the llama.cpp engine, tokens."""
    keepalive_seconds: float = 15.0
    """A stream silent this long gets a ``: keep-alive`` comment line."""
    result_ttl: float = 3600.0
    """Seconds a finished task's result is kept for getResponse and conflict detection."""

    @property
    def sim_options(self) -> SimOptions:
        return SimOptions.from_value(self.sim)
