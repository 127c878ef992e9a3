"""The OpenAI-compatible door: ``POST /v1/chat/completions`` (streaming too) and ``GET /v1/models``.

Requests are mapped onto the same engine, bounds and price table as the native API. This door has
no taskUUID, no async delivery and no fault injection, as on Runware; it shares the queue (and the
sim's ``capacity``) with the native API.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from runners.server.engines import GenerationOutput, GenerationRequest
from runners.server.protocol import ProtocolError
from runners.server.wire import RawResponse, json_response, parse_json, read_body, sse

if TYPE_CHECKING:
    from runners.server.app import ServerState

log = logging.getLogger(__name__)

# OpenAI request field -> Runware setting (checked against the model spec's bounds).
SETTING_OF = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "min_p": "minP",
    "max_tokens": "maxTokens",
    "max_completion_tokens": "maxTokens",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "repetition_penalty": "repetitionPenalty",
    "stop": "stopSequences",
    "reasoning_effort": "thinkingLevel",
}
ACCEPTED = frozenset(SETTING_OF) | {"model", "messages", "seed", "n", "stream", "stream_options", "user"}


def openai_error(exc: ProtocolError) -> Response:
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    body = {"error": {"message": exc.message, "type": kind, "param": exc.parameter, "code": exc.code}}
    return json_response(body, exc.status)


class OpenAIDoor:
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def models(self, request: Request) -> Response:
        try:
            self.state.check_key(request)
        except ProtocolError as exc:
            return openai_error(exc)
        model = {"id": self.state.config.model_alias, "object": "model", "created": 0, "owned_by": "local"}
        return json_response({"object": "list", "data": [model]})

    async def chat_completions(self, request: Request) -> Response:
        try:
            self.state.check_key(request)
            body = parse_json(await read_body(request, self.state.config.max_body_bytes))
            return await self._complete(body)
        except ProtocolError as exc:
            return openai_error(exc)
        except RecursionError:  # a backstop: input nested too deeply for some check
            return openai_error(ProtocolError(400, "invalid_request_error", "the body is nested too deeply"))
        except Exception:  # never a traceback on the wire
            log.exception("unexpected error answering POST /v1/chat/completions")
            return openai_error(ProtocolError(500, "internal_error", "unexpected server error"))

    def _parse(
        self, body: Any
    ) -> tuple[list[dict[str, str]], str | None, dict[str, Any], int, int, bool, bool]:
        def bad(message: str, param: str | None) -> ProtocolError:
            return ProtocolError(400, "invalid_request_error", message, param)

        if not isinstance(body, dict):
            raise bad("the body must be a JSON object", None)
        for key in sorted(set(body) - ACCEPTED):
            raise bad(f"unsupported parameter {key!r}", key)
        if body.get("model") != self.state.config.model_alias:
            raise bad(f"model must be {self.state.config.model_alias!r}", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("messages must be a non-empty array", "messages")
        system: list[str] = []
        turns: list[dict[str, str]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
                raise bad(f"messages[{i}] needs a role of system, user or assistant", f"messages[{i}]")
            if not isinstance(m.get("content"), str):
                raise bad(f"messages[{i}].content must be a string", f"messages[{i}].content")
            if m["role"] in ("system", "developer"):
                system.append(m["content"])
            else:
                turns.append({"role": m["role"], "content": m["content"]})
        if not turns or turns[-1]["role"] != "user":
            raise bad("the last message must have role user", "messages")

        spec = self.state.spec
        settings = spec.setting_defaults()
        for key, name in SETTING_OF.items():
            if body.get(key) is None:
                continue
            value = body[key]
            if name == "stopSequences" and isinstance(value, str):
                value = [value]
            if (reason := spec.settings[name].check(value)) is not None:
                raise bad(f"{key}: {reason}", key)
            settings[name] = value
        seed = body.get("seed")
        if seed is None:
            seed = secrets.randbelow(2**32)
        elif (reason := spec.task["seed"].check(seed)) is not None:
            raise bad(f"seed: {reason}", "seed")
        n = body.get("n", 1)
        if (reason := spec.task["numberResults"].check(n)) is not None:
            raise bad(f"n: {reason}", "n")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad("stream must be true or false", "stream")
        if stream and n > 1:
            raise bad("n > 1 cannot be streamed here", "n")
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        return turns, "\n\n".join(system) or None, settings, seed, n, stream, include_usage

    async def _complete(self, body: Any) -> Response:
        turns, system, settings, seed, n, stream, include_usage = self._parse(body)
        store = self.state.store
        capacity = self.state.capacity  # the sim's capacity, shared with the native API
        if capacity is not None and store.in_flight + n > capacity:
            store.count(store.faults, "capacity")
            raise ProtocolError(
                429, "rate_limit_exceeded", f"over the capacity of {capacity} concurrent tasks; retry later"
            )
        if store.in_flight + n > self.state.config.queue_size:
            raise ProtocolError(429, "rate_limit_exceeded", "the model's queue is full; retry later")
        requests = [
            GenerationRequest(tuple(turns), system, settings, (seed + i) % 2**32, result_index=i)
            for i in range(n)
        ]
        ident = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        model = self.state.config.model_alias
        if stream:
            return RawResponse(
                self._stream(requests[0], ident, created, model, include_usage),
                media_type="text/event-stream",
            )
        store.in_flight += n
        try:
            outputs = [await self.state.engine.generate(r) for r in requests]
        finally:
            store.in_flight -= n
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": out.text},
                "finish_reason": out.finish_reason,
            }
            for i, out in enumerate(outputs)
        ]
        return json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": self._usage(outputs),
            }
        )

    @staticmethod
    def _usage(outputs: list[GenerationOutput]) -> dict[str, Any]:
        """OpenAI's usage: ``completion_tokens`` include the reasoning tokens, which
        ``completion_tokens_details.reasoning_tokens`` gives apart (the engine counts them apart)."""
        prompt = outputs[0].prompt_tokens if outputs else 0
        reasoning = sum(o.thinking_tokens for o in outputs)
        completion = sum(o.completion_tokens for o in outputs) + reasoning
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    async def _stream(
        self, request: GenerationRequest, ident: str, created: int, model: str, include_usage: bool
    ) -> AsyncIterator[bytes]:
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        outcome: list[GenerationOutput | BaseException] = []
        store = self.state.store
        group = self.state.task_group
        assert group is not None

        async def produce() -> None:
            # Runs in the server's task group, like native tasks: a client that leaves stops nothing.
            store.in_flight += 1
            try:
                outcome.append(await self.state.engine.generate(request, send.send_nowait))
            except Exception as exc:
                outcome.append(exc)
            finally:
                store.in_flight -= 1
                send.close()

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            return sse(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        group.start_soon(produce)
        yield chunk({"role": "assistant"}, None)
        with receive:
            async for piece in receive:
                if piece:
                    yield chunk({"content": piece}, None)
        out = outcome[0]
        if isinstance(out, BaseException):
            yield sse(
                {
                    "error": {
                        "message": "generation failed",
                        "type": "server_error",
                        "code": "inference_failed",
                    }
                }
            )
            return
        yield chunk({}, out.finish_reason)
        if include_usage:
            yield sse(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": self._usage([out]),
                }
            )
        yield b"data: [DONE]\n\n"
