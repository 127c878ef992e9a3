"""Fault injection of the sim engine: deterministic, counted, and paid only when a result exists."""

from __future__ import annotations

import json
import uuid
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from evals.errors import ConfigError
from runners.server import FAULT_KINDS, ServerConfig, ServerHandle, SimOptions, serve_in_background
from runners.server.faults import decide
from tests.runners.server.conftest import WebhookReceiver, poll, read_sse, task


def faulty(**sim: Any) -> AbstractContextManager[ServerHandle]:
    return serve_in_background(ServerConfig(sim={"zero_latency": True, **sim}))


def test_fault_decisions_are_a_pure_function_of_seed_uuid_and_attempt() -> None:
    rates = {"http_500": 0.2, "drop": 0.2, "no_done": 0.1}
    uuids = [str(uuid.UUID(int=i, version=4)) for i in range(300)]
    first = [decide(rates, 7, u, a) for u in uuids for a in (1, 2)]
    assert first == [decide(rates, 7, u, a) for u in uuids for a in (1, 2)]
    assert first != [decide(rates, 8, u, a) for u in uuids for a in (1, 2)]
    share = sum(f == "http_500" for f in first) / len(first)
    assert 0.15 < share < 0.25  # the rate is honoured
    assert decide({}, 7, uuids[0], 1) is None


def test_sim_options_refuse_unknown_faults_and_keys() -> None:
    with pytest.raises(ConfigError, match="unknown fault"):
        SimOptions(faults={"http_418": 0.5})
    with pytest.raises(ConfigError, match="more than 1"):
        SimOptions(faults={"http_500": 0.7, "drop": 0.7})
    with pytest.raises(ConfigError, match="unknown option"):
        SimOptions.from_value({"latency": 3})
    for bad in ({"faults": ["drop"]}, {"tokens_per_s": "fast"}, {"zero_latency": 1}, {"capacity": 2.5}):
        with pytest.raises(ConfigError, match="wrong type"):
            SimOptions.from_value(bad)
    assert SimOptions.from_value({"ttft_mean": 1, "capacity": 3}).ttft_mean == 1
    assert set(FAULT_KINDS) >= {"http_429", "drop", "midstream_error", "duplicate_webhook"}


@pytest.mark.parametrize(
    ("kind", "status"), [("http_429", 429), ("http_500", 500), ("http_503", 503), ("http_504", 504)]
)
def test_status_faults_come_before_generation_and_are_not_paid(
    client: httpx.Client, kind: str, status: int
) -> None:
    with faulty(faults={kind: 1.0}) as server:
        t = task()
        r = client.post(server.url, json=[t])
        assert r.status_code == status and r.json()["errors"][0]["taskUUID"] == t["taskUUID"]
        r = client.post(server.url, json=[t])  # the retry is a fresh task, not a conflict
        assert r.status_code == status
        stats = server.stats()
        assert stats["faults"] == {kind: 2} and stats["requests"][t["taskUUID"]] == 2
        assert stats["paid"] == {}


def test_faults_replay_identically_on_a_fresh_server(client: httpx.Client) -> None:
    uuids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(40)]

    def statuses() -> list[int]:
        with faulty(fault_seed=3, faults={"http_500": 0.3, "http_503": 0.2}) as server:
            return [client.post(server.url, json=[task(taskUUID=u)]).status_code for u in uuids]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 503} == set(first)


def test_dropped_connection_after_generation_is_paid_and_resolved_by_polling(client: httpx.Client) -> None:
    with faulty(faults={"drop": 1.0}) as server:
        t = task()
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.url, json=[t])
        retry = client.post(server.url, json=[t])
        assert retry.status_code == 409 and retry.json()["errors"][0]["code"] == "conflictTaskUUID"
        (item,) = poll(client, server.url, t["taskUUID"]).json()["data"]
        assert item["status"] == "success" and item["text"]
        stats = server.stats()
        assert stats["paid"] == {t["taskUUID"]: 1} and stats["faults"] == {"drop": 1}
        assert stats["requests"][t["taskUUID"]] == 2


