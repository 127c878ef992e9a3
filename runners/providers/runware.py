"""The Runware ``textInference`` client: sync, async (getResponse polling), stream and webhooks.

One ``send`` is one attempt of one task. Whatever goes wrong is classified where it enters
(``runners.classify``) and returned in ``Attempt.error``; nothing but cancellation and programming
errors escapes. The request body is always a JSON array; answers are matched by ``taskUUID``, never by
position, so batches (``batch_size`` > 1, sync and async submissions and getResponse polls) split
back per task, with a mixed ``data`` + ``errors`` answer failing only the tasks it names.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from evals.records import ApiError, Attempt, ErrorClass, Generation, Task, Timing
from evals.suite import Polling, Target, Timeouts, Webhook
from runners.classify import (
    classify_exception,
    classify_runware_error,
    classify_status,
    malformed,
    parse_retry_after,
)
from runners.credentials import Redactor
from runners.providers.batching import Batcher
from runners.providers.common import (
    JSON_HEADERS,
    SSE_HEADERS,
    JSONStream,
    MalformedAnswer,
    dumps,
    excerpt,
    finalize_costs,
    join_reasoning,
    loads,
    parse_runware_usage,
    reading_answer,
    runware_output_tokens,
    scrub_attempt,
    stamp_token,
)
from runners.providers.http import CONNECTIONS_PER_CLIENT, ClientPool, clients_for, http_timeout
from runners.sse import SSEReader
from runners.webhook_receiver import WebhookReceiver, result_key

DEFAULT_ENDPOINT = "https://api.runware.ai/v1"
DEFAULT_BATCH_LINGER = 0.005
"""Seconds the first task of a batch waits for company; short, so batching costs little latency."""


@dataclass
class PostResult:
    """The answer of one POST, shared by every task it carried."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    payload: Any = None
    error: ApiError | None = None  # transport failure or unparsable body: applies to every task
    sent: float | None = None
    headers_at: float | None = None
    done: float | None = None
    batch_size: int = 1


def _abandoned() -> PostResult:
    return PostResult(
        error=ApiError(
            ErrorClass.TRANSIENT, "batchAbandoned", "the task that was sending this batch was cancelled"
        )
    )


def _task_errors(payload: Any, task_uuid: str) -> list[dict[str, Any]]:
    """Errors of the answer that concern ``task_uuid``: named for it, or naming no task at all."""
    if not isinstance(payload, dict):
        return []
    raw = payload.get("errors")
    errors = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
    single = payload.get("error")
    if isinstance(single, dict):  # the pre-stream shape {"error": {...}, "taskUUID": ...}
        errors.append({"taskUUID": payload.get("taskUUID"), **single})
    return [e for e in errors if e.get("taskUUID") in (None, task_uuid)]


def _task_items(payload: Any, task_uuid: str) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    data = payload.get("data")
    if not isinstance(data, list):
        return []
    return [d for d in data if isinstance(d, dict) and d.get("taskUUID") == task_uuid]


def _pick_error(errors: list[ApiError]) -> ApiError:
    """The error that matters most when several concern one task: fatal, conflict, then the first."""
    for wanted in (ErrorClass.FATAL, ErrorClass.CONFLICT):
        for error in errors:
            if error.error_class is wanted:
                return error
    return errors[0]


def _missing(results: Results, http_status: int | None) -> ApiError:
    """A finished answer with fewer results than ``numberResults``: not done, so retryable.

    Accepting it would score a task on fewer samples than asked for; a retry under the same UUID
    meets ``conflictTaskUUID`` and polls for the complete set without paying again.
    """
    return ApiError(
        ErrorClass.TRANSIENT,
        "missingResults",
        f"{len(results)} of {results.expected} result(s) in a finished answer",
        http_status=http_status,
    )


def _is_result(item: dict[str, Any]) -> bool:
    """A finished result (not an acknowledgment or a "processing" poll item)."""
    status = item.get("status")
    if status is not None and status != "success":
        return False
    return "text" in item or "reasoningContent" in item or "finishReason" in item


