"""A set of small httpx clients, each request on the least busy one, so CPU per request stays flat as concurrency grows.

httpx's connection pool scans its connections on every request, so one client with hundreds of
connections spends more CPU per request the bigger it gets (httpx issue 3215). Several clients with
a few keep-alive connections each keep every scan short; ``benchmarks/bench_client.py`` measures the
difference against the sim server.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import httpx

from evals.suite import Timeouts

CONNECTIONS_PER_CLIENT = 8
"""Keep-alive connections per client; small enough that httpcore's per-request scans stay cheap."""

MAX_CLIENTS = 64
KEEPALIVE_EXPIRY = 4.0
"""Seconds an idle keep-alive connection is kept."""


def clients_for(concurrency: int, per_client: int = CONNECTIONS_PER_CLIENT) -> int:
    """How many clients serve ``concurrency`` requests in flight with ``per_client`` connections each."""
    return max(1, min(MAX_CLIENTS, math.ceil(concurrency / per_client)))


def http_timeout(timeouts: Timeouts) -> httpx.Timeout:
    """httpx timeouts from a suite's: ``read`` bounds the silence between bytes, not the whole answer.

    Waiting for a free pooled connection is bounded by the task deadline, because with a closed-loop
    runner the wait is the runner's own queueing, not a server fault.
    """
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.task
    )


class ClientPool:
    """``clients`` httpx.AsyncClient instances with ``connections`` keep-alive connections each."""

    def __init__(
        self,
        *,
        clients: int = 1,
        connections: int = CONNECTIONS_PER_CLIENT,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if clients < 1 or connections < 1:
            raise ValueError("a client pool needs at least one client and one connection")
        # Idle connections are dropped a little before common servers drop them (uvicorn and Node
        # close after 5 s), so a request never races the server's close of a stale connection.
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self._clients = [
            httpx.AsyncClient(
                timeout=timeout or httpx.Timeout(60.0),
                limits=limits,
                headers=dict(headers or {}),
                transport=transport,
                # The harness talks to one API host; environment proxies would only add surprises
                # (and a loopback test must never go through a proxy).
                trust_env=False,
            )
            for _ in range(clients)
        ]
        self._busy = [0] * clients

    @property
    def size(self) -> int:
        return len(self._clients)

    @property
    def in_flight(self) -> list[int]:
        """Requests in flight per client."""
        return list(self._busy)

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The least busy client for the duration of one request.

        Least busy rather than round-robin: with long streams next to short answers, round-robin can
        queue a request behind one client's busy connections while another client sits idle. Ties go
        to the first client, so light loads reuse a few warm keep-alive connections.
        """
        busy = self._busy
        index = busy.index(min(busy))
        busy[index] += 1
        try:
            yield self._clients[index]
        finally:
            busy[index] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
