"""Several tasks in one POST: the first caller of a batch waits briefly for company, then sends.

There is no background task: the first ``submit`` of an empty batch becomes its leader, waits up to
``linger`` seconds (or until the batch is full), posts every task gathered meanwhile and hands the
shared answer to every member. Each member then picks its own items out of the answer by
``taskUUID``. If the leader is cancelled, the members get ``on_abandon()`` instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")


class _Batch(Generic[T]):
    __slots__ = ("done", "full", "items", "result")

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.full = anyio.Event()
        self.done = anyio.Event()
        self.result: T | None = None


class Batcher(Generic[T]):
    """Groups ``submit``ted task objects into POSTs of at most ``max_size`` tasks."""

    def __init__(
        self,
        post: Callable[[list[dict[str, Any]]], Awaitable[T]],
        *,
        max_size: int,
        linger: float,
        on_abandon: Callable[[], T],
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._post = post
        self._max_size = max_size
        self._linger = linger
        self._on_abandon = on_abandon
        self._open: _Batch[T] | None = None
        self.posts = 0  # POSTs made, for tests and notes

    async def submit(self, item: dict[str, Any]) -> T:
        """Send ``item`` in a batch and return the answer of the POST that carried it."""
        batch = self._open
        leader = batch is None
        if batch is None:
            batch = self._open = _Batch()
        batch.items.append(item)
        if len(batch.items) >= self._max_size:
            self._open = None  # closed: later submits start a new batch
            batch.full.set()
        if not leader:
            await batch.done.wait()
            assert batch.result is not None
            return batch.result
        try:
            if self._max_size > 1:
                with anyio.move_on_after(self._linger):
                    await batch.full.wait()
            if self._open is batch:
                self._open = None
            self.posts += 1
            batch.result = await self._post(batch.items)
            return batch.result
        except BaseException:
            if self._open is batch:
                self._open = None
            if batch.result is None:
                batch.result = self._on_abandon()
            raise
        finally:
            batch.done.set()
