"""The webhook receiver: a Starlette app on a background uvicorn server, one per run.

Runware POSTs each finished result to the ``webhookURL`` of its task, as a flat task object, and
retries deliveries, so the same result can come twice. The receiver:

* rejects a POST whose ``secret`` query parameter is not this run's (a fresh random secret per run);
* answers 200 at once (the sender wants 2xx within seconds) and hands the result to the event loop
  of the provider that is waiting for it;
* de-duplicates on ``taskUUID`` + result (``resultIndex`` when present, else the result's content);
* keeps results only for tasks someone registered with ``expect`` (a late duplicate after the
  provider gave up and polled instead is dropped).

uvicorn runs in its own thread with its own event loop so the receiver keeps answering while the
harness's loop is busy; results cross into the harness's loop with ``anyio.from_thread.run_sync``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WEBHOOK_PATH = "/webhook"


class Inbox:
    """What arrived for one task: results by de-duplication key, and errors."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.results: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self.complete = anyio.Event()
        self.arrivals: list[float] = []  # perf_counter() of each accepted delivery

    def ordered_results(self) -> list[dict[str, Any]]:
        return list(self.results.values())


def result_key(item: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a result the same result: its ``resultIndex`` when given, else its content.

    Results of one task use different seeds, so (seed, text, reasoning) tells results apart and a
    redelivered or re-polled result collapses onto the first copy.
    """
    if item.get("resultIndex") is not None:
        return ("index", item["resultIndex"])
    # Without an index, identical content is the same result delivered twice.
    return ("content", item.get("seed"), item.get("text"), json.dumps(item.get("reasoningContent")))


class WebhookReceiver:
    """A running receiver. Use as ``async with WebhookReceiver(...) as receiver:``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None) -> None:
        self.host = host
        self.port = port
        self._public_url = public_url
        self.secret = secrets.token_urlsafe(24)
        self.duplicates = 0  # deliveries dropped as duplicates
        self.rejected = 0  # POSTs refused for a wrong or missing secret
        self.unexpected = 0  # deliveries for tasks nobody waits for
        self._inboxes: dict[str, Inbox] = {}
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """The URL to put in ``webhookURL``, secret included."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        base = self._public_url or f"http://{host}:{self.port}{WEBHOOK_PATH}"
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}{urlencode({'secret': self.secret})}"

    def expect(self, task_uuid: str, number_results: int) -> Inbox:
        """Register interest in ``task_uuid`` before sending it (a fast answer must not be lost)."""
        inbox = self._inboxes.get(task_uuid)
        if inbox is None:
            inbox = self._inboxes[task_uuid] = Inbox(number_results)
        return inbox

    def forget(self, task_uuid: str) -> None:
        self._inboxes.pop(task_uuid, None)

    def _deliver(self, items: list[dict[str, Any]], arrived: float) -> None:
        """Runs in the harness's event loop (called from the receiver thread)."""
        for item in items:
            inbox = self._inboxes.get(str(item.get("taskUUID")))
            if inbox is None:
                self.unexpected += 1
                continue
            if item.get("errors") or item.get("error") or item.get("status") == "error":
                inbox.errors.append(item)
                inbox.arrivals.append(arrived)
                inbox.complete.set()
                continue
            key = result_key(item)
            if key in inbox.results:
                self.duplicates += 1
                continue
            inbox.results[key] = item
            inbox.arrivals.append(arrived)
            if len(inbox.results) >= inbox.expected:
                inbox.complete.set()

    async def _receive(self, request: Request) -> Response:
        arrived = time.perf_counter()
        if not hmac.compare_digest(request.query_params.get("secret", ""), self.secret):
            self.rejected += 1
            return JSONResponse({"error": "forbidden"}, status_code=403)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        items = _flatten(body)
        if items is None:
            return JSONResponse({"error": "expected a task object"}, status_code=400)
        try:
            anyio.from_thread.run_sync(self._deliver, items, arrived, token=self._token)
        except RuntimeError:
            # The harness's loop is gone (shutting down): let the sender retry later.
            return JSONResponse({"error": "shutting down"}, status_code=503)
        return JSONResponse({"received": len(items)})

    async def __aenter__(self) -> Self:
        self._token = anyio.lowlevel.current_token()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        app = Starlette(routes=[Route(WEBHOOK_PATH, self._receive, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the webhook receiver could not start on {self.host}:{self.port}")
            await anyio.sleep(0.01)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            # Joined from a worker thread: the receiver may be waiting on this loop to take a delivery.
            await anyio.to_thread.run_sync(self._thread.join, 10.0)
        if self._socket is not None:
            self._socket.close()
        self._inboxes.clear()


def _flatten(body: Any) -> list[dict[str, Any]] | None:
    """A delivery as task objects: a flat object, a list of them, or a ``{"data": [...]}`` envelope."""
    if isinstance(body, list):
        return [item for item in body if isinstance(item, dict)]
    if not isinstance(body, dict):
        return None
    if "data" in body or "errors" in body:
        items = [item for item in body.get("data") or [] if isinstance(item, dict)]
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                items.append({"taskUUID": error.get("taskUUID"), "errors": [error]})
        return items
    return [body]
