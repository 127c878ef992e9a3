"""Validation and error answers: the errors envelope, the right HTTP status, and a server that survives."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runners.server import ServerConfig, ServerHandle, serve_in_background
from tests.runners.server.conftest import MODEL, poll, task


def assert_alive(server: ServerHandle, client: httpx.Client) -> None:
    r = client.post(server.url, json=[task()])
    assert r.status_code == 200 and r.json()["data"][0]["text"]


BAD_TASKS: list[tuple[str, dict[str, Any], str]] = [
    ("missing model", {"model": None}, "model"),
    ("unknown model", {"model": "other:model@1"}, "model"),
    ("missing messages", {"messages": None}, "messages"),
    ("empty messages", {"messages": []}, "messages"),
    (
        "system role",
        {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]},
        "messages[0].role",
    ),
    (
        "last not user",
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        "messages[1].role",
    ),
    ("content not text", {"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ("bad uuid", {"taskUUID": "not-a-uuid"}, "taskUUID"),
    ("missing uuid", {"taskUUID": None}, "taskUUID"),
    ("seed too big", {"seed": 2**32}, "seed"),
    ("seed not int", {"seed": 1.5}, "seed"),
    ("too many results", {"numberResults": 5}, "numberResults"),
    ("zero results", {"numberResults": 0}, "numberResults"),
    ("stream with several results", {"deliveryMethod": "stream", "numberResults": 2}, "numberResults"),
    ("unknown delivery", {"deliveryMethod": "carrier-pigeon"}, "deliveryMethod"),
    ("bad webhook", {"webhookURL": "ftp://example"}, "webhookURL"),
    ("includeCost not bool", {"includeCost": "yes"}, "includeCost"),
    ("unknown key", {"temperature": 0.5}, "temperature"),
    ("unknown setting", {"settings": {"topA": 1}}, "settings.topA"),
    ("temperature too high", {"settings": {"temperature": 2.5}}, "settings.temperature"),
    ("off step", {"settings": {"topP": 0.955}}, "settings.topP"),
    ("topK not int", {"settings": {"topK": 2.0}}, "settings.topK"),
    ("maxTokens zero", {"settings": {"maxTokens": 0}}, "settings.maxTokens"),
    ("empty stop list", {"settings": {"stopSequences": []}}, "settings.stopSequences"),
    ("empty system prompt", {"settings": {"systemPrompt": ""}}, "settings.systemPrompt"),
    ("unknown thinking level", {"settings": {"thinkingLevel": "max"}}, "settings.thinkingLevel"),
    ("settings not object", {"settings": [1]}, "settings"),
]


@pytest.mark.parametrize(
    ("change", "parameter"), [(c, p) for _, c, p in BAD_TASKS], ids=[n for n, _, _ in BAD_TASKS]
)
def test_bad_parameter_is_400_naming_it(
    sim_server: ServerHandle, client: httpx.Client, change: dict[str, Any], parameter: str
) -> None:
    t = {k: v for k, v in {**task(), **change}.items() if v is not None}
    r = client.post(sim_server.url, json=[t])
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["parameter"] == parameter
    assert parameter.split(".")[-1].split("[")[0] in error["message"]


def test_thinking_level_is_accepted(sim_server: ServerHandle, client: httpx.Client) -> None:
    r = client.post(sim_server.url, json=[task(settings={"thinkingLevel": "low", "maxTokens": 4})])
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalidJson"),
        (b"", 400, "invalidJson"),
        (b"\xff\xfe\x00", 400, "invalidJson"),
        (b"{}", 400, "invalidRequestBody"),
        (b"[]", 400, "invalidRequestBody"),
        (b"[1, 2]", 400, "invalidRequestBody"),
        (b'"text"', 400, "invalidRequestBody"),
        (b"[" * 100000 + b"]" * 100000, 400, "invalidJson"),
        (b'[{"taskType": "imageInference"}]', 400, "invalidTaskType"),
        (b'[{"taskType": 7}]', 400, "invalidTaskType"),
        (b'[{"taskType": "textInference"}]', 400, "missingParameter"),
        (b'[{"taskType": "getResponse"}]', 400, "missingParameter"),
        (b'[{"taskType": "authentication", "apiKey": "x"}]', 400, "invalidRequestBody"),
        (b'[{"taskType": "textInference", "seed": NaN}]', 400, "invalidJson"),
    ],
)
def test_malformed_bodies_get_an_errors_envelope(
    sim_server: ServerHandle, client: httpx.Client, body: bytes, status: int, code: str
) -> None:
    r = client.post(sim_server.url, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code
    assert_alive(sim_server, client)


def test_oversized_body_is_413_and_the_server_answers_the_next(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(max_body_bytes=2000, sim={"zero_latency": True})) as server:
        big = task(messages=[{"role": "user", "content": "x" * 5000}])
        r = client.post(server.url, json=[big])
        assert r.status_code == 413 and r.json()["errors"][0]["code"] == "payloadTooLarge"

        def chunks() -> Any:  # no Content-Length: the limit must hold while reading
            for _ in range(10):
                yield b"[" + b" " * 500

        r = client.post(server.url, content=chunks())
        assert r.status_code == 413
        assert_alive(server, client)


def test_api_key_is_required_when_configured(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(api_key="sekret", sim={"zero_latency": True})) as server:
        broken = client.post(server.url, content=b"{oops")
        assert broken.status_code == 401
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekret"}):
            r = client.post(server.url, json=[task()], headers=headers)
            assert r.status_code == 401
            assert r.json()["errors"][0]["code"] == "invalidApiKey"
            assert "sekret" not in r.text
        ok = client.post(server.url, json=[task()], headers={"Authorization": "Bearer sekret"})
        assert ok.status_code == 200
        auth_task = {"taskType": "authentication", "apiKey": "sekret"}
        assert client.post(server.url, json=[auth_task, task()]).status_code == 200
        assert client.get(server.openai_url + "/models").status_code == 401
        models = client.get(server.openai_url + "/models", headers={"Authorization": "Bearer sekret"})
        assert models.status_code == 200


def test_a_stream_task_must_travel_alone(sim_server: ServerHandle, client: httpx.Client) -> None:
    r = client.post(sim_server.url, json=[task(deliveryMethod="stream"), task()])
    assert r.status_code == 200
    assert r.json()["errors"][0]["parameter"] == "deliveryMethod"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {"taskType": st.sampled_from(["textInference", "getResponse", "authentication", "x"])},
    optional={
        "taskUUID": st.uuids(version=4).map(str) | json_values,
        "model": st.just(MODEL) | json_values,
        "messages": json_values,
        "settings": st.dictionaries(st.sampled_from(["temperature", "topK", "maxTokens", "z"]), json_values),
        "numberResults": json_values,
        "deliveryMethod": st.sampled_from(["sync", "async"]) | json_values,
    },
)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(task_like, max_size=3) | json_values)
def test_no_body_crashes_the_server(sim_server: ServerHandle, client: httpx.Client, body: Any) -> None:
    r = client.post(sim_server.url, json=body)
    assert r.status_code in (200, 400, 409)
    payload = r.json()
    assert "data" in payload or "errors" in payload
    if r.status_code != 200:
        assert all({"code", "message"} <= set(e) for e in payload["errors"])


def test_an_engine_failure_is_reported_in_every_delivery(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runners.server.engines.sim import SimEngine

    real = SimEngine.generate

    async def flaky(self: SimEngine, request: Any, on_text: Any = None) -> Any:
        if "explode" in request.messages[-1]["content"]:
            raise RuntimeError("engine trouble")
        return await real(self, request, on_text)

    monkeypatch.setattr(SimEngine, "generate", flaky)
    boom = [{"role": "user", "content": "please explode"}]
    with serve_in_background(ServerConfig(sim={"zero_latency": True})) as server:
        r = client.post(server.url, json=[task(messages=boom)])
        assert r.status_code == 500 and r.json()["errors"][0]["code"] == "inferenceFailed"
        t = task(messages=boom, deliveryMethod="async")
        client.post(server.url, json=[t])
        polled = poll(client, server.url, t["taskUUID"])
        (error,) = polled.json()["errors"]
        assert error["status"] == "error" and error["code"] == "inferenceFailed"
        with client.stream("POST", server.url, json=[task(messages=boom, deliveryMethod="stream")]) as s:
            lines = [line for line in s.iter_lines() if line.startswith("data: ")]
        assert "inferenceFailed" in lines[-1] and "[DONE]" not in lines[-1]
        assert "engine trouble" not in r.text  # internals stay on the server
        assert_alive(server, client)
