"""Engines behind the local server: ``smollm2`` (a real small model) and ``sim`` (a seeded simulator)."""

from __future__ import annotations

from runners.server.config import ServerConfig
from runners.server.engines.base import Engine, GenerationOutput, GenerationRequest, TextSink


def make_engine(config: ServerConfig) -> Engine:
    """The engine named by ``config.engine``. SmolLM2 is imported only when asked for (it needs llama.cpp)."""
    if config.engine == "sim":
        from runners.server.engines.sim import SimEngine

        return SimEngine(config.sim_options)
    if config.engine == "smollm2":
        from runners.server.engines.smollm2 import SmolLM2Engine

        return SmolLM2Engine(n_threads=config.n_threads, n_ctx=config.n_ctx)
    raise ValueError(f"unknown engine {config.engine!r}")


__all__ = ["Engine", "GenerationOutput", "GenerationRequest", "TextSink", "make_engine"]
