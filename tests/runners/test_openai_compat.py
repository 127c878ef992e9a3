"""The OpenAI-compatible provider: against the embedded server's OpenAI door, and parsing edge cases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from evals.errors import ConfigError
from evals.model_spec import DEFAULT_MODEL, get_spec
from evals.records import ErrorClass
from evals.suite import Target
from runners.providers import OpenAICompatProvider, open_provider
from runners.providers.openai_compat import chat_request
from runners.server import ServerConfig, serve_in_background
from tests.runners.test_runware_mock import make_task

ALL_SETTINGS = {
    "systemPrompt": "Be brief.",
    "temperature": 0.3,
    "topP": 0.9,
    "topK": 40,
    "minP": 0.05,
    "maxTokens": 32,
    "frequencyPenalty": 0.1,
    "presencePenalty": 0.2,
    "repetitionPenalty": 1.1,
    "stopSequences": ["\n\n"],
    "thinkingLevel": "low",
}


@pytest.fixture(scope="module")
def door_url() -> Iterator[str]:
    with serve_in_background(ServerConfig(engine="sim", sim={"zero_latency": True})) as handle:
        yield handle.openai_url


def test_mapping_of_every_setting() -> None:
    body, unverified, unsent = chat_request(
        make_task(settings={**ALL_SETTINGS, "futureSetting": 1}, numberResults=2).request, stream=True
    )
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1] == {"role": "user", "content": "Hello"}
    expected = {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "min_p": 0.05,
        "max_tokens": 32,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "repetition_penalty": 1.1,
        "stop": ["\n\n"],
        "reasoning_effort": "low",
        "seed": 1234,
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "model": DEFAULT_MODEL,
    }
    assert {k: v for k, v in body.items() if k != "messages"} == expected
    assert sorted(unverified) == ["minP", "repetitionPenalty", "thinkingLevel", "topK"]
    assert unsent == ["futureSetting"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["sync", "stream"])
async def test_door_answers_with_usage_and_price_table_cost(door_url: str, method: str) -> None:
    async with OpenAICompatProvider(endpoint=door_url) as p:
        attempt = await p.send(make_task(deliveryMethod=method, settings=ALL_SETTINGS), "u-1", 1)
    assert attempt.ok, attempt.error
    (generation,) = attempt.generations
    assert generation.text and generation.finish_reason in ("stop", "length")
    assert attempt.usage is not None and attempt.usage.prompt_tokens and attempt.usage.completion_tokens
    price = get_spec(DEFAULT_MODEL).price  # type: ignore[union-attr]
    assert price is not None
    assert attempt.cost == pytest.approx(
        price.cost(attempt.usage.prompt_tokens, attempt.usage.completion_tokens)
    )
    assert generation.cost_source == "price_table" and attempt.notes["cost_source"] == "price_table"
    assert sorted(attempt.notes["unverified_settings"]) == [
        "minP",
        "repetitionPenalty",
        "thinkingLevel",
        "topK",
    ]
    if method == "stream":
        t = attempt.timing
        assert t.first_token is not None and t.sent is not None and t.done is not None
        assert t.sent <= t.first_token <= t.done and t.token_events


@pytest.mark.anyio
async def test_door_n_results(door_url: str) -> None:
    async with OpenAICompatProvider(endpoint=door_url) as p:
        attempt = await p.send(make_task(numberResults=3), "u-2", 1)
    assert attempt.ok, attempt.error
    assert [g.index for g in attempt.generations] == [0, 1, 2]
    # Usage covers the request: it is the task's, not any one generation's.
    assert attempt.usage is not None and all(g.usage is None for g in attempt.generations)
    assert attempt.cost is not None


@pytest.mark.anyio
async def test_door_refusal_is_permanent(door_url: str) -> None:
    async with OpenAICompatProvider(endpoint=door_url) as p:
        attempt = await p.send(make_task(settings={"temperature": 9}), "u-3", 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.http_status) == (ErrorClass.PERMANENT, 400)
    assert "temperature" in attempt.error.message


@pytest.mark.anyio
async def test_factory_requires_an_endpoint_and_uses_it(door_url: str) -> None:
    with pytest.raises(ConfigError, match="endpoint"):
        open_provider(Target(provider="openai"))
    async with open_provider(Target(provider="openai", endpoint=door_url)) as p:
        assert isinstance(p, OpenAICompatProvider)
        attempt = await p.send(make_task(deliveryMethod="async"), "u-4", 1)
    assert attempt.ok and "delivery_fallback" in attempt.notes


def mock(handler: Any) -> OpenAICompatProvider:
    return OpenAICompatProvider(endpoint="http://mock.invalid/v1/", transport=httpx.MockTransport(handler))


def completion(**message: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 20,
            "total_tokens": 30,
            "completion_tokens_details": {"reasoning_tokens": 15},
        },
        "extra": "ignored",
    }


@pytest.mark.anyio
async def test_reasoning_content_and_reasoning_tokens_are_kept_apart() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["x-request-id"] == "u-5"
        return httpx.Response(200, json=completion(content="42", reasoning_content="6 times 7"))

    async with mock(handler) as p:
        attempt = await p.send(make_task(), "u-5", 1)
    (generation,) = attempt.generations
    assert (generation.text, generation.reasoning) == ("42", "6 times 7")
    assert generation.usage is not None and generation.usage.thinking_tokens == 15
    price = get_spec(DEFAULT_MODEL).price  # type: ignore[union-attr]
    assert price is not None
    # completion_tokens already includes the reasoning tokens: they are billed once, not added again.
    assert attempt.cost == pytest.approx(price.cost(10, 20))


def sse_body(*events: Any, done: bool = True) -> bytes:
    out = b": keep-alive\n\n" + b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.mark.anyio
async def test_stream_with_empty_deltas_reasoning_and_usage_on_the_last_chunk() -> None:
    body = sse_body(
        chunk({"role": "assistant"}),
        chunk({"reasoning": "hmm"}),
        chunk({"content": "4"}),
        chunk({}),
        chunk({"content": "2"}, "length"),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
    )

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with mock(handler) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), "u-6", 1)
    assert attempt.ok, attempt.error
    (generation,) = attempt.generations
    assert (generation.text, generation.reasoning, generation.finish_reason) == ("42", "hmm", "length")
    assert attempt.usage is not None and attempt.usage.total_tokens == 7
    assert len(attempt.timing.token_events) == 3 and len(attempt.timing.events) == 7
    assert attempt.notes["keepalive_comments"] == 1


@pytest.mark.anyio
async def test_stream_without_done_and_stream_error_event() -> None:
    def no_done(request: httpx.Request) -> httpx.Response:
        body = sse_body(chunk({"content": "4"}), done=False)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    def error_event(request: httpx.Request) -> httpx.Response:
        body = sse_body(chunk({"content": "4"}), {"error": {"message": "oom", "code": "server_error"}})
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with mock(no_done) as p:
        incomplete = await p.send(make_task(deliveryMethod="stream"), "u-7", 1)
    async with mock(error_event) as p:
        failed = await p.send(make_task(deliveryMethod="stream"), "u-8", 1)
    assert incomplete.error is not None and incomplete.error.code == "streamIncomplete"
    assert failed.error is not None and failed.error.code == "server_error"
    assert failed.error.error_class is ErrorClass.TRANSIENT and failed.generations == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            401,
            {"error": {"message": "bad key", "type": "auth", "code": "invalid_api_key"}},
            ErrorClass.FATAL,
            "invalid_api_key",
        ),
        (429, {"error": {"message": "slow down", "type": "rate_limit"}}, ErrorClass.THROTTLED, "rate_limit"),
        (400, {"detail": "model not found"}, ErrorClass.PERMANENT, "http400"),
        (503, b"upstream down", ErrorClass.THROTTLED, "http503"),
        (200, {"choices": []}, ErrorClass.TRANSIENT, "malformedResponse"),
        (200, b"<html>", ErrorClass.TRANSIENT, "malformedResponse"),
    ],
)
async def test_error_answers(status: int, body: Any, expected: ErrorClass, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    async with mock(handler) as p:
        attempt = await p.send(make_task(), "u-9", 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.code) == (expected, code)


@pytest.mark.anyio
async def test_unknown_model_has_unknown_cost() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion(content="x"))

    async with mock(handler) as p:
        attempt = await p.send(make_task(model="someone/unpriced-model"), "u-10", 1)
    assert attempt.ok and attempt.cost is None and attempt.generations[0].cost is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        {"choices": [{"index": None, "message": {"content": "4"}, "finish_reason": "stop"}]},
        {"choices": [{"index": "0", "message": {"content": "4"}}]},
        {"choices": [{"index": 0, "message": "4"}]},
        {"choices": ["4"]},
        {"choices": [{"index": 0, "message": {"content": "4"}}], "usage": "lots"},
    ],
    ids=["null-index", "string-index", "string-message", "string-choice", "string-usage"],
)
async def test_a_wrongly_shaped_answer_is_malformed_not_a_crash(answer: dict[str, Any]) -> None:
    async with mock(lambda request: httpx.Response(200, json=answer)) as p:
        attempt = await p.send(make_task(), "u-11", 1)
    if answer.get("usage") == "lots":  # usage of the wrong type is only unknown usage
        assert attempt.ok and attempt.usage is None
        return
    assert attempt.error is not None and attempt.error.code == "malformedResponse"
    assert attempt.error.error_class is ErrorClass.TRANSIENT and attempt.generations == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "event",
    [
        {"choices": [{"index": None, "delta": {"content": "4"}}]},
        {"choices": [{"index": 0, "delta": "4"}]},
        {"choices": "4"},
        {"choices": [7]},
    ],
    ids=["null-index", "string-delta", "string-choices", "number-choice"],
)
async def test_a_wrongly_shaped_stream_event_is_malformed_not_a_crash(event: dict[str, Any]) -> None:
    body = sse_body(chunk({"content": "4"}), event)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with mock(handler) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), "u-12", 1)
    assert attempt.error is not None and attempt.error.code == "malformedResponse"
    assert attempt.error.error_class is ErrorClass.TRANSIENT and attempt.generations == []


def one_choice_server(seen: list[dict[str, Any]], fail_after: int | None = None, status: int = 429) -> Any:
    """A server that ignores ``n``: one choice per request, its text naming the seed it was sent."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        seen.append({**sent, "request_id": request.headers["x-request-id"]})
        if fail_after is not None and len(seen) > fail_after:
            return httpx.Response(status, json={"error": {"message": "busy", "code": "server_busy"}})
        answer = completion(content=f"seed {sent.get('seed')}")
        answer["usage"] = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        return httpx.Response(200, json=answer)

    return handler


