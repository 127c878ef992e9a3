"""Regressions from review: malformed input never costs other tasks their answers, bounded error
messages, taskUUIDs echoed as sent, bounded memory, JSON envelopes for unknown routes and methods."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from evals.model_spec import ParamSpec
from runners.server import ServerConfig, ServerHandle, serve_in_background
from runners.server import app as app_module
from runners.server.openai_door import OpenAIDoor
from runners.server.protocol import InferenceTask
from runners.server.tasks import TaskStore
from tests.runners.server.conftest import MODEL, poll, task

NESTED = "[" * 1000 + "]" * 1000


def raw_task(**fields: str) -> bytes:
    """A textInference task as JSON text, each of ``fields`` spliced in raw (e.g. deeply nested)."""
    extra = "".join(f',"{k}":{v}' for k, v in fields.items())
    head = '[{"taskType":"textInference","taskUUID":"' + str(uuid.uuid4()) + '","model":"' + MODEL + '",'
    return (head + '"messages":[{"role":"user","content":"hi"}]' + extra + "}]").encode()


# --- 1. a malformed webhookURL, and any unexpected failure, stays that task's own error --------


def test_malformed_webhook_url_is_400_and_the_batch_keeps_its_answers(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    good = task()
    r = client.post(sim_server.url, json=[good, task(webhookURL="http://[::1")])
    assert r.status_code == 200
    assert [d["taskUUID"] for d in r.json()["data"]] == [good["taskUUID"]]
    [error] = r.json()["errors"]
    assert error["code"] == "invalidParameter" and error["parameter"] == "webhookURL"
    alone = client.post(sim_server.url, json=[task(webhookURL="http://[::1")])
    assert alone.status_code == 400 and alone.json()["errors"][0]["parameter"] == "webhookURL"
    port = client.post(sim_server.url, json=[task(webhookURL="http://127.0.0.1:99999/x")])
    assert port.status_code == 400 and port.json()["errors"][0]["parameter"] == "webhookURL"


def test_every_task_is_validated_before_any_starts(sim_server: ServerHandle, client: httpx.Client) -> None:
    """A task after a bad one is validated first; the bad one does not leave the good one stranded."""
    good = task(deliveryMethod="async")
    r = client.post(sim_server.url, json=[good, task(seed="x")])
    assert r.status_code == 200 and r.json()["data"][0]["taskUUID"] == good["taskUUID"]
    assert poll(client, sim_server.url, good["taskUUID"]).json()["data"][0]["status"] == "success"


@pytest.fixture
def fresh_server() -> Iterator[ServerHandle]:
    with serve_in_background(ServerConfig(engine="sim", sim={"zero_latency": True})) as handle:
        yield handle


def test_an_unexpected_exception_is_that_tasks_error_not_a_500_for_the_post(
    fresh_server: ServerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = app_module.parse_text_inference
    boom = str(uuid.uuid4())
    deep = str(uuid.uuid4())

    def flaky(obj: dict[str, Any], *args: Any) -> InferenceTask:
        if obj["taskUUID"] == boom:
            raise KeyError("a bug")
        if obj["taskUUID"] == deep:
            raise RecursionError
        return real(obj, *args)

    monkeypatch.setattr(app_module, "parse_text_inference", flaky)
    good = task()
    r = client.post(fresh_server.url, json=[good, task(taskUUID=boom), task(taskUUID=deep)])
    assert r.status_code == 200
    assert r.json()["data"][0]["taskUUID"] == good["taskUUID"]
    codes = {e["taskUUID"]: (e["code"], e["taskType"]) for e in r.json()["errors"]}
    assert codes == {
        boom: ("internalServerError", "textInference"),
        deep: ("invalidParameter", "textInference"),
    }


def test_recursion_error_is_400_for_the_whole_post_and_the_door(
    fresh_server: ServerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deep(*args: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(app_module, "parse_json", deep)
    monkeypatch.setattr(OpenAIDoor, "_parse", deep)
    r = client.post(fresh_server.url, json=[task()])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalidRequestBody"
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    r = client.post(fresh_server.openai_url + "/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# --- 2. deep nesting and huge values: bounded messages, built only on failure ------------------


@pytest.mark.parametrize(
    "body",
    [
        raw_task(seed=NESTED),
        raw_task(model=NESTED),
        raw_task(includeCost=NESTED),
        raw_task(webhookURL=NESTED),
        raw_task(settings='{"topK":' + NESTED + "}"),
        ('[{"taskType":' + NESTED + ',"taskUUID":"' + str(uuid.uuid4()) + '"}]').encode(),
        ('[{"taskType":"getResponse","taskUUID":' + NESTED + "}]").encode(),
    ],
)
def test_deeply_nested_values_are_400_with_a_short_message(
    sim_server: ServerHandle, client: httpx.Client, body: bytes
) -> None:
    r = client.post(sim_server.url, content=body)
    assert r.status_code == 400, r.text[:300]
    assert len(r.content) < 1000


def test_the_openai_door_refuses_deep_nesting_with_400(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    body = (
        '{"model":"' + MODEL + '","messages":[{"role":"user","content":"hi"}],"temperature":' + NESTED + "}"
    )
    r = client.post(sim_server.openai_url + "/chat/completions", content=body.encode())
    assert r.status_code == 400 and len(r.content) < 1000


def test_huge_values_are_not_echoed_whole(sim_server: ServerHandle, client: httpx.Client) -> None:
    huge = "x" * 1_000_000
    for bad in (task(model=huge), task(seed=huge), task(**{huge: 1}), task(settings={huge: 1})):
        r = client.post(sim_server.url, json=[bad])
        assert r.status_code == 400 and len(r.content) < 2000
    r = client.post(sim_server.url, json=[{"taskType": huge, "taskUUID": huge}])
    assert r.status_code == 400 and len(r.content) < 2000


def test_param_spec_messages_are_bounded_and_lazy() -> None:
    spec = ParamSpec("seed", "int", min=0, max=10)
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    reason = spec.check(deep)
    assert reason is not None and len(reason) < 200
    reason = spec.check("y" * 1_000_000)
    assert reason is not None and len(reason) < 200

    class NoRepr(int):
        def __repr__(self) -> str:
            raise AssertionError("repr built for a passing value")

    assert spec.check(NoRepr(5)) is None


# --- 3. taskUUID comes back exactly as sent ---------------------------------------------------


def uuid_forms() -> list[str]:
    u = uuid.uuid4()
    return [str(u).upper(), f"urn:uuid:{u}", u.hex]


@pytest.mark.parametrize("form", [0, 1, 2])
def test_task_uuid_is_echoed_as_sent(sim_server: ServerHandle, client: httpx.Client, form: int) -> None:
    sent = uuid_forms()[form]
    r = client.post(sim_server.url, json=[task(taskUUID=sent)])
    assert r.status_code == 200 and r.json()["data"][0]["taskUUID"] == sent
    other = str(uuid.UUID(sent))  # the same UUID in another form: a conflict, and pollable
    again = client.post(sim_server.url, json=[task(taskUUID=other)])
    assert again.status_code == 409 and again.json()["errors"][0]["taskUUID"] == other
    polled = poll(client, sim_server.url, other).json()["data"]
    assert polled[0]["taskUUID"] == other and polled[0]["status"] == "success"


def test_task_uuid_is_echoed_as_sent_in_async_errors_and_streams(
    sim_server: ServerHandle, client: httpx.Client
) -> None:
    sent = uuid_forms()[0]
    r = client.post(sim_server.url, json=[task(taskUUID=sent, deliveryMethod="async")])
    assert r.json()["data"] == [{"taskType": "textInference", "taskUUID": sent}]
    assert poll(client, sim_server.url, sent).json()["data"][0]["taskUUID"] == sent
    sent = uuid_forms()[1]
    r = client.post(sim_server.url, json=[task(taskUUID=sent, seed=-1)])
    assert r.json()["errors"][0]["taskUUID"] == sent
    sent = uuid_forms()[2]
    with client.stream("POST", sim_server.url, json=[task(taskUUID=sent, deliveryMethod="stream")]) as s:
        lines = [line for line in s.iter_lines() if line.startswith("data: {")]
    assert lines and all(f'"taskUUID":"{sent}"' in line for line in lines)


# --- 4. bounded memory and batches ------------------------------------------------------------


def test_too_many_tasks_in_one_post_is_400(client: httpx.Client) -> None:
    with serve_in_background(
        ServerConfig(engine="sim", sim={"zero_latency": True}, max_tasks_per_post=3)
    ) as s:
        r = client.post(s.url, json=[task(deliveryMethod="async") for _ in range(4)])
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "tooManyTasks"
        assert s.stats()["requests"] == {}
        assert client.post(s.url, json=[task() for _ in range(3)]).status_code == 200


def test_the_default_cap_is_1000_tasks_and_a_big_post_leaves_the_loop_free(client: httpx.Client) -> None:
    assert ServerConfig().max_tasks_per_post == 1000
    config = ServerConfig(engine="sim", sim={"zero_latency": True}, queue_size=2000)
    with serve_in_background(config) as server:
        _big_post(server, client)


def _big_post(sim_server: ServerHandle, client: httpx.Client) -> None:
    body = [task(deliveryMethod="async", includeUsage=False, includeCost=False) for _ in range(1000)]
    slowest = [0.0]
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30, trust_env=False) as c:
            while not done.is_set():
                start = time.monotonic()
                c.get(sim_server.url.removesuffix("/v1") + "/health")
                slowest[0] = max(slowest[0], time.monotonic() - start)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        r = client.post(sim_server.url, json=body)
    finally:
        done.set()
        thread.join()
    assert r.status_code == 200 and len(r.json()["data"]) == 1000
    assert slowest[0] < 1.0


def test_polls_of_unknown_task_uuids_are_not_counted(sim_server: ServerHandle, client: httpx.Client) -> None:
    unknown = str(uuid.uuid4())
    r = client.post(sim_server.url, json=[{"taskType": "getResponse", "taskUUID": unknown}])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "taskNotFound"
    assert unknown not in sim_server.stats()["polls"]


def test_counters_expire_with_the_task_records(client: httpx.Client) -> None:
    config = ServerConfig(engine="sim", sim={"zero_latency": True}, result_ttl=0.3)
    with serve_in_background(config) as s:
        done, refused = task(), task(seed=-1)
        client.post(s.url, json=[done, refused])
        client.post(s.url, json=[{"taskType": "getResponse", "taskUUID": done["taskUUID"]}])
        stats = s.stats()
        assert stats["paid"] == {done["taskUUID"]: 1} and done["taskUUID"] in stats["polls"]
        time.sleep(0.5)
        client.post(s.url, json=[{"taskType": "getResponse", "taskUUID": done["taskUUID"]}])  # expires
        stats = s.stats()
        for name in ("requests", "polls", "paid", "paid_results"):
            assert stats[name] == {}, name


def test_task_store_keeps_the_counters_of_a_live_record() -> None:
    store = TaskStore(result_ttl=0.05)
    t = InferenceTask("K", MODEL, (), 1, 1, "sync", None, False, False, {})
    store.count_request(t.key)
    record = store.claim(t)
    time.sleep(0.1)
    store.get("other")  # expiry runs: the record still processing keeps its counters
    assert store.requests["K"] == 1
    store.finish(record)
    time.sleep(0.1)
    store.get("other")
    assert "K" not in store.records and "K" not in store.requests and not store._last_touch


# --- 5. unknown routes and methods get the envelope; the door honours capacity --------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1", 405, "methodNotAllowed"),
        ("POST", "/v1/models", 405, "methodNotAllowed"),
        ("PUT", "/v1/chat/completions", 405, "methodNotAllowed"),
        ("POST", "/nope", 404, "notFound"),
    ],
)
def test_unknown_routes_and_methods_get_the_errors_envelope(
    sim_server: ServerHandle, client: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    r = client.request(method, sim_server.url.removesuffix("/v1") + path)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert r.json()["errors"][0]["code"] == code
    if status == 405:
        assert "allow" in r.headers


def test_the_openai_door_honours_the_sim_capacity(client: httpx.Client) -> None:
    config = ServerConfig(engine="sim", sim={"capacity": 1, "ttft_mean": 1.0, "ttft_jitter": 0.0})
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with serve_in_background(config) as s:
        url = s.openai_url + "/chat/completions"
        first: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: first.append(httpx.post(url, json=body, timeout=30)))
        thread.start()
        end = time.monotonic() + 10
        while s.stats()["in_flight"] < 1 and time.monotonic() < end:
            time.sleep(0.01)
        r = client.post(url, json=body)
        assert r.status_code == 429
        assert (
            r.json()["error"]["code"] == "rate_limit_exceeded" and "capacity" in r.json()["error"]["message"]
        )
        native = client.post(s.url, json=[task()])
        assert native.status_code == 429 and native.json()["errors"][0]["code"] == "tooManyRequests"
        thread.join()
        assert first[0].status_code == 200
        assert s.stats()["faults"]["capacity"] == 2
