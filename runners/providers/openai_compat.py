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
    numberResults                n                             no: llama.cpp, some Ollama answer one choice
                                                               (then sent as separate requests, see below)
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

A server that ignores ``n`` (llama.cpp's, some Ollama versions) answers one choice. A non-streaming
answer with fewer choices than asked is completed with separate requests without ``n`` (so n = 1),
result i with seed ``(seed + i) mod 2**32`` (the local server's convention: result i uses seed + i)
and ``X-Request-Id: {taskUUID}-{i}``, merged into the same attempt: usage and cost summed, timing
from the first send to the last answer, ``notes["n_fallback"]`` = the number of extra requests. A
server that answered one choice for n > 1 is remembered (per provider instance): later tasks go
straight to n separate requests (``notes["n_fallback_reason"]`` says which case it was). If an extra
request fails, the attempt fails with its classified error.
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
    JSONStream,
    MalformedAnswer,
    dumps,
    excerpt,
    finalize_costs,
    loads,
    openai_output_tokens,
    reading_answer,
    scrub_attempt,
    stamp_token,
    sum_usage,
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
SEED_MODULUS = 2**32  # result i of a task uses seed (seed + i) mod 2**32, as on the local server


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


def _missing_results(record: Attempt) -> bool:
    return record.error is not None and record.error.code == "missingResults" and bool(record.generations)


def _seed_of(echoed: int | None, body: Mapping[str, Any], index: int) -> int | None:
    """The seed of result ``index`` of a request split apart: the server's echo, else the one sent."""
    if echoed is not None or body.get("seed") is None:
        return echoed
    return (int(body["seed"]) + index) % SEED_MODULUS


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
        # Set once the server answered one choice to n > 1: from then on such tasks are sent as n
        # separate requests straight away instead of paying for a useless first try.
        self.ignores_n = False

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
        number = int(body.get("n", 1))
        with anyio.move_on_after(self.timeouts.task) as scope:
            try:
                record.timing.sent = time.perf_counter()
                if stream or number == 1 or not self.ignores_n:
                    with self._pool.lease() as client:
                        await self._exchange(client, body, headers, record, stream)
                    if not stream and number > 1 and _missing_results(record):
                        await self._complete_apart(body, headers, record, number)
                else:
                    record.notes["n_fallback_reason"] = (
                        f"this server ignored n before: sent as {number} separate requests"
                    )
                    await self._send_apart(body, headers, record, list(range(number)), [])
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

    async def _complete_apart(
        self, body: dict[str, Any], headers: dict[str, str], record: Attempt, number: int
    ) -> None:
        """Ask separately for the results a non-streaming answer left out (the server ignored ``n``)."""
        received = {g.index for g in record.generations}
        missing = [i for i in range(number) if i not in received]
        if len(received) == 1:
            self.ignores_n = True
        record.error = None
        record.notes.pop("missing_results", None)
        record.notes["n_fallback_reason"] = (
            f"the server answered {len(received)} of {number} choices: "
            f"the other {len(missing)} were sent as separate requests"
        )
        if len(record.generations) == 1:
            # The one choice is result 0, asked with the task's seed: record it like the others.
            only = record.generations[0]
            only.seed = _seed_of(only.seed, body, only.index)
        first_usage = record.usage
        kept = record.generations
        record.generations = []
        await self._send_apart(body, headers, record, missing, kept, first_usage=first_usage, counted=True)

    async def _send_apart(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        record: Attempt,
        indices: list[int],
        kept: list[Generation],
        *,
        first_usage: Usage | None = None,
        counted: bool = False,
    ) -> None:
        """Send result ``i`` of ``indices`` alone (no ``n``, seed + i) and merge the answers into
        ``record`` after ``kept``; the first failure (by result index) fails the whole attempt.

        ``counted``: ``record`` already holds one request's answer (``kept``, ``first_usage``), so
        every request here is an extra one; otherwise the first of them is the task's own.
        """
        parts: dict[int, Attempt] = {}

        async def one(index: int) -> None:
            part = Attempt(task_id=record.task_id, task_uuid=record.task_uuid, number=record.number)
            part_body = {k: v for k, v in body.items() if k != "n"}
            if body.get("seed") is not None:
                part_body["seed"] = (int(body["seed"]) + index) % SEED_MODULUS
            part_headers = dict(headers)
            if index > 0:  # distinct ids: some servers refuse two live requests with the same one
                part_headers["X-Request-Id"] = f"{headers['X-Request-Id']}-{index}"
            try:
                with self._pool.lease() as client:
                    await self._exchange(client, part_body, part_headers, part, False)
            except MalformedAnswer as exc:
                part.error = malformed(str(exc), http_status=part.http_status, scrub=self._redact)
            except Exception as exc:
                part.error = classify_exception(exc, scrub=self._redact)
            parts[index] = part

        async with anyio.create_task_group() as group:
            for index in indices:
                group.start_soon(one, index)
        record.notes["n_fallback"] = len(indices) if counted else len(indices) - 1
        answered = [parts[i] for i in indices]
        if answered:
            arrived = [p.timing.headers for p in answered if p.timing.headers is not None]
            if record.timing.headers is None and arrived:
                record.timing.headers = min(arrived)
            if record.http_status is None:
                record.http_status = answered[0].http_status
        for part in answered:
            if part.error is not None:
                record.error = part.error
                record.http_status = part.http_status
                return
        generations = list(kept)
        for index, part in zip(indices, answered, strict=True):
            generation = min(part.generations, key=lambda g: g.index)
            generation.index = index
            generation.seed = _seed_of(generation.seed, body, index)
            generations.append(generation)
        record.generations = sorted(generations, key=lambda g: g.index)
        usages = ([first_usage] if counted else []) + [p.usage for p in answered]
        known = [u for u in usages if u is not None]
        # An unknown part makes the sum unknown (never counted as zero).
        record.usage = sum_usage(known) if len(known) == len(usages) else None

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
            # asked for. A non-streaming ``send`` asks for the missing ones separately; a stream
            # keeps this transient error (suites refuse numberResults > 1 with stream anyway).
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
                stamp_token(timing, arrived)
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
        stream = JSONStream(reader, timing, self._redact)
        async for chunk, arrived in stream:
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
                self._read_chunk(chunk, arrived, record, texts, thoughts, finish)
                if chunk.get("usage") is not None:
                    usage = parse_openai_usage(chunk["usage"])
        if stream.error is not None:
            record.error = stream.error
            return
        if reader.comments:
            record.notes["keepalive_comments"] = reader.comments
        if not stream.done:
            record.error = stream.incomplete(response.status_code)
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