@pytest.mark.anyio
async def test_a_server_that_ignores_n_gets_separate_requests_then_is_remembered() -> None:
    seen: list[dict[str, Any]] = []
    price = get_spec(DEFAULT_MODEL).price  # type: ignore[union-attr]
    assert price is not None
    one_cost = price.cost(10, 20)
    assert one_cost is not None
    async with mock(one_choice_server(seen)) as p:
        first = await p.send(make_task(numberResults=3), "u-13", 1)
        assert p.ignores_n
        later = await p.send(make_task(numberResults=3, seed=2**32 - 1), "u-14", 1)
        single = await p.send(make_task(), "u-15", 1)

    # First task: one request with n, then the two missing results alone, result i with seed + i.
    assert [s.get("n") for s in seen[:3]] == [3, None, None]
    assert sorted(s["seed"] for s in seen[1:3]) == [1235, 1236]
    assert sorted(s["request_id"] for s in seen[:3]) == ["u-13", "u-13-1", "u-13-2"]
    assert first.ok, first.error
    assert [(g.index, g.text, g.seed) for g in first.generations] == [
        (0, "seed 1234", 1234),
        (1, "seed 1235", 1235),
        (2, "seed 1236", 1236),
    ]
    assert first.notes["n_fallback"] == 2 and "1 of 3" in first.notes["n_fallback_reason"]
    assert "missing_results" not in first.notes
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (
        30,
        60,
        90,
    )
    assert all(g.usage is not None and g.usage.completion_tokens == 20 for g in first.generations)
    assert first.cost == pytest.approx(3 * one_cost)
    t = first.timing
    assert t.sent is not None and t.headers is not None and t.done is not None
    assert t.sent <= t.headers <= t.done

    # Later tasks go straight to n separate requests (no n sent); seeds wrap at 2**32.
    assert all("n" not in s for s in seen[3:6])
    assert sorted(s["seed"] for s in seen[3:6]) == [0, 1, 2**32 - 1]
    assert later.ok, later.error
    assert [(g.index, g.seed) for g in later.generations] == [(0, 2**32 - 1), (1, 0), (2, 1)]
    assert later.notes["n_fallback"] == 2 and "ignored n before" in later.notes["n_fallback_reason"]
    assert later.usage is not None and later.usage.total_tokens == 90 and later.http_status == 200
    assert later.cost == pytest.approx(3 * one_cost)

    # numberResults 1 is untouched.
    assert len(seen) == 7 and "n" not in seen[6] and "n_fallback" not in single.notes


