"""A suite's target.threads reaches the embedded smollm2 engine's configuration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import runners.server
from evals.suite import Target
from runners.providers.local import LocalProvider

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("threads", "expected"), [(None, 1), (2, 2)])
async def test_target_threads_configure_the_local_engine(
    monkeypatch: pytest.MonkeyPatch, threads: int | None, expected: int
) -> None:
    seen: list[Any] = []

    @contextlib.contextmanager
    def fake_server(config: Any) -> Iterator[Any]:
        # Only the configuration matters here; no model is loaded and no request is sent.
        seen.append(config)
        yield SimpleNamespace(url="http://127.0.0.1:9/v1")

    monkeypatch.setattr(runners.server, "serve_in_background", fake_server)
    async with LocalProvider(Target(provider="local", threads=threads)):
        pass
    assert [c.n_threads for c in seen] == [expected]
    assert seen[0].engine == "smollm2"
