"""The Runware client's parsing and splitting, against ``httpx.MockTransport`` answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from evals.model_spec import DEFAULT_MODEL, get_spec
from evals.records import ErrorClass, Sample, Task, Usage
from evals.suite import Polling, Timeouts
from runners.providers.batching import Batcher
from runners.providers.common import openai_output_tokens, runware_output_tokens
from runners.providers.runware import RunwareProvider

UUID = "a770f077-f413-47de-9dac-be0b26a35da6"
FAST_POLLING = Polling(initial=0.001, factor=1.5, max=0.005, deadline=2.0)


def make_task(task_id: str = "t1", **request: Any) -> Task:
    """A task with a complete Runware request (what suite expansion produces)."""
    body: dict[str, Any] = {
        "taskType": "textInference",
        "model": DEFAULT_MODEL,
        "deliveryMethod": "sync",
        "numberResults": 1,
        "includeCost": True,
        "includeUsage": True,
        "seed": 1234,
        "messages": [{"role": "user", "content": "Hello"}],
        "settings": {"maxTokens": 64, "temperature": 0.7},
    }
    body.update(request)
    return Task(
        id=task_id,
        cell_id="c1",
        sample_id="s1",
        replicate=0,
        seed=int(body["seed"]),
        request=body,
        sample=Sample(id="s1", input="Hello"),
    )


def result_item(task_uuid: str = UUID, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "taskType": "textInference",
        "taskUUID": task_uuid,
        "text": "Hi!",
        "finishReason": "stop",
        "seed": 1234,
        "usage": {"promptTokens": 12, "completionTokens": 3, "totalTokens": 15, "thinkingTokens": 0},
        "cost": 0.0000059,
    }
    item.update(fields)
    return item


Handler = Callable[[httpx.Request], httpx.Response]


def provider(handler: Handler, **options: Any) -> RunwareProvider:
    options.setdefault("polling", FAST_POLLING)
    return RunwareProvider(
        endpoint="http://mock.invalid/v1",
        api_key="test-key-0000",
        transport=httpx.MockTransport(handler),
        **options,
    )


def body_of(request: httpx.Request) -> list[dict[str, Any]]:
    return json.loads(request.content)


@pytest.mark.anyio
async def test_sync_answer_is_parsed_with_usage_cost_and_timing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [result_item(extraField={"ignored": True})]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.ok, attempt.error
    assert seen[0].headers["authorization"] == "Bearer test-key-0000"
    sent = body_of(seen[0])
    assert isinstance(sent, list) and sent[0]["taskUUID"] == UUID and sent[0]["taskType"] == "textInference"
    (generation,) = attempt.generations
    assert (generation.text, generation.finish_reason, generation.seed) == ("Hi!", "stop", 1234)
    assert generation.usage is not None and generation.usage.completion_tokens == 3
    assert generation.cost == pytest.approx(0.0000059) and generation.cost_source == "provider"
    assert attempt.cost == pytest.approx(0.0000059) and attempt.notes["cost_source"] == "provider"
    t = attempt.timing
    assert t.queued is not None and t.sent is not None and t.headers is not None and t.done is not None
    assert t.queued <= t.sent <= t.headers <= t.done
    assert attempt.http_status == 200 and attempt.number == 1 and attempt.task_uuid == UUID


@pytest.mark.anyio
async def test_items_without_usage_or_cost_are_priced_from_the_table_or_left_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item = result_item(usage={"promptTokens": 1000, "completionTokens": 100, "thinkingTokens": 50})
        del item["cost"]
        return httpx.Response(200, json={"data": [item]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 1)
    price = get_spec(DEFAULT_MODEL).price  # type: ignore[union-attr]
    assert price is not None
    assert attempt.cost == pytest.approx(price.cost(1000, 150))
    assert attempt.generations[0].cost_source == "price_table"

    def no_usage(request: httpx.Request) -> httpx.Response:
        item = result_item()
        del item["cost"], item["usage"]
        return httpx.Response(200, json={"data": [item]})

    async with provider(no_usage) as p:
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.ok and attempt.cost is None and attempt.usage is None
    assert attempt.generations[0].cost is None and attempt.generations[0].cost_source is None


@pytest.mark.anyio
async def test_number_results_gathered_into_one_task_ordered_by_result_index() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": [
                    result_item(text="b", seed=2, resultIndex=1, reasoningContent=["step 1", "step 2"]),
                    result_item(text="a", seed=1, resultIndex=0),
                ]
            },
        )

    async with provider(handler) as p:
        attempt = await p.send(make_task(numberResults=2), UUID, 1)
    assert [g.text for g in attempt.generations] == ["a", "b"]
    assert attempt.generations[1].reasoning == "step 1\nstep 2"
    assert attempt.cost == pytest.approx(2 * 0.0000059)
    assert attempt.usage is not None and attempt.usage.total_tokens == 30


@pytest.mark.anyio
async def test_batch_of_three_split_per_task_with_mixed_data_and_errors() -> None:
    posts: list[list[dict[str, Any]]] = []
    uuids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]

    def handler(request: httpx.Request) -> httpx.Response:
        tasks = body_of(request)
        posts.append(tasks)
        # Answer out of order: matching must be by taskUUID, never by position.
        return httpx.Response(
            200,
            json={
                "data": [result_item(uuids[2], text="two"), result_item(uuids[0], text="zero")],
                "errors": [
                    {
                        "code": "invalidTopK",
                        "message": "bad",
                        "parameter": "settings.topK",
                        "taskUUID": uuids[1],
                    }
                ],
            },
        )

    results: dict[str, Any] = {}
    async with provider(handler, batch_size=3, batch_linger=1.0) as p:

        async def one(i: int) -> None:
            results[uuids[i]] = await p.send(make_task(f"t{i}"), uuids[i], 1)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(one, i)
    assert len(posts) == 1 and sorted(t["taskUUID"] for t in posts[0]) == sorted(uuids)
    assert results[uuids[0]].generations[0].text == "zero"
    assert results[uuids[2]].generations[0].text == "two"
    failed = results[uuids[1]]
    assert failed.error is not None and failed.error.error_class is ErrorClass.PERMANENT
    assert failed.error.parameter == "settings.topK" and failed.generations == []
    assert all(r.notes["batch_size"] == 3 for r in results.values())


@pytest.mark.anyio
async def test_async_ack_with_empty_data_then_polls_until_every_result_is_in() -> None:
    polls: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        (task,) = body_of(request)
        if task["taskType"] == "textInference":
            assert task["deliveryMethod"] == "async"
            return httpx.Response(200, json={"data": []})
        polls.append(task)
        if len(polls) == 1:
            return httpx.Response(200, json={"data": [{"taskUUID": UUID, "status": "processing"}]})
        if len(polls) == 2:  # the first result is finished before the second one
            return httpx.Response(200, json={"data": [result_item(status="success", text="a", seed=1)]})
        if len(polls) == 3:
            return httpx.Response(503, json={"errors": [{"code": "serviceUnavailable", "message": "busy"}]})
        return httpx.Response(
            200,
            json={
                "data": [
                    result_item(status="success", text="a", seed=1),
                    result_item(status="success", text="b", seed=2),
                ]
            },
        )

    async with provider(handler) as p:
        attempt = await p.send(make_task(deliveryMethod="async", numberResults=2), UUID, 1)
    assert attempt.ok, attempt.error
    assert sorted(g.text for g in attempt.generations) == ["a", "b"]
    assert attempt.notes["polls"] == 4 and attempt.notes["poll_errors"] == 1
    assert all(p["taskType"] == "getResponse" and p["taskUUID"] == UUID for p in polls)


@pytest.mark.anyio
async def test_polling_gives_up_at_its_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        (task,) = body_of(request)
        if task["taskType"] == "textInference":
            return httpx.Response(200, json={"data": [{"taskType": "textInference", "taskUUID": UUID}]})
        return httpx.Response(200, json={"data": [{"taskUUID": UUID, "status": "processing"}]})

    polling = Polling(initial=0.01, factor=1.5, max=0.02, deadline=0.1)
    async with provider(handler, polling=polling) as p:
        attempt = await p.send(make_task(deliveryMethod="async"), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "pollDeadline"
    assert attempt.error.error_class is ErrorClass.TRANSIENT
    assert attempt.notes["polls"] >= 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # A task that failed while running may succeed when sent again: unknown codes are transient,
        # as the same failure is when reported in a poll's errors array.
        ({"code": "badPrompt", "message": "no"}, ErrorClass.TRANSIENT),
        ({"code": "engineCrashed", "message": "boom"}, ErrorClass.TRANSIENT),
        # Codes (or a parameter) that blame the request stay permanent; key problems stay fatal.
        ({"code": "invalidParameter", "message": "bad"}, ErrorClass.PERMANENT),
        ({"code": "tooHot", "message": "bad", "parameter": "temperature"}, ErrorClass.PERMANENT),
        ({"code": "invalidApiKey", "message": "who"}, ErrorClass.FATAL),
    ],
)
async def test_poll_item_with_status_error_fails_the_task(
    error: dict[str, Any], expected: ErrorClass
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        (task,) = body_of(request)
        if task["taskType"] == "textInference":
            return httpx.Response(200, json={"data": []})
        return httpx.Response(200, json={"data": [{"taskUUID": UUID, "status": "error", "error": error}]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(deliveryMethod="async"), UUID, 1)
    assert attempt.error is not None and attempt.error.code == error["code"]
    assert attempt.error.error_class is expected


@pytest.mark.anyio
async def test_conflict_is_resolved_by_polling_the_earlier_task() -> None:
    kinds: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        (task,) = body_of(request)
        kinds.append(task["taskType"])
        if task["taskType"] == "textInference":
            return httpx.Response(
                400, json={"errors": [{"code": "conflictTaskUUID", "message": "used", "taskUUID": UUID}]}
            )
        return httpx.Response(200, json={"data": [result_item(status="success")]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 2)
        fetched = await p.fetch(make_task(), UUID, 3)
    assert attempt.ok and attempt.notes["conflict_resolved"] is True
    assert attempt.generations[0].text == "Hi!"
    assert kinds == ["textInference", "getResponse", "getResponse"]
    assert fetched.ok and fetched.number == 3 and fetched.notes["delivery"] == "fetch"


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            400,
            {"errors": [{"code": "invalidSeed", "message": "bad", "parameter": "seed"}]},
            ErrorClass.PERMANENT,
            "invalidSeed",
        ),
        (401, {"errors": [{"code": "invalidApiKey", "message": "no"}]}, ErrorClass.FATAL, "invalidApiKey"),
        (
            402,
            {"errors": [{"code": "insufficientCredits", "message": "pay"}]},
            ErrorClass.FATAL,
            "insufficientCredits",
        ),
        (
            403,
            {"error": {"code": "forbidden", "message": "no"}, "taskUUID": UUID},
            ErrorClass.FATAL,
            "forbidden",
        ),
        (408, None, ErrorClass.TRANSIENT, "http408"),
        (
            429,
            {"errors": [{"code": "tooManyRequests", "message": "slow"}]},
            ErrorClass.THROTTLED,
            "tooManyRequests",
        ),
        (500, None, ErrorClass.TRANSIENT, "http500"),
        (502, b"<html>bad gateway</html>", ErrorClass.TRANSIENT, "http502"),
        (503, None, ErrorClass.THROTTLED, "http503"),
        (
            504,
            {"errors": [{"code": "timeoutExceeded", "message": "queue"}]},
            ErrorClass.THROTTLED,
            "timeoutExceeded",
        ),
        (200, b"{not json", ErrorClass.TRANSIENT, "malformedResponse"),
        (200, {"data": []}, ErrorClass.TRANSIENT, "malformedResponse"),
    ],
)
@pytest.mark.anyio
async def test_error_table(status: int, body: Any, expected: ErrorClass, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Retry-After": "7"} if status == 429 else {}
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.code) == (expected, code)
    assert attempt.http_status == status and attempt.generations == []
    if status == 429:
        assert attempt.error.retry_after == 7.0


@pytest.mark.anyio
async def test_connection_reset_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "connectionReset"
    assert attempt.error.error_class is ErrorClass.TRANSIENT


def sse(*events: Any, done: bool = True, comment: bool = False) -> bytes:
    lines = [b": keep-alive\n\n"] if comment else []
    for event in events:
        lines.append(b"data: " + json.dumps(event).encode() + b"\n\n")
    if done:
        lines.append(b"data: [DONE]\n\n")
    return b"".join(lines)


def chunk(**fields: Any) -> dict[str, Any]:
    return {"taskUUID": UUID, "taskType": "textInference", **fields}


def stream_handler(payload: bytes, split: int = 7) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert body_of(request)[0]["deliveryMethod"] == "stream"
        # Cut the body into small pieces so events and lines span chunks.
        pieces = [payload[i : i + split] for i in range(0, len(payload), split)]
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Stream(pieces))

    return handler


class _Stream(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self):  # type: ignore[override]
        for piece in self.pieces:
            yield piece


@pytest.mark.anyio
async def test_stream_text_reasoning_empty_deltas_keepalives_and_final_usage() -> None:
    payload = sse(
        chunk(delta={"reasoningContent": "Let me "}),
        chunk(delta={"reasoningContent": ["think"]}),
        chunk(delta={}),
        chunk(delta={"text": "Hi"}, finishReason=None, unknownField=1),
        chunk(delta={"text": " there"}),
        chunk(
            delta={},
            finishReason="stop",
            usage={"promptTokens": 12, "completionTokens": 3, "totalTokens": 15},
            cost=0.0000059,
        ),
        comment=True,
    )
    async with provider(stream_handler(payload)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
    assert attempt.ok, attempt.error
    (generation,) = attempt.generations
    assert generation.text == "Hi there" and generation.reasoning == "Let me think"
    assert generation.finish_reason == "stop" and generation.cost == pytest.approx(0.0000059)
    t = attempt.timing
    assert len(t.events) == 7  # six data events and [DONE]
    assert len(t.token_events) == 4
    assert t.first_token == t.token_events[0] and t.last_token == t.token_events[-1]
    assert t.sent is not None and t.headers is not None and t.done is not None
    assert t.sent <= t.headers <= t.first_token <= t.last_token <= t.done
    assert attempt.notes["keepalive_comments"] == 1


@pytest.mark.anyio
async def test_stream_without_done_is_an_infrastructure_error() -> None:
    payload = sse(chunk(delta={"text": "Hi"}), done=False)
    async with provider(stream_handler(payload)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "streamIncomplete"
    assert attempt.error.error_class is ErrorClass.TRANSIENT and attempt.generations == []


@pytest.mark.anyio
async def test_mid_stream_error_event() -> None:
    payload = sse(
        chunk(delta={"text": "Hi"}), {"errors": [{"code": "engineFailure", "message": "gpu fell off"}]}
    )
    async with provider(stream_handler(payload)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "engineFailure"
    assert attempt.error.error_class is ErrorClass.TRANSIENT
    assert attempt.notes["partial_chars"] == 2


@pytest.mark.anyio
async def test_stream_refused_before_it_starts_and_stream_with_several_results_is_refused_locally() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            400, json={"error": {"code": "invalidMaxTokens", "message": "no"}, "taskUUID": UUID}
        )

    async with provider(handler) as p:
        refused = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
        several = await p.send(make_task(deliveryMethod="stream", numberResults=2), UUID, 1)
    assert refused.error is not None and refused.error.code == "invalidMaxTokens"
    assert refused.error.error_class is ErrorClass.PERMANENT
    assert several.error is not None and several.error.code == "streamNumberResults"
    assert calls == 1  # the multi-result stream never left the harness


@pytest.mark.anyio
async def test_task_deadline_becomes_a_transient_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(5)
        return httpx.Response(200, json={"data": [result_item()]})

    timeouts = Timeouts(connect=1, read=10, task=0.05)
    async with provider(handler, timeouts=timeouts) as p:  # type: ignore[arg-type]
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "taskTimeout"


@pytest.mark.anyio
async def test_batcher_fills_batches_and_members_of_a_cancelled_leader_do_not_hang() -> None:
    posted: list[list[str]] = []
    release = anyio.Event()

    async def post(items: list[dict[str, Any]]) -> str:
        posted.append([i["id"] for i in items])
        await release.wait()
        return "answer"

    batcher: Batcher[str] = Batcher(post, max_size=2, linger=10.0, on_abandon=lambda: "abandoned")
    answers: dict[str, str] = {}

    async def member(name: str, into: Batcher[str] | None = None) -> None:
        answers[name] = await (into or batcher).submit({"id": name})

    async with anyio.create_task_group() as tg:
        tg.start_soon(member, "a")
        tg.start_soon(member, "b")  # fills the batch: no need to wait for the 10 s linger
        tg.start_soon(member, "c")  # opens a second batch
        await anyio.sleep(0.05)
        assert posted == [["a", "b"]]
        release.set()
        await anyio.sleep(0.05)
        assert answers == {"a": "answer", "b": "answer"}
        tg.cancel_scope.cancel()  # "c" is the leader of a batch still lingering: cancel it
    assert batcher.posts == 1

    batcher2: Batcher[str] = Batcher(post, max_size=3, linger=10.0, on_abandon=lambda: "abandoned")
    leader_scope = anyio.CancelScope()

    async def leader() -> None:
        with leader_scope:
            await batcher2.submit({"id": "lead"})

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.sleep(0.01)
            tg.start_soon(member, "follower", batcher2)
            await anyio.sleep(0.01)
            leader_scope.cancel()
    assert answers["follower"] == "abandoned"


@pytest.mark.anyio
async def test_client_pool_leases_the_least_busy_client() -> None:
    from runners.providers.http import ClientPool, clients_for

    assert (clients_for(1), clients_for(8), clients_for(9), clients_for(256), clients_for(10_000)) == (
        1,
        1,
        2,
        32,
        64,
    )
    async with ClientPool(clients=3, connections=2) as pool:
        with pool.lease() as a, pool.lease() as b:
            assert a is not b and pool.in_flight == [1, 1, 0]
            with pool.lease() as c:
                assert c is not a and c is not b
        assert pool.in_flight == [0, 0, 0]
        with pool.lease() as again:
            assert again is a  # light load stays on the first, warm client


# -- regressions: partial answers, empty streams, malformed items, conflicts, pricing -------------


@pytest.mark.anyio
async def test_a_finished_answer_with_fewer_results_than_asked_is_a_transient_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [result_item()]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(numberResults=3), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "missingResults"
    assert attempt.error.error_class is ErrorClass.TRANSIENT
    assert attempt.generations == [] and attempt.cost is None
    assert attempt.notes["missing_results"] == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "payload",
    [b"data: [DONE]\n\n", sse(chunk(delta={}), chunk(delta={"text": ""}))],
    ids=["done-only", "empty-deltas"],
)
async def test_a_stream_that_says_nothing_is_malformed_not_an_empty_answer(payload: bytes) -> None:
    async with provider(stream_handler(payload)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "malformedResponse"
    assert attempt.error.error_class is ErrorClass.TRANSIENT and attempt.generations == []


@pytest.mark.anyio
async def test_a_stream_with_only_a_finish_reason_is_an_empty_answer() -> None:
    payload = sse(chunk(delta={}, finishReason="length"))
    async with provider(stream_handler(payload)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), UUID, 1)
    assert attempt.ok, attempt.error
    assert (attempt.generations[0].text, attempt.generations[0].finish_reason) == ("", "length")


@pytest.mark.anyio
async def test_wrongly_shaped_items_are_malformed_not_a_crash() -> None:
    # An unhashable resultIndex used to raise TypeError out of send() and take the run down.
    def sync(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [result_item(resultIndex=[0])], "errors": 5})

    async with provider(sync) as p:
        attempt = await p.send(make_task(), UUID, 1)
    assert attempt.error is not None and attempt.error.code == "malformedResponse"
    assert attempt.error.error_class is ErrorClass.TRANSIENT

    polls = 0

    def poll(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        (task,) = body_of(request)
        if task["taskType"] == "textInference":
            return httpx.Response(200, json={"data": []})
        polls += 1
        item = result_item(status="success", resultIndex=[0] if polls == 1 else 0)
        return httpx.Response(200, json={"data": [item]})

    async with provider(poll) as p:
        attempt = await p.send(make_task(deliveryMethod="async"), UUID, 1)
    # A malformed poll answer is one failed poll: polling goes on and gets the result.
    assert attempt.ok, attempt.error
    assert attempt.notes["poll_errors"] == 1 and attempt.notes["polls"] == 2


def conflict_then(poll_answer: Callable[[], httpx.Response]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        (task,) = body_of(request)
        if task["taskType"] == "textInference":
            return httpx.Response(
                400, json={"errors": [{"code": "conflictTaskUUID", "message": "used", "taskUUID": UUID}]}
            )
        return poll_answer()

    return handler


@pytest.mark.anyio
async def test_conflict_polls_at_once_and_is_marked_for_latency_reports() -> None:
    slow = Polling(initial=5.0, factor=1.5, max=10.0, deadline=30.0)
    answer = conflict_then(lambda: httpx.Response(200, json={"data": [result_item(status="success")]}))
    async with provider(answer, polling=slow) as p:
        started = anyio.current_time()
        attempt = await p.send(make_task(), UUID, 2)
        elapsed = anyio.current_time() - started
    assert attempt.ok, attempt.error
    assert elapsed < 1.0  # not polling.initial (5 s): the earlier task is not new
    assert attempt.notes["resolved_by"] == "conflict_poll" and attempt.notes["polls"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "poll_body",
    [
        {"data": [{"taskUUID": UUID, "status": "error", "error": {"code": "engineCrashed", "message": "x"}}]},
        {"errors": [{"taskUUID": UUID, "status": "error", "code": "invalidSeed", "message": "bad"}]},
    ],
    ids=["failed-item", "errors-array"],
)
async def test_conflict_whose_earlier_task_failed_asks_for_a_fresh_uuid(poll_body: dict[str, Any]) -> None:
    answer = conflict_then(lambda: httpx.Response(200, json=poll_body))
    async with provider(answer) as p:
        attempt = await p.send(make_task(), UUID, 2)
    assert attempt.error is not None and attempt.error.code == "conflictTaskUUIDFailed"
    assert attempt.error.error_class is ErrorClass.TRANSIENT
    assert attempt.notes["rotate_uuid"] is True and attempt.notes["resolved_by"] == "conflict_poll"


@pytest.mark.anyio
async def test_conflict_that_polls_past_its_deadline_or_meets_a_bad_key_keeps_its_uuid() -> None:
    processing = conflict_then(
        lambda: httpx.Response(200, json={"data": [{"taskUUID": UUID, "status": "processing"}]})
    )
    short = Polling(initial=0.001, factor=1.0, max=0.001, deadline=0.05)
    async with provider(processing, polling=short) as p:
        late = await p.send(make_task(), UUID, 2)
    assert late.error is not None and late.error.code == "pollDeadline"
    assert "rotate_uuid" not in late.notes

    unauthorized = conflict_then(
        lambda: httpx.Response(401, json={"errors": [{"code": "invalidApiKey", "message": "no"}]})
    )
    async with provider(unauthorized) as p:
        fatal = await p.send(make_task(), UUID, 2)
    assert fatal.error is not None and fatal.error.error_class is ErrorClass.FATAL
    assert "rotate_uuid" not in fatal.notes


@pytest.mark.parametrize(
    ("usage", "output"),
    [
        # totalTokens known: total - prompt, whether or not completionTokens includes thinking.
        (Usage(prompt_tokens=10, completion_tokens=5, total_tokens=25, thinking_tokens=10), 15),
        (Usage(prompt_tokens=10, completion_tokens=15, total_tokens=25, thinking_tokens=10), 15),
        # No total: completion + thinking.
        (Usage(prompt_tokens=10, completion_tokens=5, thinking_tokens=10), 15),
        (Usage(prompt_tokens=10, completion_tokens=5), 5),
        # An inconsistent total (below prompt + completion) is not trusted.
        (Usage(prompt_tokens=10, completion_tokens=5, total_tokens=12, thinking_tokens=1), 6),
        (Usage(prompt_tokens=10), None),
    ],
)
def test_runware_output_tokens_count_thinking_once(usage: Usage, output: int | None) -> None:
    assert runware_output_tokens(usage) == output


def test_openai_output_tokens_are_completion_tokens_which_include_reasoning() -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=50, total_tokens=60, thinking_tokens=40)
    assert openai_output_tokens(usage) == 50


@pytest.mark.anyio
async def test_runware_usage_with_total_tokens_is_priced_from_the_total() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        usage = {"promptTokens": 1000, "completionTokens": 100, "totalTokens": 1150, "thinkingTokens": 50}
        item = result_item(usage=usage)
        del item["cost"]
        return httpx.Response(200, json={"data": [item]})

    async with provider(handler) as p:
        attempt = await p.send(make_task(), UUID, 1)
    price = get_spec(DEFAULT_MODEL).price  # type: ignore[union-attr]
    assert price is not None
    assert attempt.cost == pytest.approx(price.cost(1000, 150))