@pytest.mark.anyio
async def test_a_server_honouring_n_gets_one_request() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        seen.append(sent)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": str(i)}, "finish_reason": "stop"}
            for i in range(sent.get("n", 1))
        ]
        usage = {"prompt_tokens": 10, "completion_tokens": 60, "total_tokens": 70}
        return httpx.Response(200, json={"choices": choices, "usage": usage})

    async with mock(handler) as p:
        attempt = await p.send(make_task(numberResults=3), "u-16", 1)
        assert not p.ignores_n
    assert attempt.ok, attempt.error
    assert [s.get("n") for s in seen] == [3]
    assert [g.text for g in attempt.generations] == ["0", "1", "2"]
    assert "n_fallback" not in attempt.notes
    assert attempt.usage is not None and attempt.usage.total_tokens == 70


@pytest.mark.anyio
async def test_a_partial_answer_is_completed_but_not_remembered() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        seen.append(sent)
        count = min(sent.get("n", 1), 2)  # a server that caps n at 2
        choices = [
            {"index": i, "message": {"content": f"{sent['seed']}/{i}"}, "finish_reason": "stop"}
            for i in range(count)
        ]
        return httpx.Response(200, json={"choices": choices})  # and reports no usage

    async with mock(handler) as p:
        attempt = await p.send(make_task(numberResults=3), "u-17", 1)
        assert not p.ignores_n
    assert attempt.ok, attempt.error
    assert [g.text for g in attempt.generations] == ["1234/0", "1234/1", "1236/0"]
    assert [s.get("n") for s in seen] == [3, None]
    assert attempt.notes["n_fallback"] == 1
    assert attempt.usage is None and attempt.cost is None  # unknown usage is never counted as zero


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "expected"), [(429, ErrorClass.THROTTLED), (400, ErrorClass.PERMANENT)])
async def test_a_failed_extra_request_fails_the_attempt(status: int, expected: ErrorClass) -> None:
    seen: list[dict[str, Any]] = []
    async with mock(one_choice_server(seen, fail_after=1, status=status)) as p:
        attempt = await p.send(make_task(numberResults=3), "u-18", 1)
    assert len(seen) == 3
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.code) == (expected, "server_busy")
    assert attempt.http_status == status and attempt.notes["n_fallback"] == 2
    assert attempt.generations == [] and attempt.cost is None


@pytest.mark.anyio
async def test_a_stream_with_fewer_choices_than_n_is_a_transient_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["n"] == 3
        body = sse_body(chunk({"content": "4"}, "stop"))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with mock(handler) as p:
        attempt = await p.send(make_task(numberResults=3, deliveryMethod="stream"), "u-19", 1)
        assert not p.ignores_n
    assert attempt.error is not None and attempt.error.code == "missingResults"
    assert attempt.error.error_class is ErrorClass.TRANSIENT
    assert attempt.generations == [] and attempt.cost is None and attempt.notes["missing_results"] == 2
