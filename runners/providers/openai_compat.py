"""A client of OpenAI-compatible chat completions servers (vLLM, SGLang, llama.cpp, Ollama, Runware's door).

A task keeps its Runware shape all the way here; this module maps it onto ``POST {endpoint}/chat/completions``:

    Runware                      chat completions field        honoured by every server?
    messages                     messages                      yes
    settings.systemPrompt        a first {"role": "system"}    yes
    settings.temperature         temperature                   yes
    settings.topP                top_p                         yes
    settings.maxTokens           max_tokens                    yes
    settings.stopSequences       stop                          yes
    settings.presencePenalty     presence_penalty              yes
    settings.frequencyPenalty    frequency_penalty             yes
    seed                         seed                          yes (best effort on some servers)
    numberResults                n                             yes (llama.cpp answers one choice)
    settings.topK                top_k                         no: vLLM, SGLang, llama.cpp accept it
    settings.minP                min_p                         no: vLLM, SGLang, llama.cpp accept it
    settings.repetitionPenalty   repetition_penalty            no: vLLM, SGLang accept it
    settings.thinkingLevel       reasoning_effort              no: a chat template may ignore it
    deliveryMethod stream        stream + stream_options.include_usage
    deliveryMethod async         (no such thing: sent as a plain request, noted)
    taskUUID                     X-Request-Id header           (for tracing only)

A non-standard field is still sent (servers that know it use it) and listed in
``Attempt.notes["unverified_settings"]``; a setting with no mapping at all is listed in
``notes["unsent_settings"]``. Nothing is dropped silently. Cost comes from the model spec's price
table, since these servers report none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from evals.errors import ConfigError
from evals.records import ApiError, Attempt, ErrorClass, Generation, Task, Timing, Usage
from evals.suite import Target, Timeouts
from runners.classify import (
    class_of_status,
    classify_exception,
    classify_status,
    malformed,
    parse_retry_after,
)
from runners.credentials import Redactor
from runners.providers.common import (
    JSON_HEADERS,
    SSE_HEADERS,
    MalformedAnswer,
    dumps,
    excerpt,
    finalize_costs,
    loads,
    openai_output_tokens,
    reading_answer,
    scrub_attempt,
)
from runners.providers.http import CONNECTIONS_PER_CLIENT, ClientPool, clients_for, http_timeout
from runners.sse import SSEReader

# Runware setting -> (chat completions field, honoured by every OpenAI-compatible server)
SETTING_FIELDS: dict[str, tuple[str, bool]] = {
    "temperature": ("temperature", True),
    "topP": ("top_p", True),
    "maxTokens": ("max_tokens", True),
    "stopSequences": ("stop", True),
    "presencePenalty": ("presence_penalty", True),
    "frequencyPenalty": ("frequency_penalty", True),
    "topK": ("top_k", False),
    "minP": ("min_p", False),
    "repetitionPenalty": ("repetition_penalty", False),
    "thinkingLevel": ("reasoning_effort", False),
}
FINISH_REASONS = {"stop", "length", "content_filter"}


def chat_request(request: Mapping[str, Any], *, stream: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    """The chat completions body for a Runware task, the unverified settings, and the unsent ones."""
    settings = dict(request.get("settings") or {})
    messages: list[dict[str, Any]] = []
    system = settings.pop("systemPrompt", None)
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend({"role": m["role"], "content": m["content"]} for m in request.get("messages") or [])
    body: dict[str, Any] = {"model": request.get("model"), "messages": messages}
    unverified: list[str] = []
    unsent: list[str] = []
    for name, value in settings.items():
        if value is None:
            continue
        mapped = SETTING_FIELDS.get(name)
        if mapped is None:
            unsent.append(name)
            continue
        field, standard = mapped
        body[field] = value
        if not standard:
            unverified.append(name)
    if request.get("seed") is not None:
        body["seed"] = request["seed"]
    number = int(request.get("numberResults") or 1)
    if number != 1:
        body["n"] = number
    if stream:
        body["stream"] = True
        # Usage arrives on one last chunk with no choices; without this, streamed usage is unknown.
        body["stream_options"] = {"include_usage": True}
    return body, unverified, unsent


def parse_openai_usage(raw: Any) -> Usage | None:
    """``usage`` of a chat completion; reasoning tokens from ``completion_tokens_details``."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("completion_tokens_details")
    thinking = details.get("reasoning_tokens") if isinstance(details, Mapping) else None

    def number(value: Any) -> int | None:
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return Usage(
        prompt_tokens=number(raw.get("prompt_tokens")),
        completion_tokens=number(raw.get("completion_tokens")),
        total_tokens=number(raw.get("total_tokens")),
        thinking_tokens=number(thinking),
    )


