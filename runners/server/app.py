"""The Starlette application: Runware's ``POST /v1`` plus an OpenAI-compatible door, on one engine.

Every admitted textInference task runs as a job in the server's own task group, apart from the
HTTP request that brought it: a client that drops its connection does not stop (or un-pay) the
generation, so a retry with the same taskUUID gets ``conflictTaskUUID`` and ``getResponse`` finds the
result. The delivery method only decides how the answer waits: sync awaits the job, async
acknowledges at once, stream relays the job's text as Server-Sent Events.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runners.server import faults as fault_rules
from runners.server.config import ServerConfig
from runners.server.engines import Engine, GenerationOutput, GenerationRequest, make_engine
from runners.server.protocol import (
    InferenceTask,
    ProtocolError,
    echo,
    parse_get_response,
    parse_text_inference,
    short,
    spec_for,
)
from runners.server.tasks import TaskRecord, TaskStore
from runners.server.webhook_sender import WebhookSender
from runners.server.wire import (
    DROP,
    RawResponse,
    dumps,
    error_response,
    json_response,
    parse_json,
    read_body,
    sse,
)

log = logging.getLogger(__name__)

Event = tuple[str, Any]  # ("text", piece) | ("error", ProtocolError), sent from a job to its stream
YIELD_EVERY = 64
"""While working through a large POST, give the event loop a turn after this many tasks."""


class _MidstreamAbort(Exception):
    """Raised inside a job to inject the ``midstream_error`` fault after the first piece of text."""


class _DropFaultNoise(logging.Filter):
    """Hide uvicorn's complaint about a response cut on purpose by the ``drop`` fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


