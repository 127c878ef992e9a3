"""Webhook delivery: the receiver's secret and de-duplication, and the fallback to polling."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from evals.records import ErrorClass
from evals.suite import Polling, Target, Webhook
from runners.providers import RunwareProvider, open_provider
from runners.server import ServerConfig, serve_in_background
from runners.webhook_receiver import WebhookReceiver
from tests.runners.test_runware_mock import make_task, result_item

FAST_POLLING = Polling(initial=0.01, factor=1.5, max=0.05, deadline=10.0)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_in_background(ServerConfig(engine="sim", sim={"zero_latency": True})) as handle:
        yield handle.url


@pytest.mark.anyio
async def test_receiver_rejects_a_wrong_secret_and_deduplicates() -> None:
    async with WebhookReceiver() as receiver, httpx.AsyncClient(trust_env=False) as http:
        assert receiver.url.startswith("http://127.0.0.1:") and "secret=" in receiver.url
        inbox = receiver.expect("u1", 2)
        base = receiver.url.split("?")[0]
        refused = await http.post(base + "?secret=wrong", json=result_item("u1"))
        missing = await http.post(base, json=result_item("u1"))
        assert (refused.status_code, missing.status_code) == (403, 403)
        first = result_item("u1", text="a", seed=1)
        for _ in range(3):  # the sender retries: the same result three times
            assert (await http.post(receiver.url, json=first)).status_code == 200
        assert not inbox.complete.is_set()
        # An envelope is accepted too; an unexpected task is dropped.
        await http.post(receiver.url, json={"data": [result_item("u1", text="b", seed=2), result_item("zz")]})
        with anyio.fail_after(2):
            await inbox.complete.wait()
        assert [r["text"] for r in inbox.ordered_results()] == ["a", "b"]
        assert (receiver.duplicates, receiver.rejected, receiver.unexpected) == (2, 2, 1)
        assert (await http.post(receiver.url, content=b"{nope")).status_code == 400


@pytest.mark.anyio
async def test_results_by_webhook_with_duplicates_from_the_sim() -> None:
    webhook = Webhook(enabled=True, wait=5.0)
    target = Target(
        provider="sim", sim={"zero_latency": True, "faults": {"duplicate_webhook": 1.0}}, webhook=webhook
    )
    async with open_provider(target) as p:
        attempts = [
            await p.send(make_task(deliveryMethod="async", numberResults=n), str(uuid.uuid4()), 1)
            for n in (1, 3)
        ]
    for attempt, n in zip(attempts, (1, 3), strict=True):
        assert attempt.ok, attempt.error
        assert attempt.notes["delivery"] == "webhook"
        assert [g.index for g in attempt.generations] == list(range(n))
        assert attempt.cost is not None


@pytest.mark.anyio
async def test_a_delivery_that_never_comes_falls_back_to_polling(sim_url: str) -> None:
    # Runware is told to call a port where nothing listens: no delivery can arrive.
    webhook = Webhook(enabled=True, wait=0.2, public_url="http://127.0.0.1:9/webhook")
    async with RunwareProvider(endpoint=sim_url, webhook=webhook, polling=FAST_POLLING) as p:
        attempt = await p.send(make_task(deliveryMethod="async"), str(uuid.uuid4()), 1)
    assert attempt.ok, attempt.error
    assert attempt.notes["delivery"] == "webhook+poll" and attempt.notes["polls"] >= 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "engineCrashed", "message": "gpu fell off"}, ErrorClass.TRANSIENT),
        ({"code": "invalidMaxTokens", "message": "too many", "parameter": "maxTokens"}, ErrorClass.PERMANENT),
    ],
)
async def test_an_error_delivery_with_an_unknown_code_is_transient(
    error: dict[str, Any], expected: ErrorClass
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        (task,) = json.loads(request.content)
        delivery = {"taskUUID": task["taskUUID"], "status": "error", "error": error}
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(task["webhookURL"], json=delivery)
        return httpx.Response(200, json={"data": []})

    webhook = Webhook(enabled=True, wait=5.0)
    transport = httpx.MockTransport(handler)
    async with RunwareProvider(endpoint="http://mock.invalid/v1", webhook=webhook, transport=transport) as p:
        attempt = await p.send(make_task(deliveryMethod="async"), str(uuid.uuid4()), 1)
    assert attempt.error is not None and attempt.error.code == error["code"]
    assert attempt.error.error_class is expected