def _index(choice: Mapping[str, Any], default: int) -> int:
    """A choice's ``index``; absent means its position. Anything but an integer is malformed."""
    value = choice.get("index", default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedAnswer(f"a choice has index {value!r}, not an integer")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, {} if absent; anything else is malformed."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedAnswer(f"{what} is a {type(value).__name__}, not an object")
    return value


def _finish_reason(value: Any) -> str | None:
    if value is None:
        return None
    return value if value in FINISH_REASONS else "unknown"


def _reasoning(message: Mapping[str, Any]) -> str | None:
    # vLLM and SGLang say reasoning_content; newer vLLM, Ollama and llama.cpp may say reasoning.
    value = message.get("reasoning_content") or message.get("reasoning")
    return str(value) if value else None


class OpenAICompatProvider:
    """Chat completions over HTTP, recorded into the same ``Attempt`` as a Runware call."""

    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str | None = None,
        name: str = "openai",
        timeouts: Timeouts | None = None,
        concurrency: int = 4,
        clients: int | None = None,
        connections_per_client: int = CONNECTIONS_PER_CLIENT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        base = endpoint.rstrip("/")
        self.endpoint = base
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.timeouts = timeouts or Timeouts()
        self._redact = Redactor([api_key])
        self._pool = ClientPool(
            clients=clients if clients is not None else clients_for(concurrency, connections_per_client),
            connections=connections_per_client,
            timeout=http_timeout(self.timeouts),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            transport=transport,
        )

    @classmethod
    def from_target(
        cls, target: Target, *, api_key: str | None, transport: httpx.AsyncBaseTransport | None = None
    ) -> OpenAICompatProvider:
        """A provider for ``target``; ``target.endpoint`` is required (ConfigError without it)."""
        if not target.endpoint:
            raise ConfigError(
                "target.endpoint is required for provider openai (e.g. http://127.0.0.1:8000/v1)"
            )
        return cls(
            endpoint=target.endpoint,
            api_key=api_key,
            timeouts=target.timeouts,
            concurrency=target.concurrency,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(endpoint={self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._pool.aclose()

    async def send(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """One chat completion for ``task``; streamed when its deliveryMethod is ``stream``."""
        record = Attempt(
            task_id=task.id, task_uuid=task_uuid, number=attempt, timing=Timing(queued=time.perf_counter())
        )
        method = str(task.request.get("deliveryMethod", "sync"))
        stream = method == "stream"
        body, unverified, unsent = chat_request(task.request, stream=stream)
        record.notes["delivery"] = "stream" if stream else "sync"
        if method == "async":
            record.notes["delivery_fallback"] = (
                "async delivery is not part of the OpenAI API: sent as a plain request"
            )
        if unverified:
            record.notes["unverified_settings"] = unverified
        if unsent:
            record.notes["unsent_settings"] = unsent
        headers = {**(SSE_HEADERS if stream else JSON_HEADERS), "X-Request-Id": task_uuid}
        with anyio.move_on_after(self.timeouts.task) as scope:
            try:
                record.timing.sent = time.perf_counter()
                with self._pool.lease() as client:
                    await self._exchange(client, body, headers, record, stream)
            except MalformedAnswer as exc:
                record.error = malformed(str(exc), http_status=record.http_status, scrub=self._redact)
            except Exception as exc:
                record.error = classify_exception(exc, scrub=self._redact)
        if scope.cancelled_caught:
            record.error = ApiError(
                ErrorClass.TRANSIENT, "taskTimeout", f"no complete answer within {self.timeouts.task:g} s"
            )
        if record.error is not None:
            record.generations = []
        record.timing.done = time.perf_counter()
        finalize_costs(record, task.request.get("model"), openai_output_tokens)
        scrub_attempt(record, self._redact)
        return record

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        body: dict[str, Any],
        headers: dict[str, str],
        record: Attempt,
        stream: bool,
    ) -> None:
        expected = int(body.get("n", 1))
        async with client.stream("POST", self.url, content=dumps(body), headers=headers) as response:
            record.timing.headers = time.perf_counter()
            record.http_status = response.status_code
            is_sse = "text/event-stream" in response.headers.get("content-type", "")
            if response.status_code >= 400 or not (stream and is_sse):
                raw = await response.aread()
                self._parse_answer(response, raw, record, expected)
            else:
                await self._read_stream(response, record, expected)

    async def fetch(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Chat completions cannot look up an earlier request, so there is nothing to fetch: send again."""
        return await self.send(task, task_uuid, attempt)

    def _error(self, response: httpx.Response, raw: bytes) -> ApiError:
        try:
            payload = loads(raw)
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            code = error.get("code") or error.get("type") or f"http{response.status_code}"
            message = error.get("message") or str(code)
        elif isinstance(payload, dict) and (payload.get("detail") or payload.get("message") or error):
            code, message = (
                f"http{response.status_code}",
                payload.get("detail") or payload.get("message") or error,
            )
        else:
            return classify_status(
                response.status_code, headers=response.headers, body=raw, scrub=self._redact
            )
        return ApiError(
            error_class=class_of_status(response.status_code),
            code=self._redact(str(code)),
            message=self._redact(str(message)),
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def _parse_answer(self, response: httpx.Response, raw: bytes, record: Attempt, expected: int) -> None:
        if response.status_code >= 400:
            record.error = self._error(response, raw)
            return
        try:
            payload = loads(raw)
        except ValueError:
            record.error = malformed(
                f"the answer is not JSON: {excerpt(raw, self._redact)}",
                http_status=response.status_code,
                scrub=self._redact,
            )
            return
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices:
            record.error = malformed("the answer has no choices", http_status=response.status_code)
            return
        with reading_answer():
            usage = parse_openai_usage(payload.get("usage"))
            seed = payload.get("seed")
            for position, choice in enumerate(choices):
                if not isinstance(choice, dict):
                    raise MalformedAnswer(f"choice {position} is not an object")
                message = _object(choice.get("message"), "a choice's message")
                record.generations.append(
                    Generation(
                        index=_index(choice, position),
                        text=str(message.get("content") or ""),
                        reasoning=_reasoning(message),
                        finish_reason=_finish_reason(choice.get("finish_reason")),
                        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                    )
                )
        self._attach_usage(record, usage, expected)

    @staticmethod
    def _attach_usage(record: Attempt, usage: Usage | None, expected: int) -> None:
        # Usage is reported for the whole request: it belongs to the single generation when there is
        # one, otherwise only to the task.
        record.usage = usage
        if usage is not None and len(record.generations) == 1:
            record.generations[0].usage = usage
        received = len({g.index for g in record.generations})
        if received < expected:
            # Fewer choices than n is not a finished task: scoring it would use fewer samples than
            # asked for. A retry may get them all (a server that never answers n > 1, like
            # llama.cpp's, fails every time: use numberResults 1 there).
            record.notes["missing_results"] = expected - received
            record.error = ApiError(
                ErrorClass.TRANSIENT,
                "missingResults",
                f"{received} of {expected} choice(s) in the answer",
                http_status=record.http_status,
            )

    @staticmethod
    def _read_chunk(
        chunk: Mapping[str, Any],
        arrived: float,
        record: Attempt,
        texts: dict[int, list[str]],
        thoughts: dict[int, list[str]],
        finish: dict[int, str | None],
    ) -> None:
        """Add one stream chunk's choices; a wrongly shaped one raises (see ``reading_answer``)."""
        timing = record.timing
        choices = chunk.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise MalformedAnswer("a stream event's choices is not a list")
        for choice in choices or []:
            if not isinstance(choice, dict):
                raise MalformedAnswer("a stream event's choice is not an object")
            index = _index(choice, 0)
            delta = _object(choice.get("delta"), "a choice's delta")
            piece = delta.get("content")
            thought = _reasoning(delta)
            if piece:
                texts.setdefault(index, []).append(str(piece))
            if thought:
                thoughts.setdefault(index, []).append(thought)
            if piece or thought:
                timing.token_events.append(arrived)
                if timing.first_token is None:
                    timing.first_token = arrived
                timing.last_token = arrived
            texts.setdefault(index, [])
            if choice.get("finish_reason") is not None:
                finish[index] = _finish_reason(choice["finish_reason"])

    async def _read_stream(self, response: httpx.Response, record: Attempt, expected: int) -> None:
        timing = record.timing
        reader = SSEReader(response.aiter_bytes())
        texts: dict[int, list[str]] = {}
        thoughts: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        usage: Usage | None = None
        done = False
        async for event in reader:
            timing.events.append(event.arrived)
            if done:
                continue
            if event.data.strip() == "[DONE]":
                done = True
                continue
            try:
                chunk = loads(event.data)
            except ValueError:
                record.error = malformed(
                    f"a stream event is not JSON: {excerpt(event.data, self._redact)}",
                    http_status=200,
                    scrub=self._redact,
                )
                return
            if not isinstance(chunk, dict):
                record.error = malformed("a stream event is not a JSON object", http_status=200)
                return
            if isinstance(chunk.get("error"), dict):
                error = chunk["error"]
                record.error = ApiError(
                    ErrorClass.TRANSIENT,
                    self._redact(str(error.get("code") or error.get("type") or "streamError")),
                    self._redact(str(error.get("message") or error)),
                    http_status=response.status_code,
                )
                return
            with reading_answer("a stream event"):
                self._read_chunk(chunk, event.arrived, record, texts, thoughts, finish)
                if chunk.get("usage") is not None:
                    usage = parse_openai_usage(chunk["usage"])
        if reader.comments:
            record.notes["keepalive_comments"] = reader.comments
        if not done:
            record.error = ApiError(
                ErrorClass.TRANSIENT,
                "streamIncomplete",
                "the stream ended without [DONE]",
                http_status=response.status_code,
            )
            return
        if not texts:
            record.error = malformed("the stream carried no choices", http_status=response.status_code)
            return
        for index in sorted(texts):
            record.generations.append(
                Generation(
                    index=index,
                    text="".join(texts[index]),
                    reasoning="".join(thoughts.get(index, [])) or None,
                    finish_reason=finish.get(index),
                )
            )
        self._attach_usage(record, usage, expected)