@dataclass
class ServerState:
    """Everything the routes share: configuration, engine, task store, background task group."""

    config: ServerConfig
    engine: Engine
    store: TaskStore
    webhooks: WebhookSender | None = None
    task_group: TaskGroup | None = None

    def __post_init__(self) -> None:
        self.spec = spec_for(self.config.model_alias)
        self.sim = self.config.sim_options
        # Faults are a simulator feature: the real model always answers straight.
        self.fault_rates = dict(self.sim.faults) if self.config.engine == "sim" else {}
        self.capacity = self.sim.capacity if self.config.engine == "sim" else None

    # --- admission and jobs -------------------------------------------------------------------

    def admit(
        self, task: InferenceTask, attempt: int, sink: MemoryObjectSendStream[Event] | None
    ) -> TaskRecord:
        """Claim the UUID, apply faults and limits, and start the job; raise ProtocolError to refuse."""
        record = self.store.claim(task)
        try:
            self._start(record, attempt, sink)
        except BaseException:
            if record.status == "processing" and self.store.records.get(task.key) is record:
                self.store.release(task.key)  # refused or failed before generation: nothing paid
            raise
        return record

    def _start(self, record: TaskRecord, attempt: int, sink: MemoryObjectSendStream[Event] | None) -> None:
        task = record.task
        fault = fault_rules.decide(self.fault_rates, self.sim.fault_seed, task.key, attempt)
        refusal: ProtocolError | None = None
        if fault in fault_rules.PRE_GENERATION:
            assert fault is not None
            self.store.count(self.store.faults, fault)
            refusal = ProtocolError(
                fault_rules.STATUS_OF[fault],
                fault_rules.CODE_OF[fault],
                f"injected fault {fault}",
                task_type="textInference",
                task_uuid=task.task_uuid,
            )
        elif self.capacity is not None and self.store.in_flight >= self.capacity:
            self.store.count(self.store.faults, "capacity")
            refusal = ProtocolError(
                429, "tooManyRequests", f"over the capacity of {self.capacity} concurrent tasks",
                task_type="textInference", task_uuid=task.task_uuid,
            )  # fmt: skip
        elif self.store.in_flight >= self.config.queue_size:
            refusal = ProtocolError(
                429, "tooManyRequests", "the model's queue is full; retry later",
                task_type="textInference", task_uuid=task.task_uuid,
            )  # fmt: skip
        if refusal is not None:
            raise refusal  # admit() releases the UUID: refused before generation, nothing paid
        record.fault = self._applicable(fault, task)
        assert self.task_group is not None
        self.task_group.start_soon(self.run_job, record, sink)
        self.store.in_flight += 1

    @staticmethod
    def _applicable(fault: str | None, task: InferenceTask) -> str | None:
        if fault in fault_rules.STREAM_ONLY and task.delivery_method != "stream":
            return None
        if fault == "duplicate_webhook" and task.webhook_url is None:
            return None
        return fault

    async def run_job(self, record: TaskRecord, sink: MemoryObjectSendStream[Event] | None) -> None:
        task = record.task
        uuid = task.task_uuid  # as sent: what the answers carry
        key = task.key  # canonical: what the store counts under

        def on_text(piece: str) -> None:
            if sink is not None:
                try:
                    sink.send_nowait(("text", piece))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the client left; the generation carries on and is kept
            if record.fault == "midstream_error":
                raise _MidstreamAbort

        try:
            for index in range(task.number_results):
                request = GenerationRequest(
                    messages=task.messages,
                    system_prompt=task.system_prompt,
                    settings=task.settings,
                    seed=task.result_seed(index),
                    task_uuid=key,
                    result_index=index,
                )
                # Without a listener, no per-piece callback: sync and async pay no streaming cost.
                wants_text = sink is not None or record.fault == "midstream_error"
                output = await self.engine.generate(request, on_text if wants_text else None)
                if record.fault == "midstream_error":
                    raise _MidstreamAbort  # an empty answer: break before it is paid
                item = self.result_item(task, index, output)
                record.results.append(item)
                self.store.count(self.store.paid_results, key)
                if task.webhook_url is not None:
                    self.send_webhook(record, item)
            self.store.count(self.store.paid, key)
            record.status = "success"
        except _MidstreamAbort:
            self.store.count(self.store.faults, "midstream_error")
            self.store.release(key)  # discarded, not paid: the same taskUUID may be sent again
            record.status = "error"
            record.error = ProtocolError(
                500,
                "streamError",
                "injected fault midstream_error",
                task_type="textInference",
                task_uuid=uuid,
            )
        except Exception as exc:
            log.exception("generation failed for task %s", uuid)
            record.status = "error"
            record.error = ProtocolError(
                500, "inferenceFailed", f"generation failed: {type(exc).__name__}",
                task_type="textInference", task_uuid=uuid,
            )  # fmt: skip
        finally:
            if record.status == "processing":  # cancelled (server shutdown)
                record.status = "error"
                record.error = ProtocolError(
                    503, "serviceUnavailable", "the server stopped", task_type="textInference", task_uuid=uuid
                )
            self.store.in_flight -= 1
            self.store.finish(record)
            if sink is not None:
                if record.error is not None:
                    try:
                        sink.send_nowait(("error", record.error))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                sink.close()

    def result_item(self, task: InferenceTask, index: int, output: GenerationOutput) -> dict[str, Any]:
        item: dict[str, Any] = {
            "taskType": "textInference",
            "taskUUID": task.task_uuid,
            "text": output.text,
            "finishReason": output.finish_reason,
            "seed": task.result_seed(index),
            "resultIndex": index,
        }
        if task.include_usage:
            item["usage"] = {
                "promptTokens": output.prompt_tokens,
                "completionTokens": output.completion_tokens,
                "totalTokens": output.prompt_tokens + output.completion_tokens + output.thinking_tokens,
                "thinkingTokens": output.thinking_tokens,
            }
        if task.include_cost:
            item["cost"] = self.cost(output)
        return item

    def cost(self, output: GenerationOutput) -> float | None:
        """Reference price from the model spec; thinking tokens are billed as output. None if unpriced."""
        if self.spec.price is None:
            return None
        cost = self.spec.price.cost(output.prompt_tokens, output.completion_tokens + output.thinking_tokens)
        # Rounded to a millionth of a cent, so binary float noise does not reach the wire.
        return None if cost is None else round(cost, 12)

    def send_webhook(self, record: TaskRecord, item: dict[str, Any]) -> None:
        assert self.webhooks is not None and self.task_group is not None
        url = record.task.webhook_url
        assert url is not None
        key = record.task.key
        copies = 1
        if record.fault == "duplicate_webhook":
            self.store.count(self.store.faults, "duplicate_webhook")
            copies = 2
        for _ in range(copies):
            self.task_group.start_soon(
                self.webhooks.deliver, url, item, lambda: self.store.count(self.store.webhook_posts, key)
            )

    # --- HTTP ---------------------------------------------------------------------------------

    def check_key(self, request: Request, tasks: list[Any] | None = None) -> None:
        """401 ``invalidApiKey`` unless the configured key came in the header or an authentication task."""
        expected = self.config.api_key
        if expected is None:
            return
        given = None
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            given = header[7:].strip()
        for obj in tasks or []:
            if isinstance(obj, dict) and obj.get("taskType") == "authentication":
                given = obj.get("apiKey") if isinstance(obj.get("apiKey"), str) else given
        if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
            raise ProtocolError(
                401, "invalidApiKey", "missing or invalid API key", task_type="authentication"
            )

    async def runware(self, request: Request) -> Response:
        try:
            return await self._runware(request)
        except ProtocolError as exc:
            return error_response([exc])
        except RecursionError:  # a backstop: input nested too deeply for some check
            return error_response([ProtocolError(400, "invalidRequestBody", "the body is nested too deeply")])
        except Exception:  # never a traceback on the wire, and the server keeps serving
            log.exception("unexpected error answering POST /v1")
            return error_response([ProtocolError(500, "internalServerError", "unexpected server error")])

    @staticmethod
    def _task_failure(obj: Any, exc: Exception) -> ProtocolError:
        """An unexpected exception while handling one task, as that task's own error."""
        task_type = echo(obj.get("taskType")) if isinstance(obj, dict) else None
        task_uuid = echo(obj.get("taskUUID")) if isinstance(obj, dict) else None
        if isinstance(exc, RecursionError):
            return ProtocolError(
                400, "invalidParameter", "the task is nested too deeply", None, task_type, task_uuid
            )
        log.error("unexpected error handling task %s", task_uuid, exc_info=exc)
        return ProtocolError(
            500, "internalServerError", "unexpected server error", None, task_type, task_uuid
        )

    async def _runware(self, request: Request) -> Response:
        body = await read_body(request, self.config.max_body_bytes)
        try:
            tasks = parse_json(body)
        except ProtocolError:
            self.check_key(request)  # without a valid key, a broken body is first of all unauthorised
            raise
        self.check_key(request, tasks if isinstance(tasks, list) else None)
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
            raise ProtocolError(
                400, "invalidRequestBody", "the body must be a non-empty JSON array of task objects"
            )
        if len(tasks) > self.config.max_tasks_per_post:
            raise ProtocolError(
                400,
                "tooManyTasks",
                f"a POST may carry at most {self.config.max_tasks_per_post} tasks; this one has "
                f"{len(tasks)}: split it",
            )
        work = [t for t in tasks if t.get("taskType") != "authentication"]
        if not work:
            raise ProtocolError(400, "invalidRequestBody", "the body holds no task besides authentication")

        # First validate every task, then start any: a bad task never costs another its answer.
        errors: list[ProtocolError] = []
        plan: list[tuple[dict[str, Any], InferenceTask | None, int]] = []  # (obj, task or poll, attempt)
        for i, obj in enumerate(work):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await anyio.sleep(0)  # a large POST must not hold the event loop
            try:
                if (checked := self._check_task(obj, len(work))) is not None:
                    plan.append(checked)
            except ProtocolError as exc:
                errors.append(exc)
            except Exception as exc:
                errors.append(self._task_failure(obj, exc))

        data: list[dict[str, Any]] = []
        admitted: list[TaskRecord] = []
        stream: tuple[TaskRecord, MemoryObjectReceiveStream[Event]] | None = None
        for i, (obj, task, attempt) in enumerate(plan):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await anyio.sleep(0)
            send: MemoryObjectSendStream[Event] | None = None
            receive: MemoryObjectReceiveStream[Event] | None = None
            try:
                if task is None:
                    self._poll(obj, data, errors)
                    continue
                if task.delivery_method == "stream":
                    send, receive = anyio.create_memory_object_stream[Event](math.inf)
                record = self.admit(task, attempt, send)
            except Exception as exc:
                if send is not None and receive is not None:
                    send.close()
                    receive.close()
                errors.append(exc if isinstance(exc, ProtocolError) else self._task_failure(obj, exc))
                continue
            if receive is not None:
                stream = (record, receive)
            else:
                admitted.append(record)

        if stream is not None:
            return RawResponse(self._sse(*stream), media_type="text/event-stream")

        for record in admitted:
            if record.task.delivery_method == "async":
                data.append({"taskType": "textInference", "taskUUID": record.task.task_uuid})
                continue
            await record.done.wait()
            data.extend(record.results)
            if record.error is not None:
                errors.append(record.error)

        payload: dict[str, Any] = {"data": data}
        if errors:
            payload["errors"] = [e.item() for e in errors]
        status = 200 if data or not errors else errors[0].status
        fault = next((r.fault for r in admitted if r.fault in ("drop", "stall", "malformed_json")), None)
        if fault is None:
            return json_response(payload, status)
        self.store.count(self.store.faults, fault)
        return self._faulty_answer(fault, dumps(payload), status)

    def _faulty_answer(self, fault: str, body: bytes, status: int) -> Response:
        stall = self.sim.stall_seconds

        async def chunks() -> AsyncIterator[bytes]:
            if fault == "drop":
                yield body[: len(body) // 2]
                yield DROP
            elif fault == "stall":
                await anyio.sleep(stall)
                yield body
            else:  # malformed_json
                yield body[: max(1, len(body) // 2)]

        length = len(body) if fault != "malformed_json" else max(1, len(body) // 2)
        return RawResponse(chunks(), status_code=status, content_length=length)

    def _check_task(
        self, obj: dict[str, Any], n_work: int
    ) -> tuple[dict[str, Any], InferenceTask | None, int] | None:
        """Validate one task object (raise ProtocolError to refuse it); None task means a poll."""
        task_type = obj.get("taskType")
        if task_type == "getResponse":
            return obj, None, 0
        if task_type != "textInference":
            raise ProtocolError(
                400,
                "invalidTaskType",
                f"unsupported taskType {short(task_type)}",
                "taskType",
                echo(task_type),
                echo(obj.get("taskUUID")),
            )
        task = parse_text_inference(obj, self.spec, self.config.model_alias)
        attempt = self.store.count_request(task.key)
        if task.delivery_method == "stream" and n_work > 1:
            raise ProtocolError(
                400,
                "invalidParameter",
                "a stream task must travel alone in its POST",
                "deliveryMethod",
                "textInference",
                task.task_uuid,
            )
        return obj, task, attempt

    def _poll(self, obj: dict[str, Any], data: list[dict[str, Any]], errors: list[ProtocolError]) -> None:
        try:
            key = parse_get_response(obj)
        except ProtocolError as exc:
            errors.append(exc)
            return
        uuid: str = obj["taskUUID"]  # echoed exactly as this poll sent it
        record = self.store.get(key)
        if record is None:  # not counted: unknown UUIDs must not grow the counters
            errors.append(
                ProtocolError(
                    400, "taskNotFound", "no task with this taskUUID", "taskUUID", "getResponse", uuid
                )
            )
            return
        self.store.count(self.store.polls, key)
        data.extend({**item, "taskUUID": uuid, "status": "success"} for item in record.results)
        if record.status == "processing":
            data.append({"taskType": "textInference", "taskUUID": uuid, "status": "processing"})
        elif record.status == "error" and record.error is not None:
            error = record.error
            errors.append(
                ProtocolError(
                    error.status,
                    error.code,
                    error.message,
                    error.parameter,
                    "textInference",
                    uuid,
                    {"status": "error"},
                )  # fmt: skip
            )

    async def _sse(
        self, record: TaskRecord, events: MemoryObjectReceiveStream[Event]
    ) -> AsyncIterator[bytes]:
        """The stream of one task: text deltas, then the final chunk with usage and cost, then [DONE]."""
        task = record.task
        fault = record.fault
        stamp = self.sim.report_send_time and self.config.engine == "sim"
        head = {"taskUUID": task.task_uuid, "taskType": "textInference"}
        first = True

        def event(payload: dict[str, Any]) -> bytes:
            if stamp:
                payload["simSentAt"] = time.monotonic()
            return sse(payload)

        with events:
            while True:
                # A comment line now and then keeps proxies and read timeouts from closing a stream
                # that waits in the queue or between slow tokens.
                with anyio.move_on_after(self.config.keepalive_seconds) as waited:
                    try:
                        kind, value = await events.receive()
                    except anyio.EndOfStream:
                        break
                if waited.cancelled_caught:
                    yield b": keep-alive\n\n"
                    continue
                if kind == "error":
                    yield sse({"errors": [value.item()]})
                    return
                chunk = event({**head, "delta": {"text": value}, "finishReason": None})
                if first and fault in ("drop", "stall", "malformed_json"):
                    self.store.count(self.store.faults, fault)
                    if fault == "drop":
                        yield chunk
                        yield DROP
                        return
                    if fault == "malformed_json":
                        chunk = chunk[: len(chunk) // 2] + b"\n\n"
                    else:
                        yield chunk
                        await anyio.sleep(self.sim.stall_seconds)
                        first = False
                        continue
                first = False
                yield chunk
        await record.done.wait()
        if record.error is not None:
            yield sse({"errors": [record.error.item()]})
            return
        final: dict[str, Any] = {**head, "delta": {}, "finishReason": record.results[0]["finishReason"]}
        for key in ("usage", "cost"):
            if key in record.results[0]:
                final[key] = record.results[0][key]
        yield event(final)
        if fault == "no_done":
            self.store.count(self.store.faults, "no_done")
            return
        yield b"data: [DONE]\n\n"

    async def stats(self, request: Request) -> Response:
        return json_response(self.store.stats())

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "engine": self.engine.name, "model": self.config.model_alias})


_HTTP_CODES = {404: ("notFound", "no such endpoint"), 405: ("methodNotAllowed", "method not allowed here")}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown path, wrong method), in the errors envelope."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code, message = _HTTP_CODES.get(status, ("internalServerError", "unexpected server error"))
    response = error_response(
        [ProtocolError(status, code, f"{message}: {request.method} {request.url.path[:200]}")]
    )
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # 405 keeps its Allow header
    return response


def build_app(config: ServerConfig) -> Starlette:
    """The ASGI application for ``config``; the engine loads in its lifespan."""
    from runners.server.openai_door import OpenAIDoor

    state = ServerState(config=config, engine=make_engine(config), store=TaskStore(config.result_ttl))
    door = OpenAIDoor(state)
    uvicorn_log = logging.getLogger("uvicorn.error")
    if state.fault_rates.get("drop") and not any(isinstance(f, _DropFaultNoise) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_DropFaultNoise())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.engine.start()
        state.webhooks = WebhookSender(config.webhook_retries, config.webhook_backoff, config.webhook_timeout)
        try:
            async with anyio.create_task_group() as group:
                state.task_group = group
                yield
                group.cancel_scope.cancel()  # shutdown: stop jobs and webhook retries
        finally:
            state.task_group = None
            await state.webhooks.aclose()
            await state.engine.aclose()

    app = Starlette(
        routes=[
            Route("/v1", state.runware, methods=["POST"]),
            Route("/v1/chat/completions", door.chat_completions, methods=["POST"]),
            Route("/v1/models", door.models, methods=["GET"]),
            Route("/_sim/stats", state.stats, methods=["GET"]),
            Route("/health", state.health, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: _http_error, 405: _http_error},
    )
    app.state.server = state
    return app
