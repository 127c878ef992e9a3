"""Every delivery method of the Runware protocol, over real loopback HTTP, against the sim engine."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest

from runners.server import ServerConfig, ServerHandle, serve_async, serve_in_background
from tests.runners.server.conftest import WebhookReceiver, poll, read_sse, task

REFERENCE_INPUT = 0.165 / 1e6
REFERENCE_OUTPUT = 1.326 / 1e6


def test_sync_answer_has_text_usage_and_reference_cost(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    t = task()
    r = client.post(sim_server.url, json=[t])
    assert r.status_code == 200
    (item,) = r.json()["data"]
    assert item["taskUUID"] == t["taskUUID"] and item["taskType"] == "textInference"
    assert item["text"] and item["finishReason"] in ("stop", "length") and item["seed"] == 1234
    usage = item["usage"]
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]
    assert 0 < usage["completionTokens"] <= 16
    expected = usage["promptTokens"] * REFERENCE_INPUT + usage["completionTokens"] * REFERENCE_OUTPUT
    assert item["cost"] == pytest.approx(expected)


def test_usage_and_cost_only_when_asked(sim_server: ServerHandle, client: httpx.Client) -> None:
    (item,) = client.post(sim_server.url, json=[task(includeUsage=False, includeCost=False)]).json()["data"]
    assert "usage" not in item and "cost" not in item


def test_number_results_gives_one_item_per_result_with_its_own_seed(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    t = task(numberResults=4, seed=4294967294)
    items = client.post(sim_server.url, json=[t]).json()["data"]
    assert [i["resultIndex"] for i in items] == [0, 1, 2, 3]
    assert {i["taskUUID"] for i in items} == {t["taskUUID"]}
    assert [i["seed"] for i in items] == [4294967294, 4294967295, 0, 1]
    assert sim_server.stats()["paid_results"][t["taskUUID"]] == 4


def test_same_seed_same_text_and_other_seeds_differ(sim_server: ServerHandle, client: httpx.Client) -> None:
    texts = [client.post(sim_server.url, json=[task(seed=s)]).json()["data"][0]["text"] for s in (5, 5, 6, 7)]
    assert texts[0] == texts[1]
    assert len(set(texts[1:])) == 3


def test_async_acknowledges_then_polling_returns_the_result(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    t = task(deliveryMethod="async", numberResults=2)
    ack = client.post(sim_server.url, json=[t])
    assert ack.status_code == 200
    assert ack.json() == {"data": [{"taskType": "textInference", "taskUUID": t["taskUUID"]}]}
    items = poll(client, sim_server.url, t["taskUUID"]).json()["data"]
    assert [i["status"] for i in items] == ["success", "success"]
    sync_text = client.post(sim_server.url, json=[task(seed=t["seed"])]).json()["data"][0]["text"]
    assert items[0]["text"] == sync_text


def test_polling_shows_processing_while_the_task_runs(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(sim={"ttft_mean": 0.5, "ttft_jitter": 0})) as server:
        t = task(deliveryMethod="async")
        client.post(server.url, json=[t])
        first = client.post(server.url, json=[{"taskType": "getResponse", "taskUUID": t["taskUUID"]}]).json()
        assert first["data"] == [
            {"taskType": "textInference", "taskUUID": t["taskUUID"], "status": "processing"}
        ]
        assert poll(client, server.url, t["taskUUID"]).json()["data"][0]["status"] == "success"


def test_get_response_of_an_unknown_task(sim_server: ServerHandle, client: httpx.Client) -> None:
    unknown = task()["taskUUID"]
    r = client.post(sim_server.url, json=[{"taskType": "getResponse", "taskUUID": unknown}])
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "taskNotFound"


def test_stream_matches_sync_and_ends_with_usage_cost_and_done(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    t = task(deliveryMethod="stream", seed=99)
    with client.stream("POST", sim_server.url, json=[t]) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["taskUUID"] == t["taskUUID"] for c in chunks)
    final = chunks[-1]
    assert final["delta"] == {} and final["finishReason"] in ("stop", "length")
    assert final["usage"]["completionTokens"] > 0 and final["cost"] > 0
    streamed = "".join(c["delta"].get("text", "") for c in chunks)
    assert streamed == client.post(sim_server.url, json=[task(seed=99)]).json()["data"][0]["text"]
    assert all(c["finishReason"] is None for c in chunks[:-1])


def test_several_tasks_in_one_post_are_matched_by_uuid(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    done = task()
    client.post(sim_server.url, json=[done])
    a, b, bad = task(seed=1), task(seed=2, deliveryMethod="async"), task(settings={"temperature": 9})
    body = [a, b, bad, {"taskType": "getResponse", "taskUUID": done["taskUUID"]}]
    r = client.post(sim_server.url, json=body)
    assert r.status_code == 200  # some succeeded: data and errors travel together
    by_uuid: dict[str, list[dict[str, object]]] = {}
    for item in r.json()["data"]:
        by_uuid.setdefault(str(item["taskUUID"]), []).append(item)
    assert "text" in by_uuid[a["taskUUID"]][0]
    assert by_uuid[b["taskUUID"]] == [{"taskType": "textInference", "taskUUID": b["taskUUID"]}]
    assert by_uuid[done["taskUUID"]][0]["status"] == "success"
    (error,) = r.json()["errors"]
    assert error["taskUUID"] == bad["taskUUID"] and error["parameter"] == "settings.temperature"


def test_reused_task_uuid_is_a_conflict_and_is_not_paid_twice(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    t = task()
    first = client.post(sim_server.url, json=[t]).json()["data"][0]
    again = client.post(sim_server.url, json=[t])
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "conflictTaskUUID"
    stats = sim_server.stats()
    assert stats["requests"][t["taskUUID"]] == 2 and stats["paid"][t["taskUUID"]] == 1
    polled = poll(client, sim_server.url, t["taskUUID"]).json()["data"][0]
    assert polled["text"] == first["text"]


def test_webhook_receives_each_result_as_a_flat_task_object(
    sim_server: ServerHandle, client: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    t = task(deliveryMethod="async", numberResults=2, webhookURL=webhook_receiver.url)
    client.post(sim_server.url, json=[t])
    got = webhook_receiver.wait_for(2)
    assert sorted(g["body"]["resultIndex"] for g in got) == [0, 1]
    assert all(g["body"]["taskUUID"] == t["taskUUID"] and "data" not in g["body"] for g in got)
    assert all(g["secret"] == "s3" for g in got)  # the query string reaches the receiver intact


def test_webhook_is_retried_with_backoff_after_a_non_2xx_answer(
    client: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first = 2
    config = ServerConfig(sim={"zero_latency": True}, webhook_backoff=0.01)
    with serve_in_background(config) as server:
        t = task(webhookURL=webhook_receiver.url)
        client.post(server.url, json=[t])
        (got,) = webhook_receiver.wait_for(1)
        assert got["body"]["taskUUID"] == t["taskUUID"]
        assert webhook_receiver.attempts == 3
        assert server.stats()["webhook_posts"][t["taskUUID"]] == 3


def test_stream_can_report_the_server_send_time(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(sim={"zero_latency": True, "report_send_time": True})) as server:
        before = time.monotonic()
        with client.stream("POST", server.url, json=[task(deliveryMethod="stream")]) as r:
            chunks = [json.loads(e) for e in read_sse(r)[:-1]]
        after = time.monotonic()
    stamps = [c["simSentAt"] for c in chunks]
    assert stamps == sorted(stamps) and before <= stamps[0] <= stamps[-1] <= after


def test_latency_follows_the_configured_time_to_first_token(client: httpx.Client) -> None:
    sim = {"ttft_mean": 0.3, "ttft_jitter": 0.0, "tokens_per_s": 1000.0, "output_tokens": 5}
    with serve_in_background(ServerConfig(sim=sim)) as server:
        start = time.monotonic()
        with client.stream("POST", server.url, json=[task(deliveryMethod="stream")]) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    first = time.monotonic() - start
                    break
    assert 0.28 <= first < 1.5


def test_known_answer_marker_accuracy_falls_with_temperature(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    def accuracy(temperature: float) -> float:
        body = [
            task(
                seed=s,
                messages=[{"role": "user", "content": "What is 6*7? [[answer:42]]"}],
                settings={"temperature": temperature, "topP": 1},
            )
            for s in range(100)
        ]
        items = client.post(sim_server.url, json=body).json()["data"]
        return sum(i["text"] == "42" for i in items) / len(items)

    cold, hot = accuracy(0.0), accuracy(2.0)
    # Expected 0.85 and 0.25 (base 0.95, slopes 0.3 per temperature and 0.1 per topP).
    assert cold > 0.7 and hot < 0.45


def test_queue_full_answers_429(client: httpx.Client) -> None:
    config = ServerConfig(queue_size=1, sim={"ttft_mean": 0.5, "ttft_jitter": 0})
    with serve_in_background(config) as server:
        slow = task(deliveryMethod="async")
        assert client.post(server.url, json=[slow]).status_code == 200
        refused = task()
        r = client.post(server.url, json=[refused])
        assert r.status_code == 429 and r.json()["errors"][0]["code"] == "tooManyRequests"
        poll(client, server.url, slow["taskUUID"])
        # Refused before generation: nothing paid, and the same taskUUID may be sent again.
        assert refused["taskUUID"] not in server.stats()["paid"]
        assert client.post(server.url, json=[refused]).status_code == 200


@pytest.mark.anyio
async def test_async_server_variant_and_concurrent_streams() -> None:
    texts: dict[int, str] = {}
    async with (
        serve_async(ServerConfig(sim={"zero_latency": True})) as server,
        httpx.AsyncClient(timeout=30, trust_env=False) as ac,
    ):

        async def one(seed: int) -> None:
            body = [task(deliveryMethod="stream", seed=seed)]
            async with ac.stream("POST", server.url, json=body) as r:
                lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            texts[seed] = "".join(json.loads(x[6:])["delta"].get("text", "") for x in lines[:-1])

        async with anyio.create_task_group() as group:
            for seed in range(8):
                group.start_soon(one, seed)
        sync = (await ac.post(server.url, json=[task(seed=3)])).json()["data"][0]["text"]
    assert texts[3] == sync and len(texts) == 8


def test_a_waiting_stream_gets_keep_alive_comments(client: httpx.Client) -> None:
    config = ServerConfig(keepalive_seconds=0.05, sim={"ttft_mean": 0.4, "ttft_jitter": 0})
    with (
        serve_in_background(config) as server,
        client.stream("POST", server.url, json=[task(deliveryMethod="stream")]) as r,
    ):
        lines = [line for line in r.iter_lines() if line]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert first_data >= 2 and all(line == ": keep-alive" for line in lines[:first_data])
    assert lines[-1] == "data: [DONE]"
