"""What every provider does the same way: JSON, token usage, costs, and keeping the key out of records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from evals.model_spec import get_spec
from evals.records import ApiError, Attempt, ErrorClass, Timing, Usage
from runners.classify import malformed
from runners.credentials import Redactor
from runners.sse import SSEEvent, SSEReader

try:  # orjson is the optional fast path ("speed" extra); the standard library is the fallback.
    import orjson

    def dumps(value: Any) -> bytes:
        """Compact JSON bytes."""
        return orjson.dumps(value)

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on a malformed body."""
        return orjson.loads(data)

except ImportError:  # pragma: no cover - depends on the installed extras

    def dumps(value: Any) -> bytes:
        """Compact JSON bytes."""
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(data: bytes | str) -> Any:
        """Parse JSON; raises ValueError on a malformed body."""
        return json.loads(data)


JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
SSE_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def parse_runware_usage(raw: Any) -> Usage | None:
    """``{"promptTokens": .., "completionTokens": .., "totalTokens": .., "thinkingTokens": ..}``."""
    if not isinstance(raw, Mapping):
        return None
    return Usage(
        prompt_tokens=_int_or_none(raw.get("promptTokens")),
        completion_tokens=_int_or_none(raw.get("completionTokens")),
        total_tokens=_int_or_none(raw.get("totalTokens")),
        thinking_tokens=_int_or_none(raw.get("thinkingTokens")),
    )


def sum_usage(usages: list[Usage]) -> Usage | None:
    """Field-wise sum; a field is None when any part is unknown (an unknown count is not zero)."""
    if not usages:
        return None

    def total(name: str) -> int | None:
        values = [getattr(u, name) for u in usages]
        return None if any(v is None for v in values) else sum(values)

    return Usage(
        prompt_tokens=total("prompt_tokens"),
        completion_tokens=total("completion_tokens"),
        total_tokens=total("total_tokens"),
        thinking_tokens=total("thinking_tokens"),
    )


OutputTokens = Callable[[Usage], int | None]


def runware_output_tokens(usage: Usage) -> int | None:
    """Billed output tokens of a Runware usage: thinking tokens count as output (the protocol).

    ``totalTokens - promptTokens`` when both are known, because that holds whether or not
    ``completionTokens`` already includes the thinking tokens; otherwise completion + thinking. A
    total smaller than prompt + completion is inconsistent, so the sum is used then instead.
    """
    completion = usage.completion_tokens
    if usage.total_tokens is not None and usage.prompt_tokens is not None:
        output = usage.total_tokens - usage.prompt_tokens
        if output >= (completion if completion is not None else 0):
            return output
    if completion is None:
        return None
    return completion + (usage.thinking_tokens or 0)


def openai_output_tokens(usage: Usage) -> int | None:
    """Billed output tokens of an OpenAI-style usage: ``completion_tokens`` alone.

    In that schema ``completion_tokens`` already includes
    ``completion_tokens_details.reasoning_tokens``; adding them again would bill thinking twice.
    """
    return usage.completion_tokens


def price_cost(
    model: str | None, usage: Usage | None, output_tokens: OutputTokens = runware_output_tokens
) -> float | None:
    """USD from the model spec's price table; ``output_tokens`` says what the provider's usage bills
    as output (thinking included). None if unknown."""
    if model is None or usage is None:
        return None
    spec = get_spec(model)
    if spec is None or spec.price is None:
        return None
    output = output_tokens(usage)
    if output is None:
        return None
    return spec.price.cost(usage.prompt_tokens, output)


def finalize_costs(
    attempt: Attempt, model: str | None, output_tokens: OutputTokens = runware_output_tokens
) -> None:
    """Fill usage and cost of a successful attempt: provider's figures first, then the price table.

    Per generation: its own reported cost ("provider"), else priced from its usage ("price_table").
    Per task: the sum of reported costs when every generation reported one, else priced from the
    task's usage, else None. ``notes["cost_source"]`` says which.
    """
    if attempt.error is not None:
        return
    for generation in attempt.generations:
        if generation.cost is not None:
            generation.cost_source = "provider"
        else:
            generation.cost = price_cost(model, generation.usage, output_tokens)
            generation.cost_source = "price_table" if generation.cost is not None else None
    reported = [g.usage for g in attempt.generations if g.usage is not None]
    if attempt.usage is None and reported and len(reported) == len(attempt.generations):
        attempt.usage = sum_usage(reported)
    generations = attempt.generations
    if generations and all(g.cost_source == "provider" for g in generations):
        attempt.cost = sum(g.cost for g in generations if g.cost is not None)
        attempt.notes["cost_source"] = "provider"
    elif attempt.cost is None:
        attempt.cost = price_cost(model, attempt.usage, output_tokens)
        attempt.notes["cost_source"] = "price_table" if attempt.cost is not None else None


