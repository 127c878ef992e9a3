"""Run the server in a background thread (tests, and suites whose provider is ``local``) or in-loop."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import uvicorn

from runners.server.app import ServerState, build_app
from runners.server.config import ServerConfig


class ServerHandle:
    """A running server: its URLs and its counters."""

    def __init__(self, host: str, port: int, state: ServerState) -> None:
        self.host = host
        self.port = port
        self._state = state

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Runware endpoint (``POST`` task arrays here)."""
        return f"{self.base_url}/v1"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (``/chat/completions`` and ``/models`` live under it)."""
        return f"{self.base_url}/v1"

    def stats(self) -> dict[str, Any]:
        """Requests, polls, paid tasks and paid results per taskUUID, faults injected by kind."""
        return self._state.store.stats()


def bind_socket(config: ServerConfig) -> socket.socket:
    """Bind before starting, so the ephemeral port is known and no other process can take it."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.listen(2048)  # connections made before uvicorn is up wait in the backlog instead of failing
    return sock


def _uvicorn(config: ServerConfig, log_level: str) -> tuple[uvicorn.Server, ServerState]:
    app = build_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False, timeout_graceful_shutdown=2)
    )
    return server, app.state.server


@contextmanager
def serve_in_background(
    config: ServerConfig | None = None, *, startup_timeout: float = 60.0, log_level: str = "warning"
) -> Iterator[ServerHandle]:
    """Start the server in a daemon thread; yield once it accepts connections; stop it on exit."""
    config = config or ServerConfig()
    sock = bind_socket(config)
    server, state = _uvicorn(config, log_level)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="evals-local-server", daemon=True)
    thread.start()
    try:
        deadline = threading.Event()
        for _ in range(int(startup_timeout / 0.01)):
            if server.started or not thread.is_alive():
                break
            deadline.wait(0.01)
        if not server.started:
            server.should_exit = True
            thread.join(5)
            raise RuntimeError(
                "the local server did not start"
                + (f": {failure[0]!r}" if failure else " (see the log above: did the engine load?)")
            )
        yield ServerHandle(sock.getsockname()[0], sock.getsockname()[1], state)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@asynccontextmanager
async def serve_async(
    config: ServerConfig | None = None, *, log_level: str = "warning"
) -> AsyncIterator[ServerHandle]:
    """Run the server as a task of the current event loop (asyncio); stop it on exit."""
    config = config or ServerConfig()
    sock = bind_socket(config)
    server, state = _uvicorn(config, log_level)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            while not server.started:
                if server.should_exit:
                    raise RuntimeError("the local server did not start")
                await anyio.sleep(0.01)
            try:
                yield ServerHandle(sock.getsockname()[0], sock.getsockname()[1], state)
            finally:
                server.should_exit = True
    finally:
        sock.close()