def to_generation(item: dict[str, Any], index: int) -> Generation:
    """A finished ``data`` item (sync answer, poll result or webhook delivery) as a ``Generation``."""
    cost = item.get("cost")
    result_index = item.get("resultIndex")
    finish = item.get("finishReason")
    return Generation(
        index=result_index if isinstance(result_index, int) else index,
        text=str(item.get("text") or ""),
        reasoning=join_reasoning(item.get("reasoningContent")),
        finish_reason=finish if isinstance(finish, str) or finish is None else "unknown",
        seed=item.get("seed") if isinstance(item.get("seed"), int) else None,
        usage=parse_runware_usage(item.get("usage")),
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


class Results:
    """Finished results of one task gathered over polls and deliveries, each result kept once."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self._items: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, item: dict[str, Any]) -> None:
        self._items.setdefault(result_key(item), item)

    @property
    def complete(self) -> bool:
        return len(self._items) >= self.expected

    def __len__(self) -> int:
        return len(self._items)

    def generations(self) -> list[Generation]:
        return sorted(
            (to_generation(item, i) for i, item in enumerate(self._items.values())), key=lambda g: g.index
        )


class RunwareProvider:
    """A client of Runware's native API (or of anything speaking it, like the embedded server)."""

    def __init__(
        self,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        api_key: str | None = None,
        name: str = "runware",
        timeouts: Timeouts | None = None,
        polling: Polling | None = None,
        webhook: Webhook | None = None,
        batch_size: int = 1,
        batch_linger: float = DEFAULT_BATCH_LINGER,
        concurrency: int = 4,
        clients: int | None = None,
        connections_per_client: int = CONNECTIONS_PER_CLIENT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self.polling = polling or Polling()
        self.webhook = webhook or Webhook()
        self.batch_size = batch_size
        self._redact = Redactor([api_key])
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._pool = ClientPool(
            clients=clients if clients is not None else clients_for(concurrency, connections_per_client),
            connections=connections_per_client,
            timeout=http_timeout(self.timeouts),
            headers=headers,
            transport=transport,
        )
        self._batchers: dict[str, Batcher[PostResult]] = {}
        if batch_size > 1:
            for kind in ("sync", "async", "poll"):
                self._batchers[kind] = Batcher(
                    self._post, max_size=batch_size, linger=batch_linger, on_abandon=_abandoned
                )
        self.receiver: WebhookReceiver | None = None

    @classmethod
    def from_target(
        cls,
        target: Target,
        *,
        api_key: str | None,
        endpoint: str | None = None,
        name: str = "runware",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> RunwareProvider:
        """A provider configured from a suite's ``target`` (timeouts, polling, webhook, batching)."""
        return cls(
            endpoint=endpoint or target.endpoint or DEFAULT_ENDPOINT,
            api_key=api_key,
            name=name,
            timeouts=target.timeouts,
            polling=target.polling,
            webhook=target.webhook,
            batch_size=target.batch_size,
            concurrency=target.concurrency,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RunwareProvider(name={self.name!r}, endpoint={self.endpoint!r})"

    async def __aenter__(self) -> Self:
        if self.webhook.enabled:
            self.receiver = WebhookReceiver(
                host=self.webhook.host, port=self.webhook.port, public_url=self.webhook.public_url
            )
            await self.receiver.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.receiver is not None:
                await self.receiver.__aexit__(exc_type, exc, tb)
                self.receiver = None
        finally:
            await self._pool.aclose()

    # -- the Provider protocol -------------------------------------------------------------------

    async def send(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Send one task and wait for all its results (or a classified error)."""
        record = Attempt(
            task_id=task.id, task_uuid=task_uuid, number=attempt, timing=Timing(queued=time.perf_counter())
        )
        request = {
            **task.request,
            "taskType": task.request.get("taskType", "textInference"),
            "taskUUID": task_uuid,
        }
        method = str(request.get("deliveryMethod", "sync"))
        expected = int(request.get("numberResults") or 1)
        record.notes["delivery"] = method
        with anyio.move_on_after(self.timeouts.task) as scope:
            try:
                if method == "stream":
                    await self._stream(request, record)
                elif method == "async":
                    await self._async(request, record, expected)
                else:
                    await self._sync(request, record)
                if record.error is not None and record.error.error_class is ErrorClass.CONFLICT:
                    await self._resolve_conflict(task_uuid, record, expected)
            except MalformedAnswer as exc:
                record.error = malformed(str(exc), http_status=record.http_status, scrub=self._redact)
            except Exception as exc:  # transport failures only; anything else is re-raised
                record.error = classify_exception(exc, scrub=self._redact)
        if scope.cancelled_caught:
            record.error = ApiError(
                ErrorClass.TRANSIENT, "taskTimeout", f"no complete answer within {self.timeouts.task:g} s"
            )
        return self._finish(record, request)

    async def _resolve_conflict(self, task_uuid: str, record: Attempt, expected: int) -> None:
        """Poll the earlier task that holds ``task_uuid`` instead of sending again.

        The UUID was used by an earlier attempt that reached the server: its result is there to
        fetch, and sending again would pay twice. The first poll goes at once (the task is old, not
        just submitted), and the attempt is marked so latency reports leave it out: its timing is
        that of a lookup, not of an inference. If that earlier task failed for good, retrying under
        the same UUID would only meet the same conflict and the same failure: the error asks the
        runner to retry under a fresh taskUUID (``notes["rotate_uuid"]``).
        """
        record.notes["conflict_resolved"] = True
        record.notes["resolved_by"] = "conflict_poll"
        record.error = None
        final = await self._poll(task_uuid, record, Results(expected), first_wait=0.0)
        earlier = record.error
        if final and earlier is not None and earlier.error_class is not ErrorClass.FATAL:
            record.error = ApiError(
                ErrorClass.TRANSIENT,
                "conflictTaskUUIDFailed",
                f"the earlier task under this taskUUID failed ({earlier.code}: {earlier.message}); "
                "retry under a fresh taskUUID",
                http_status=earlier.http_status,
                parameter=earlier.parameter,
            )
            record.notes["rotate_uuid"] = True

    async def fetch(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Poll for the result of a task sent earlier under ``task_uuid``, without sending it again."""
        record = Attempt(
            task_id=task.id, task_uuid=task_uuid, number=attempt, timing=Timing(queued=time.perf_counter())
        )
        record.notes["delivery"] = "fetch"
        expected = int(task.request.get("numberResults") or 1)
        with anyio.move_on_after(self.timeouts.task) as scope:
            try:
                await self._poll(task_uuid, record, Results(expected), first_wait=0.0)
            except MalformedAnswer as exc:
                record.error = malformed(str(exc), http_status=record.http_status, scrub=self._redact)
            except Exception as exc:
                record.error = classify_exception(exc, scrub=self._redact)
        if scope.cancelled_caught:
            record.error = ApiError(ErrorClass.TRANSIENT, "taskTimeout", "no result within the task deadline")
        return self._finish(record, task.request)

    def _finish(self, record: Attempt, request: Mapping[str, Any]) -> Attempt:
        if record.error is not None:
            record.generations = []
        record.timing.done = time.perf_counter()
        finalize_costs(record, request.get("model"), runware_output_tokens)
        scrub_attempt(record, self._redact)
        return record

    # -- one POST ----------------------------------------------------------------------------------

    async def _post(self, tasks: list[dict[str, Any]]) -> PostResult:
        """POST ``tasks`` as one JSON array; transport failures become ``PostResult.error``."""
        result = PostResult(batch_size=len(tasks))
        result.sent = time.perf_counter()
        try:
            with self._pool.lease() as client:
                async with client.stream(
                    "POST", self.endpoint, content=dumps(tasks), headers=JSON_HEADERS
                ) as response:
                    result.headers_at = time.perf_counter()
                    result.status = response.status_code
                    result.headers = response.headers
                    body = await response.aread()
        except Exception as exc:
            result.error = classify_exception(exc, scrub=self._redact)
            result.done = time.perf_counter()
            return result
        result.done = time.perf_counter()
        try:
            result.payload = loads(body) if body.strip() else None
        except ValueError:
            if result.status is not None and result.status >= 400:
                result.error = classify_status(
                    result.status, headers=result.headers, body=body, scrub=self._redact
                )
            else:
                result.error = malformed(
                    f"the answer is not JSON: {excerpt(body, self._redact)}",
                    http_status=result.status,
                    scrub=self._redact,
                )
        return result

    async def _submit(self, kind: str, task: dict[str, Any]) -> PostResult:
        batcher = self._batchers.get(kind)
        if batcher is None:
            return await self._post([task])
        return await batcher.submit(task)

    def _answer_error(self, result: PostResult, task_uuid: str) -> ApiError | None:
        """The error this answer holds for ``task_uuid``, if any."""
        if result.error is not None:
            return result.error
        retry_after = parse_retry_after(result.headers.get("retry-after"))
        errors = [
            classify_runware_error(e, http_status=result.status, retry_after=retry_after, scrub=self._redact)
            for e in _task_errors(result.payload, task_uuid)
        ]
        if errors:
            return _pick_error(errors)
        if result.status is not None and result.status >= 400:
            return classify_status(result.status, headers=result.headers, scrub=self._redact)
        if not isinstance(result.payload, dict):
            return malformed("the answer is not a JSON object", http_status=result.status, scrub=self._redact)
        return None

    @staticmethod
    def _stamp(record: Attempt, result: PostResult) -> None:
        record.timing.sent = result.sent
        record.timing.headers = result.headers_at
        record.http_status = result.status
        record.notes["batch_size"] = result.batch_size

    # -- sync --------------------------------------------------------------------------------------

    async def _sync(self, request: dict[str, Any], record: Attempt) -> None:
        result = await self._submit("sync", request)
        self._stamp(record, result)
        task_uuid = request["taskUUID"]
        if (error := self._answer_error(result, task_uuid)) is not None:
            record.error = error
            return
        results = Results(int(request.get("numberResults") or 1))
        with reading_answer():
            for item in _task_items(result.payload, task_uuid):
                if _is_result(item):
                    results.add(item)
            generations = results.generations()
        if not len(results):
            record.error = malformed("the answer holds no result for this task", http_status=result.status)
            return
        if not results.complete:
            record.error = _missing(results, result.status)
            record.notes["missing_results"] = results.expected - len(results)
            return
        record.generations = generations

    # -- async: acknowledgment, then webhook and/or getResponse polling ---------------------------

    async def _async(self, request: dict[str, Any], record: Attempt, expected: int) -> None:
        task_uuid = request["taskUUID"]
        results = Results(expected)
        inbox = None
        if self.receiver is not None:
            request = {**request, "webhookURL": self.receiver.url}
            inbox = self.receiver.expect(task_uuid, expected)
        try:
            ack = await self._submit("async", request)
            self._stamp(record, ack)
            if (error := self._answer_error(ack, task_uuid)) is not None:
                record.error = error
                return
            with reading_answer("the acknowledgment"):
                for item in _task_items(ack.payload, task_uuid):  # a fast server may answer at once
                    if _is_result(item):
                        results.add(item)
                if results.complete:
                    record.generations = results.generations()
                    return
            if inbox is not None:
                with anyio.move_on_after(self.webhook.wait):
                    await inbox.complete.wait()
                record.notes["webhook_deliveries"] = len(inbox.arrivals)
                if inbox.errors:
                    record.error = self._item_error(inbox.errors[0])
                    return
                with reading_answer("a webhook delivery"):
                    for item in inbox.ordered_results():
                        results.add(item)
                    if results.complete:
                        record.notes["delivery"] = "webhook"
                        record.generations = results.generations()
                        return
                record.notes["delivery"] = "webhook+poll"  # a delivery did not come in time
            await self._poll(task_uuid, record, results)
        finally:
            if self.receiver is not None:
                self.receiver.forget(task_uuid)

    def _item_error(self, item: dict[str, Any]) -> ApiError:
        """The error of a poll item or webhook delivery with ``status: error`` or an errors list.

        An unknown code is transient, as is the same failure reported in a poll's ``errors`` array:
        a task that failed while running (engine crash, eviction) may well succeed when sent again.
        Codes that name a bad request (``invalid…``, ``missing…``) stay permanent.
        """
        errors = item.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            error = errors[0]
        else:
            inner = item.get("error")
            error = inner if isinstance(inner, dict) else item
        return classify_runware_error(error, default=ErrorClass.TRANSIENT, scrub=self._redact)

    async def _poll(
        self, task_uuid: str, record: Attempt, results: Results, first_wait: float | None = None
    ) -> bool:
        """getResponse until every result is in, an error comes back, or the polling deadline passes.

        The pace starts at ``polling.initial`` and grows by ``polling.factor`` up to ``polling.max``.
        A transient failure of one poll (or a malformed poll answer) is not the task's failure:
        polling goes on until the deadline. Returns True when polling ended on a final error: the
        task's own failure, or a poll refused for good.
        """
        interval = self.polling.initial
        deadline = time.perf_counter() + self.polling.deadline
        wait = interval if first_wait is None else first_wait
        polls = transient = 0
        final = False
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                record.error = ApiError(
                    ErrorClass.TRANSIENT,
                    "pollDeadline",
                    f"{len(results)} of {results.expected} result(s) after polling for "
                    f"{self.polling.deadline:g} s ({polls} polls)",
                )
                break
            await anyio.sleep(min(wait, remaining))
            wait = interval
            interval = min(interval * self.polling.factor, self.polling.max)
            answer = await self._submit("poll", {"taskType": "getResponse", "taskUUID": task_uuid})
            polls += 1
            if record.timing.sent is None:
                self._stamp(record, answer)
            # An error item with status "error" is the task's own failure, whatever the HTTP status
            # of the poll; any other failure of the poll itself is only a reason to poll again.
            failures = [e for e in _task_errors(answer.payload, task_uuid) if e.get("status") == "error"]
            if failures:
                record.error = classify_runware_error(
                    failures[0], http_status=answer.status, default=ErrorClass.TRANSIENT, scrub=self._redact
                )
                final = True
                break
            if (error := self._answer_error(answer, task_uuid)) is not None:
                if error.retryable:
                    transient += 1
                    continue
                record.error = error
                final = True
                break
            failed = None
            try:
                with reading_answer("a poll answer"):
                    for item in _task_items(answer.payload, task_uuid):
                        if item.get("status") == "error" or item.get("error") or item.get("errors"):
                            failed = self._item_error(item)
                        elif _is_result(item):
                            results.add(item)
                    generations = results.generations() if results.complete else []
            except MalformedAnswer:
                transient += 1  # like any other failed poll: poll again
                continue
            if failed is not None:
                record.error = failed
                final = True
                break
            if results.complete:
                record.generations = generations
                break
        record.notes["polls"] = polls
        if transient:
            record.notes["poll_errors"] = transient
        return final

    # -- stream ------------------------------------------------------------------------------------

    async def _stream(self, request: dict[str, Any], record: Attempt) -> None:
        if int(request.get("numberResults") or 1) > 1:
            record.error = ApiError(
                ErrorClass.PERMANENT,
                "streamNumberResults",
                "deliveryMethod stream supports numberResults 1 only (stream chunks carry no result index)",
                parameter="numberResults",
            )
            return
        timing = record.timing
        timing.sent = time.perf_counter()
        with self._pool.lease() as client:
            await self._stream_on(client, request, record)

    async def _stream_on(self, client: httpx.AsyncClient, request: dict[str, Any], record: Attempt) -> None:
        timing = record.timing
        async with client.stream(
            "POST", self.endpoint, content=dumps([request]), headers=SSE_HEADERS
        ) as response:
            timing.headers = time.perf_counter()
            record.http_status = response.status_code
            if response.status_code >= 400 or "text/event-stream" not in response.headers.get(
                "content-type", ""
            ):
                # A refusal before the stream started comes as an ordinary JSON answer.
                body = await response.aread()
                await self._stream_refused(request, record, response, body)
                return
            await self._read_stream(response, request["taskUUID"], record)

    async def _stream_refused(
        self, request: dict[str, Any], record: Attempt, response: httpx.Response, body: bytes
    ) -> None:
        result = PostResult(
            status=response.status_code,
            headers=response.headers,
            sent=record.timing.sent,
            headers_at=record.timing.headers,
        )
        try:
            result.payload = loads(body) if body.strip() else None
        except ValueError:
            result.error = (
                classify_status(response.status_code, headers=response.headers, body=body, scrub=self._redact)
                if response.status_code >= 400
                else malformed(
                    f"expected an event stream, got {excerpt(body, self._redact)}",
                    http_status=response.status_code,
                    scrub=self._redact,
                )
            )
        if (error := self._answer_error(result, request["taskUUID"])) is not None:
            record.error = error
            return
        with reading_answer():
            items = [i for i in _task_items(result.payload, request["taskUUID"]) if _is_result(i)]
            if not items:
                record.error = malformed(
                    "expected an event stream or a result", http_status=response.status_code
                )
                return
            record.generations = [to_generation(items[0], 0)]

    async def _read_stream(self, response: httpx.Response, task_uuid: str, record: Attempt) -> None:
        timing = record.timing
        # aiter_bytes, not aiter_raw: a proxy may gzip the stream; chunks are still stamped on arrival.
        reader = SSEReader(response.aiter_bytes())
        text: list[str] = []
        reasoning: list[str] = []
        final: dict[str, Any] = {}
        sim_sent: list[tuple[float, float]] = []
        answered = False  # a chunk for this task carried text, reasoning or a finishReason
        stream = JSONStream(reader, timing, self._redact)
        async for chunk, arrived in stream:
            if chunk.get("errors") or chunk.get("error"):
                errors = _task_errors(chunk, task_uuid) or [
                    {"code": "streamError", "message": self._redact.clip(str(chunk), 300)}
                ]
                record.error = classify_runware_error(
                    errors[0], default=ErrorClass.TRANSIENT, scrub=self._redact
                )
                record.notes["partial_chars"] = sum(map(len, text))
                return
            ours = chunk.get("taskUUID") in (None, task_uuid)
            delta = chunk.get("delta")
            if isinstance(delta, dict):
                piece = delta.get("text")
                thought = join_reasoning(delta.get("reasoningContent"), separator="")
                if piece:
                    text.append(str(piece))
                if thought:
                    reasoning.append(thought)
                if piece or thought:
                    answered = answered or ours
                    stamp_token(timing, arrived)
            for key in ("finishReason", "usage", "cost", "seed"):
                if chunk.get(key) is not None:
                    final[key] = chunk[key]
            if chunk.get("finishReason") is not None:
                answered = answered or ours
            if isinstance(chunk.get("simSentAt"), float):
                # The sim's own send time (same monotonic clock as perf_counter on one host): with
                # the arrival stamps it measures the harness's overhead per event.
                sim_sent.append((chunk["simSentAt"], arrived))
        if stream.error is not None:
            record.error = stream.error
            return
        if sim_sent:
            record.notes["sim_event_delays"] = [arrived - sent for sent, arrived in sim_sent]
        if reader.comments:
            record.notes["keepalive_comments"] = reader.comments
        if not stream.done:
            record.error = stream.incomplete(response.status_code)
            record.notes["partial_chars"] = sum(map(len, text))
            return
        if not answered:
            # "data: [DONE]" alone (or only empty deltas) is not an empty answer: nothing was said.
            record.error = malformed(
                "the stream carried no text, reasoning or finishReason for this task",
                http_status=response.status_code,
            )
            return
        item = {"text": "".join(text), "reasoningContent": "".join(reasoning) or None, **final}
        with reading_answer("the stream"):
            record.generations = [to_generation(item, 0)]
