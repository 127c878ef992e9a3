"""Providers ``local`` and ``sim``: the Runware client pointed at the embedded server, in-process.

The server runs on an ephemeral loopback port for the life of the provider, so a suite runs with no
API key and no network. ``local`` serves the small bundled model (engine ``smollm2``); ``sim`` serves
the simulator with the suite's ``target.sim`` options (latency, faults, capacity).
"""

from __future__ import annotations

import contextlib
import dataclasses
from types import TracebackType
from typing import Any, Self

import anyio.to_thread

from evals.records import Attempt, Task
from evals.suite import Target
from runners.providers.runware import RunwareProvider


class LocalProvider:
    """Starts the embedded server on enter, stops it on exit, and speaks Runware's protocol to it."""

    def __init__(self, target: Target, *, name: str | None = None) -> None:
        self.target = target
        self.name = name or target.provider
        self.engine = target.engine or ("sim" if target.provider == "sim" else "smollm2")
        self.endpoint = "embedded"  # replaced by the server's URL once it runs
        self._stack: contextlib.ExitStack | None = None
        self._client: RunwareProvider | None = None
        self.server: Any = None  # the server handle (url, stats()) while running

    def __repr__(self) -> str:
        return f"LocalProvider(name={self.name!r}, engine={self.engine!r}, endpoint={self.endpoint!r})"

    async def __aenter__(self) -> Self:
        # Imported here: the server pulls in its engines, which a Runware-only run never needs.
        from runners.server import ServerConfig, serve_in_background

        config = ServerConfig(
            engine=self.engine,
            model_alias=self.target.model,
            sim=dict(self.target.sim) if self.engine == "sim" else None,
            # The harness's own server must not refuse the harness's own concurrency with 429s;
            # overload is simulated on purpose with sim.capacity instead.
            queue_size=max(ServerConfig.queue_size, self.target.concurrency),
            n_threads=self.target.threads or ServerConfig.n_threads,
        )
        stack = contextlib.ExitStack()
        # Starting the server (and loading a model) blocks: do it off the event loop.
        self.server = await anyio.to_thread.run_sync(stack.enter_context, serve_in_background(config))
        self._stack = stack
        try:
            self.endpoint = str(self.server.url)
            self._client = RunwareProvider.from_target(
                self.target, api_key=None, endpoint=self.endpoint, name=self.name
            )
            await self._client.__aenter__()
        except BaseException:
            await anyio.to_thread.run_sync(stack.close)
            self._stack = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
        finally:
            self._client = None
            if self._stack is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._stack.close)
                self._stack = None

    def _require(self) -> RunwareProvider:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not started: use it as 'async with'")
        return self._client

    async def send(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Send to the embedded server (see ``RunwareProvider.send``)."""
        if self.engine == "sim" and self.target.sim.get("oracle", True):
            task = with_answer_marker(task)
        return await self._require().send(task, task_uuid, attempt)

    async def fetch(self, task: Task, task_uuid: str, attempt: int) -> Attempt:
        """Fetch from the embedded server (see ``RunwareProvider.fetch``)."""
        return await self._require().fetch(task, task_uuid, attempt)


def with_answer_marker(task: Task) -> Task:
    """Tell the simulator the sample's known answer, so its accuracy can respond to the settings.

    The sim engine answers correctly with a probability that falls with temperature when the last user
    message carries ``[[answer:TARGET]]``. Only the simulator ever sees the marker: it is added here,
    at the sim provider, never by expansion, so Runware and other servers are not told the answer.
    ``oracle: false`` in ``target.sim`` turns this off.
    """
    target = task.sample.target
    if isinstance(target, list | tuple):
        target = target[0] if target else None
    if target is None or isinstance(target, dict):
        return task
    messages = [dict(m) for m in task.request.get("messages", [])]
    if not messages or messages[-1].get("role") != "user" or "[[answer:" in str(messages[-1].get("content")):
        return task
    messages[-1]["content"] = f"{messages[-1]['content']}\n[[answer:{target}]]"
    return dataclasses.replace(task, request={**task.request, "messages": messages})
