"""The OpenAI-compatible door: chat completions (plain and streamed) and the model list."""

from __future__ import annotations

import json

import httpx

from runners.server import ServerHandle
from runners.server.engines import GenerationOutput
from runners.server.openai_door import OpenAIDoor
from tests.runners.server.conftest import MODEL, read_sse, task


def test_models_lists_the_alias(sim_server: ServerHandle, client: httpx.Client) -> None:
    r = client.get(sim_server.openai_url + "/models")
    assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == [MODEL]


def test_chat_completion_matches_the_native_api(sim_server: ServerHandle, client: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "seed": 11,
        "max_tokens": 8,
        "temperature": 0.5,
        "n": 2,
    }
    r = client.post(sim_server.openai_url + "/chat/completions", json=body)
    assert r.status_code == 200
    payload = r.json()
    assert [c["index"] for c in payload["choices"]] == [0, 1]
    usage = payload["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}  # the sim does not reason
    native = task(
        seed=11,
        messages=[{"role": "user", "content": "Hi"}],
        settings={"systemPrompt": "Be brief.", "maxTokens": 8, "temperature": 0.5},
    )
    text = client.post(sim_server.url, json=[native]).json()["data"][0]["text"]
    assert payload["choices"][0]["message"]["content"] == text


def test_streamed_chat_completion(sim_server: ServerHandle, client: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "seed": 3,
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", sim_server.openai_url + "/chat/completions", json=body) as r:
        events = read_sse(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    plain = client.post(sim_server.openai_url + "/chat/completions", json={**body, "stream": False}).json()
    assert streamed == plain["choices"][0]["message"]["content"]


def test_bad_request_gets_an_openai_error(sim_server: ServerHandle, client: httpx.Client) -> None:
    for body, param in (
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "logit_bias": {}}, "logit_bias"),
        ({"model": "gpt-x", "messages": [{"role": "user", "content": "x"}]}, "model"),
    ):
        r = client.post(sim_server.openai_url + "/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param
    r = client.post(sim_server.openai_url + "/chat/completions", content=b"{")
    assert r.status_code == 400 and "error" in r.json()


def test_usage_counts_reasoning_inside_completion_tokens() -> None:
    # The OpenAI schema: completion_tokens include the reasoning tokens, given apart in the details.
    outputs = [
        GenerationOutput("a", "stop", prompt_tokens=7, completion_tokens=5, thinking_tokens=3),
        GenerationOutput("b", "stop", prompt_tokens=7, completion_tokens=4, thinking_tokens=2),
    ]
    assert OpenAIDoor._usage(outputs) == {
        "prompt_tokens": 7,
        "completion_tokens": 14,
        "total_tokens": 21,
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