def scrub_attempt(attempt: Attempt, redactor: Redactor) -> None:
    """Remove every secret from the texts of an attempt, whatever echoed it (a server, a model)."""
    if not redactor:
        return
    # Model output is scored: only whole secrets come out of it. Everything else came from a server
    # and may hold a cut or half-echoed key, so it gets the thorough scrub.
    for generation in attempt.generations:
        generation.text = redactor.exact(generation.text)
        if generation.reasoning is not None:
            generation.reasoning = redactor.exact(generation.reasoning)
    if attempt.error is not None:
        attempt.error.message = redactor(attempt.error.message)
        attempt.error.code = redactor(attempt.error.code)
        if attempt.error.parameter is not None:
            attempt.error.parameter = redactor(attempt.error.parameter)
    attempt.notes = _scrub_value(attempt.notes, redactor)


def excerpt(data: bytes | str, redactor: Redactor, limit: int = 200) -> str:
    """The quoted start of a body for an error message, scrubbed before the cut (see ``Redactor.clip``)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(redactor.clip(text, limit))


class MalformedAnswer(ValueError):
    """An answer whose fields have the wrong types or shapes (a ValueError, so classify_exception
    already calls it malformedResponse if it ever escapes)."""


ANSWER_READ_ERRORS = (TypeError, AttributeError, KeyError, ValueError, OverflowError)
"""What reading a wrongly shaped answer raises (``.get`` on a string, ``int(None)``, ...)."""


@contextmanager
def reading_answer(what: str = "the answer") -> Iterator[None]:
    """Turn the errors of reading a wrongly shaped answer into ``MalformedAnswer``.

    One bad answer from a server must cost one transient attempt, not crash the run; outside this
    block the same exceptions are programming errors and keep propagating.
    """
    try:
        yield
    except MalformedAnswer:
        raise
    except ANSWER_READ_ERRORS as exc:
        raise MalformedAnswer(f"{what} has an unexpected shape ({type(exc).__name__}: {exc})") from exc


def _scrub_value(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, redactor) for v in value]
    return value


def join_reasoning(value: Any, separator: str = "\n") -> str | None:
    """``reasoningContent`` may be a string or a list of strings; None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, list):
        text = separator.join(str(v) for v in value if v)
    else:
        text = str(value)
    return text or None


class JSONStream:
    """The JSON chunks of a server-sent event answer, read the same way for every provider.

    Each event's arrival is stamped into ``timing.events`` (already taken before parsing by
    ``SSEReader``). ``[DONE]`` ends the chunks but the body is still read to its end, so the
    connection can be reused. An event that is not a JSON object ends the chunks with ``error`` set:
    a malformed answer, which is transient.
    """

    def __init__(self, reader: SSEReader, timing: Timing, redact: Redactor) -> None:
        self.reader = reader
        self.timing = timing
        self.redact = redact
        self.done = False
        self.error: ApiError | None = None
        self._events: AsyncIterator[SSEEvent] = reader.__aiter__()

    def __aiter__(self) -> JSONStream:
        return self

    async def __anext__(self) -> tuple[dict[str, Any], float]:
        while True:
            event = await self._events.__anext__()
            self.timing.events.append(event.arrived)
            if self.done:
                continue
            if event.data.strip() == "[DONE]":
                self.done = True
                continue
            try:
                chunk = loads(event.data)
            except ValueError:
                self.error = malformed(
                    f"a stream event is not JSON: {excerpt(event.data, self.redact)}",
                    http_status=200,
                    scrub=self.redact,
                )
                raise StopAsyncIteration from None
            if not isinstance(chunk, dict):
                self.error = malformed("a stream event is not a JSON object", http_status=200)
                raise StopAsyncIteration
            return chunk, event.arrived

    def incomplete(self, http_status: int) -> ApiError:
        """The error of a stream that ended without ``[DONE]``."""
        truncated = self.reader.truncated
        return ApiError(
            ErrorClass.TRANSIENT,
            "streamIncomplete",
            "the stream ended without [DONE]"
            + (f" ({len(truncated)} bytes of an unfinished line)" if truncated else ""),
            http_status=http_status,
        )


def stamp_token(timing: Timing, arrived: float) -> None:
    """Record a token-bearing stream event: first and last token times, and the event itself."""
    timing.token_events.append(arrived)
    if timing.first_token is None:
        timing.first_token = arrived
    timing.last_token = arrived
