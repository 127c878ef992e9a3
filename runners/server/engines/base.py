"""What the server asks of an engine: one result for one seed, text handed out as it is produced."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

TextSink = Callable[[str], None]
"""Receives each new piece of text, in the event loop's thread; must not block."""


@dataclass(frozen=True)
class GenerationRequest:
    """One result to generate: the conversation, the full settings (defaults applied) and its seed."""

    messages: tuple[dict[str, str], ...]  # user/assistant turns, the last one a user turn
    system_prompt: str | None
    settings: Mapping[str, Any]
    seed: int
    task_uuid: str = ""
    result_index: int = 0


@dataclass(frozen=True)
class GenerationOutput:
    """What one generation produced. Token counts are the engine's own (real for llama.cpp)."""

    text: str
    finish_reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int
    thinking_tokens: int = 0


class Engine(Protocol):
    """An engine behind the server. ``generate`` may be called concurrently; the engine serialises."""

    name: str

    async def start(self) -> None:
        """Load what the engine needs (called once, in the server's lifespan)."""
        ...

    async def aclose(self) -> None:
        """Release resources (called once at shutdown)."""
        ...

    async def generate(self, request: GenerationRequest, on_text: TextSink | None = None) -> GenerationOutput:
        """Generate one result; call ``on_text`` with each new piece of text as it is produced."""
        ...