def test_malformed_json_answer(client: httpx.Client) -> None:
    with faulty(faults={"malformed_json": 1.0}) as server:
        r = client.post(server.url, json=[task()])
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)


def test_read_stall_trips_the_client_read_timeout(client: httpx.Client) -> None:
    with faulty(faults={"stall": 1.0}, stall_seconds=3.0) as server:
        with pytest.raises(httpx.ReadTimeout):
            client.post(server.url, json=[task()], timeout=httpx.Timeout(5.0, read=0.3))
        assert server.stats()["faults"] == {"stall": 1}


def test_midstream_error_line_discards_the_generation(client: httpx.Client) -> None:
    with faulty(faults={"midstream_error": 1.0}) as server:
        t = task(deliveryMethod="stream")
        for _ in range(2):  # not paid, so the same taskUUID is accepted again (no conflict)
            with client.stream("POST", server.url, json=[t]) as r:
                events = read_sse(r)
            assert "[DONE]" not in events
            assert json.loads(events[-1])["errors"][0]["code"] == "streamError"
            assert json.loads(events[0])["delta"]["text"]
        stats = server.stats()
        assert stats["paid"] == {} and stats["faults"] == {"midstream_error": 2}


def test_stream_without_done_is_paid(client: httpx.Client) -> None:
    with faulty(faults={"no_done": 1.0}) as server:
        t = task(deliveryMethod="stream")
        with client.stream("POST", server.url, json=[t]) as r:
            events = read_sse(r)
        assert events[-1] != "[DONE]" and "usage" in json.loads(events[-1])
        assert server.stats()["paid"] == {t["taskUUID"]: 1}


def test_dropped_stream(client: httpx.Client) -> None:
    with faulty(faults={"drop": 1.0}) as server:
        t = task(deliveryMethod="stream")
        with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", server.url, json=[t]) as r:
            read_sse(r)
        assert client.post(server.url, json=[t]).status_code == 409


def test_malformed_stream_event(client: httpx.Client) -> None:
    with faulty(faults={"malformed_json": 1.0}) as server:
        with client.stream("POST", server.url, json=[task(deliveryMethod="stream")]) as r:
            events = read_sse(r)
        with pytest.raises(json.JSONDecodeError):
            json.loads(events[0])
        assert events[-1] == "[DONE]"


def test_duplicate_webhook_deliveries(client: httpx.Client, webhook_receiver: WebhookReceiver) -> None:
    with faulty(faults={"duplicate_webhook": 1.0}) as server:
        t = task(deliveryMethod="async", webhookURL=webhook_receiver.url)
        client.post(server.url, json=[t])
        got = webhook_receiver.wait_for(2)
        assert [g["body"]["taskUUID"] for g in got] == [t["taskUUID"]] * 2
        assert server.stats()["paid_results"] == {t["taskUUID"]: 1}


def test_capacity_limit_answers_429_beyond_n_concurrent_tasks(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(sim={"capacity": 2, "ttft_mean": 0.5, "ttft_jitter": 0})) as server:
        running = [task(deliveryMethod="async") for _ in range(2)]
        assert client.post(server.url, json=running).status_code == 200
        r = client.post(server.url, json=[task()])
        assert r.status_code == 429
        assert server.stats()["faults"] == {"capacity": 1}
        for t in running:
            poll(client, server.url, t["taskUUID"])
        assert client.post(server.url, json=[task()]).status_code == 200


def test_stats_endpoint(sim_server: ServerHandle, client: httpx.Client) -> None:
    t = task()
    client.post(sim_server.url, json=[t])
    stats = client.get(sim_server.base_url + "/_sim/stats").json()
    assert stats["requests"][t["taskUUID"]] == 1 and stats["paid_results"][t["taskUUID"]] == 1
