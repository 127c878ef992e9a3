"""The API key reaches the wire and nothing else: no result, error, note, repr or log line."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from evals.errors import ConfigError
from evals.suite import Target
from runners.credentials import FRAGMENT, Redactor, load_api_key, redact
from runners.providers import OpenAICompatProvider, RunwareProvider, open_provider
from tests.runners.test_runware_mock import make_task

KEY = "rw-test-key-5f1c9a2b7d3e"


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """A hostile server: it echoes the Authorization header into every field it can."""

    async def runware(request: Request) -> Response:
        secret = request.headers.get("authorization", "")
        (task,) = json.loads(await request.body())
        mode = request.query_params.get("mode")
        if mode == "error":
            body = {
                "errors": [{"code": f"bad {secret}", "message": f"key {secret} refused", "parameter": secret}]
            }
            return JSONResponse(body, status_code=401)
        item = {"taskUUID": task["taskUUID"], "text": f"you sent {secret}", "reasoningContent": [secret]}
        if task.get("deliveryMethod") == "stream":
            event = {"taskUUID": task["taskUUID"], "delta": {"text": secret}, "finishReason": "stop"}
            body_bytes = b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
            return Response(body_bytes, media_type="text/event-stream")
        return JSONResponse({"data": [{**item, "finishReason": "stop"}]})

    async def chat(request: Request) -> Response:
        secret = request.headers.get("authorization", "")
        message = {"role": "assistant", "content": secret, "reasoning_content": secret}
        return JSONResponse({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    async def cut(request: Request) -> Response:
        """Echo the header after ``pad`` characters, so the key straddles an error message's cut."""
        secret = request.headers.get("authorization", "")
        kind, pad = request.path_params["kind"], request.path_params["pad"]
        if kind == "status500":  # not JSON: the status decides, the body is quoted
            return Response("x" * pad + " got " + secret, status_code=500)
        if kind == "html200":  # not JSON either, with a success status
            return Response("<html>" + "y" * pad + secret, media_type="text/html")
        if kind == "half":  # only part of the key, in a proper error
            body = {"errors": [{"code": "denied", "message": "z" * pad + secret[: len(secret) // 2 + 3]}]}
            return JSONResponse(body, status_code=400)
        if kind == "sse-event":  # an event that is not JSON
            data = b"data: " + ("z" * pad + secret).encode() + b"\n\ndata: [DONE]\n\n"
            return Response(data, media_type="text/event-stream")
        # "sse-error": an error event whose errors are not a list, quoted whole
        event = json.dumps({"errors": "z" * pad + secret}).encode()
        return Response(b"data: " + event + b"\n\ndata: [DONE]\n\n", media_type="text/event-stream")

    app = Starlette(
        routes=[
            Route("/v1", runware, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/cut/{kind}/{pad:int}/v1", cut, methods=["POST"]),
            Route("/cut/{kind}/{pad:int}/v1/chat/completions", cut, methods=["POST"]),
        ]
    )
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
async def test_key_is_scrubbed_from_results_errors_reprs_and_logs(
    echo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at debug level
    records = []
    async with RunwareProvider(endpoint=echo_url, api_key=KEY) as p:
        for method in ("sync", "stream"):
            records.append(await p.send(make_task(deliveryMethod=method), str(uuid.uuid4()), 1))
        records.append(await p.send(make_task(), str(uuid.uuid4()), 1))
        texts = [repr(p)]
    async with RunwareProvider(endpoint=f"{echo_url}?mode=error", api_key=KEY) as p:
        records.append(await p.send(make_task(), str(uuid.uuid4()), 1))
    async with OpenAICompatProvider(endpoint=echo_url, api_key=KEY) as o:
        records.append(await o.send(make_task(), "u", 1))
        texts.append(repr(o))
    assert records[0].ok and "***" in records[0].generations[0].text  # the echo happened, and was scrubbed
    assert records[1].ok and records[1].generations[0].text == "Bearer ***"
    assert records[3].error is not None and records[3].error.error_class.value == "fatal"
    texts += [json.dumps(asdict(r), default=str) for r in records] + [repr(r) for r in records]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert KEY not in text


def key_pieces(text: str, size: int = FRAGMENT) -> list[str]:
    """Every run of ``size`` characters of the key that ``text`` contains."""
    return [KEY[i : i + size] for i in range(len(KEY) - size + 1) if KEY[i : i + size] in text]


# (kind, paddings): each range moves the key across the cut of the message that quotes it — 300
# characters of an error body, 200 of a body or event that is not JSON, 300 of an error event.
CUTS = [
    ("status500", range(262, 292, 3)),
    ("html200", range(160, 190, 3)),
    ("half", range(0, 10, 5)),
    ("sse-event", range(166, 196, 3)),
    ("sse-error", range(254, 284, 3)),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "pads"), CUTS, ids=[kind for kind, _ in CUTS])
async def test_no_piece_of_the_key_survives_a_cut_error_message(
    echo_url: str, kind: str, pads: range
) -> None:
    base = echo_url.removesuffix("/v1")
    method = "stream" if kind.startswith("sse") else "sync"
    for pad in pads:
        endpoint = f"{base}/cut/{kind}/{pad}/v1"
        records = []
        async with RunwareProvider(endpoint=endpoint, api_key=KEY) as p:
            records.append(await p.send(make_task(deliveryMethod=method), str(uuid.uuid4()), 1))
        async with OpenAICompatProvider(endpoint=endpoint, api_key=KEY) as o:
            records.append(await o.send(make_task(deliveryMethod=method), "u", 1))
        for record in records:
            assert record.error is not None, (kind, pad)
            text = json.dumps(asdict(record), default=str)
            assert key_pieces(text) == [], (kind, pad, record.error.message[-80:])


def test_redactor_masks_bearer_tokens_and_key_fragments_but_leaves_model_text_alone() -> None:
    redactor = Redactor([KEY])
    assert redactor(f"auth: Bearer {KEY[:10]}") == "auth: Bearer ***"
    assert redactor(f"cut here {KEY[:8]}") == "cut here ***"
    assert redactor(f"{KEY[-9:]} and on") == "*** and on"
    assert redactor.clip("a" * 10 + KEY, 15) == "a" * 10 + "***"
    assert redactor("nothing to hide here") == "nothing to hide here"
    # Model output loses only the whole key: it is scored, and "Bearer" is an ordinary word there.
    assert redactor.exact(f"use Bearer tokens, not {KEY}") == "use Bearer tokens, not ***"


def test_missing_key_is_a_config_error_that_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWARE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="RUNWARE_API_KEY is not set"):
        open_provider(Target(provider="runware"))


def test_key_from_dotenv_is_read_without_exporting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWARE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"RUNWARE_API_KEY={KEY}\n", encoding="utf-8")
    assert load_api_key() == KEY
    assert "RUNWARE_API_KEY" not in os.environ
    provider = open_provider(Target(provider="runware"))
    assert isinstance(provider, RunwareProvider) and KEY not in repr(provider)
    # The environment wins over the file.
    assert load_api_key(environ={"RUNWARE_API_KEY": " other-key \n"}) == "other-key"
    assert load_api_key("NOT_THERE") is None


def test_redact() -> None:
    assert redact(f"a {KEY} b {KEY}", KEY) == "a *** b ***"
    assert redact("short a", "a") == "short a"  # too short to be a key: left alone
