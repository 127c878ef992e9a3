"""JSON and Server-Sent Events on the wire: orjson when installed (it is optional), else the stdlib."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from runners.server.protocol import ProtocolError, errors_envelope

try:
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - depends on the optional "speed" extra

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(data: bytes) -> Any:
        return json.loads(data)


DROP = b"\x00drop"
"""Yielded by a body iterator to cut the connection without completing the response (a fault)."""


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def error_response(errors: list[ProtocolError]) -> Response:
    return json_response(errors_envelope(errors), errors[0].status)


def sse(payload: Any) -> bytes:
    """One ``data:`` event; ``payload`` may be a JSON-able object or already-encoded bytes."""
    body = payload if isinstance(payload, bytes) else dumps(payload)
    return b"data: " + body + b"\n\n"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, "payloadTooLarge", f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, "payloadTooLarge", f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return loads(body)
    except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
        raise ProtocolError(400, "invalidJson", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # the stdlib parser on deeply nested input
        raise ProtocolError(400, "invalidJson", "the request body is nested too deeply") from None


class RawResponse(Response):
    """A response written chunk by chunk, which may also end without completing (``DROP``)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        status_code: int = 200,
        media_type: str = "application/json",
        content_length: int | None = None,
    ) -> None:
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.chunks = chunks
        # Without a length, uvicorn uses chunked encoding (streams); with one, a cut body is detectable.
        headers = [(b"content-type", media_type.encode())]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        if media_type == "text/event-stream":
            headers.append((b"cache-control", b"no-cache"))
        self.raw_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.chunks:
                if chunk is DROP:
                    return  # the server closes the connection mid-answer
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:  # the client went away; the task itself carries on and is kept
            return
        finally:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
