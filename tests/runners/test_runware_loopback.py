"""Every delivery method and every row of the error table, over real loopback HTTP.

The Runware client talks to the embedded server's sim engine (zero latency, faults at rate 1 where a
row needs one). Statuses the sim never produces (402, 403, 408) come from a small stub app, also
served on loopback.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from evals.records import ErrorClass
from evals.suite import Polling, Target, Timeouts
from runners.providers import LocalProvider, RunwareProvider, open_provider
from runners.server import ServerConfig, serve_in_background
from tests.runners.test_runware_mock import make_task

FAST_POLLING = Polling(initial=0.01, factor=1.5, max=0.05, deadline=10.0)
ZERO = {"zero_latency": True}


def new_uuid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_in_background(ServerConfig(engine="sim", sim=ZERO)) as handle:
        yield handle.url


def client(url: str, **options: Any) -> RunwareProvider:
    options.setdefault("polling", FAST_POLLING)
    return RunwareProvider(endpoint=url, api_key=None, **options)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["sync", "async", "stream"])
async def test_each_delivery_method_returns_a_result_with_usage_cost_and_timing(
    sim_url: str, method: str
) -> None:
    async with client(sim_url) as p:
        attempt = await p.send(make_task(deliveryMethod=method), new_uuid(), 1)
    assert attempt.ok, attempt.error
    (generation,) = attempt.generations
    assert generation.text and generation.finish_reason in ("stop", "length")
    assert generation.usage is not None and generation.usage.completion_tokens
    assert generation.cost is not None and generation.cost_source == "provider"
    assert attempt.cost == generation.cost
    t = attempt.timing
    assert t.queued is not None and t.sent is not None and t.done is not None and t.queued <= t.sent <= t.done
    if method == "stream":
        assert t.first_token is not None and t.last_token is not None and t.token_events
        assert t.headers is not None and t.headers <= t.first_token <= t.last_token <= t.done
    if method == "async":
        assert attempt.notes["polls"] >= 1


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["sync", "async"])
async def test_number_results_gathered_into_one_task(sim_url: str, method: str) -> None:
    async with client(sim_url) as p:
        attempt = await p.send(make_task(deliveryMethod=method, numberResults=3), new_uuid(), 1)
    assert attempt.ok, attempt.error
    assert [g.index for g in attempt.generations] == [0, 1, 2]
    assert len({g.seed for g in attempt.generations}) == 3  # each result has its own seed
    assert attempt.usage is not None and attempt.usage.completion_tokens is not None


@pytest.mark.anyio
async def test_batches_carry_several_tasks_per_post_and_split_errors_per_task(sim_url: str) -> None:
    tasks = [make_task(f"t{i}") for i in range(5)]
    tasks.append(make_task("bad", settings={"temperature": 7}))  # out of bounds: refused alone
    results: dict[str, Any] = {}
    async with client(sim_url, batch_size=3, batch_linger=0.5) as p:

        async def one(i: int) -> None:
            results[tasks[i].id] = await p.send(tasks[i], new_uuid(), 1)

        async with anyio.create_task_group() as tg:
            for i in range(len(tasks)):
                tg.start_soon(one, i)
        posts = p._batchers["sync"].posts
    assert posts == 2
    assert all(results[f"t{i}"].ok for i in range(5))
    bad = results["bad"]
    assert (
        bad.error is not None
        and bad.error.error_class is ErrorClass.PERMANENT
        and bad.error.http_status == 200
    )


@pytest.mark.anyio
async def test_async_polls_are_batched_too(sim_url: str) -> None:
    async with client(sim_url, batch_size=4, batch_linger=0.2) as p:
        attempts = []

        async def one() -> None:
            attempts.append(await p.send(make_task(deliveryMethod="async"), new_uuid(), 1))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
        assert p._batchers["async"].posts == 1
        assert p._batchers["poll"].posts < sum(a.notes["polls"] for a in attempts)
    assert all(a.ok for a in attempts)


@pytest.mark.anyio
async def test_conflict_task_uuid_is_resolved_by_polling_and_fetch_gets_the_same_result(sim_url: str) -> None:
    task_uuid = new_uuid()
    async with client(sim_url) as p:
        first = await p.send(make_task(), task_uuid, 1)
        second = await p.send(make_task(), task_uuid, 2)
        fetched = await p.fetch(make_task(), task_uuid, 3)
    assert first.ok and second.ok and fetched.ok
    assert second.notes["conflict_resolved"] is True
    assert second.generations[0].text == first.generations[0].text == fetched.generations[0].text


@pytest.mark.anyio
async def test_400_is_permanent(sim_url: str) -> None:
    async with client(sim_url) as p:
        attempt = await p.send(make_task(settings={"topK": 1000}), new_uuid(), 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.http_status) == (ErrorClass.PERMANENT, 400)
    assert attempt.error.parameter is not None and "topK" in attempt.error.parameter


@pytest.mark.anyio
async def test_401_is_fatal() -> None:
    with serve_in_background(ServerConfig(engine="sim", sim=ZERO, api_key="right-key-1234")) as handle:
        async with RunwareProvider(endpoint=handle.url, api_key="wrong-key-5678") as p:
            attempt = await p.send(make_task(), new_uuid(), 1)
        async with RunwareProvider(endpoint=handle.url, api_key="right-key-1234") as p:
            good = await p.send(make_task(), new_uuid(), 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.code, attempt.error.http_status) == (
        ErrorClass.FATAL,
        "invalidApiKey",
        401,
    )
    assert good.ok


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "status", "expected"),
    [
        ("http_429", 429, ErrorClass.THROTTLED),
        ("http_500", 500, ErrorClass.TRANSIENT),
        ("http_503", 503, ErrorClass.THROTTLED),
        ("http_504", 504, ErrorClass.THROTTLED),
    ],
)
async def test_injected_status_faults(fault: str, status: int, expected: ErrorClass) -> None:
    target = Target(provider="sim", sim={**ZERO, "faults": {fault: 1.0}}, polling=FAST_POLLING)
    async with open_provider(target) as p:
        for method in ("sync", "async", "stream"):
            attempt = await p.send(make_task(deliveryMethod=method), new_uuid(), 1)
            assert attempt.error is not None, method
            assert (attempt.error.error_class, attempt.error.http_status) == (expected, status), method


@pytest.mark.anyio
async def test_capacity_limit_answers_429_throttled() -> None:
    target = Target(provider="sim", sim={"ttft_mean": 0.3, "ttft_jitter": 0.0, "capacity": 1})
    async with open_provider(target) as p:
        attempts = []

        async def one() -> None:
            attempts.append(await p.send(make_task(), new_uuid(), 1))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
    classes = sorted(str(a.error.error_class) if a.error else "ok" for a in attempts)
    assert "ok" in classes and "throttled" in classes


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "method", "code"),
    [
        ("drop", "sync", "connectionReset"),
        ("drop", "stream", "connectionReset"),
        ("malformed_json", "sync", "malformedResponse"),
        ("malformed_json", "stream", "malformedResponse"),
        ("stall", "sync", "readTimeout"),
        ("midstream_error", "stream", "streamError"),
        ("no_done", "stream", "streamIncomplete"),
    ],
)
async def test_transport_and_stream_faults_are_transient(fault: str, method: str, code: str) -> None:
    sim = {**ZERO, "faults": {fault: 1.0}, "stall_seconds": 1.0}
    target = Target(provider="sim", sim=sim, timeouts=Timeouts(connect=2, read=0.3, task=10))
    async with open_provider(target) as p:
        assert isinstance(p, LocalProvider)
        attempt = await p.send(make_task(deliveryMethod=method), new_uuid(), 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.code) == (ErrorClass.TRANSIENT, code)
    assert attempt.generations == []


@pytest.mark.anyio
async def test_a_dropped_answer_is_recovered_without_paying_twice() -> None:
    """After an answer is lost, the retry under the same UUID meets conflictTaskUUID and polls."""
    target = Target(
        provider="sim", sim={**ZERO, "faults": {"drop": 0.5}, "fault_seed": 3}, polling=FAST_POLLING
    )
    async with open_provider(target) as p:
        assert isinstance(p, LocalProvider)
        for _ in range(20):
            task_uuid = new_uuid()
            first = await p.send(make_task(), task_uuid, 1)
            if first.error is not None and first.error.code == "connectionReset":
                break
        else:
            pytest.fail("no drop fault in 20 tasks at rate 0.5")
        second = await p.send(make_task(), task_uuid, 2)
        stats = p.server.stats()
    assert second.ok and second.notes.get("conflict_resolved") is True
    assert stats["paid"][task_uuid] == 1


# -- statuses the sim does not produce: a stub app on loopback -------------------------------------


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    async def answer(request: Request) -> JSONResponse:
        status = int(request.query_params["status"])
        body = {"errors": [{"code": f"stub{status}", "message": "stub"}]}
        return JSONResponse(body, status_code=status, headers={"Retry-After": "1"})

    app = Starlette(routes=[Route("/v1", answer, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (402, ErrorClass.FATAL),
        (403, ErrorClass.FATAL),
        (408, ErrorClass.TRANSIENT),
        (502, ErrorClass.TRANSIENT),
    ],
)
async def test_statuses_from_a_stub_server(stub_url: str, status: int, expected: ErrorClass) -> None:
    async with client(f"{stub_url}?status={status}") as p:
        attempt = await p.send(make_task(), new_uuid(), 1)
    assert attempt.error is not None
    assert (attempt.error.error_class, attempt.error.http_status, attempt.error.retry_after) == (
        expected,
        status,
        1.0,
    )


@pytest.mark.anyio
async def test_every_provider_meets_the_protocol_and_the_sim_endpoint_is_loopback() -> None:
    from runners.provider import Provider
    from runners.providers import OpenAICompatProvider

    assert isinstance(RunwareProvider(api_key=None), Provider)
    assert isinstance(OpenAICompatProvider(endpoint="http://127.0.0.1:1/v1"), Provider)
    async with open_provider(Target(provider="sim", sim=ZERO)) as p:
        assert isinstance(p, Provider) and p.name == "sim"
        assert p.endpoint.startswith("http://127.0.0.1:")


@pytest.mark.slow
@pytest.mark.anyio
async def test_provider_local_runs_the_bundled_model_with_no_key_and_no_network() -> None:
    pytest.importorskip("llama_cpp", reason="the local model needs the 'local' extra")
    async with open_provider(Target(provider="local")) as p:
        assert p.name == "local"
        for method in ("sync", "stream"):
            attempt = await p.send(make_task(deliveryMethod=method, settings={"maxTokens": 8}), new_uuid(), 1)
            assert attempt.ok, attempt.error
            assert attempt.generations[0].usage is not None
            assert attempt.cost is not None  # priced by the server from the model spec


@pytest.mark.anyio
async def test_stream_events_are_stamped_on_arrival_after_the_server_sent_them() -> None:
    sim = {"ttft_mean": 0.02, "ttft_jitter": 0.0, "tokens_per_s": 200.0, "report_send_time": True}
    async with open_provider(Target(provider="sim", sim=sim)) as p:
        attempt = await p.send(make_task(deliveryMethod="stream"), new_uuid(), 1)
    assert attempt.ok, attempt.error
    delays = attempt.notes["sim_event_delays"]
    # Every text event and the final one carry the server's send time; arrival is never before it.
    assert len(delays) == len(attempt.timing.token_events) + 1
    assert all(d >= 0 for d in delays)
    t = attempt.timing
    assert t.token_events == sorted(t.token_events) and t.events == sorted(t.events)


@pytest.mark.anyio
async def test_many_concurrent_requests_spread_over_small_pools(sim_url: str) -> None:
    results: list[Any] = []
    async with RunwareProvider(endpoint=sim_url, concurrency=48) as p:
        assert p._pool.size == 6

        async def one() -> None:
            results.append(await p.send(make_task(), new_uuid(), 1))

        async with anyio.create_task_group() as tg:
            for _ in range(48):
                tg.start_soon(one)
        assert p._pool.in_flight == [0] * 6
    assert len(results) == 48 and all(r.ok for r in results), [r.error for r in results if r.error]
