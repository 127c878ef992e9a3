"""The ``sim`` engine: fast, seeded answers derived from the prompt, with configurable latency.

Known-answer convention: when the last user message contains ``[[answer:XYZ]]`` the sim answers
exactly ``XYZ`` with probability ``SimOptions.correct_probability(settings)`` (falling with
temperature), else a wrong answer that does not contain ``XYZ``. The ``sim`` provider adds the marker
from each sample's target (``runners.providers.local.with_answer_marker``; off with ``oracle: false``);
expansion never does, so no other server is told the answer.
Without a marker the answer is filler text. Token counts are word counts.
"""

from __future__ import annotations

import hashlib
import random
import re

import anyio
import anyio.lowlevel

from runners.server.config import SimOptions
from runners.server.engines.base import GenerationOutput, GenerationRequest, TextSink

ANSWER_MARKER = re.compile(r"\[\[answer:(.*?)\]\]", re.DOTALL)

_WORDS = tuple(
    [
        "alpha",
        "bravo",
        "cobalt",
        "delta",
        "ember",
        "fjord",
        "garnet",
        "harbor",
        "indigo",
        "jasper",
        "kelp",
        "lumen",
        "marble",
        "nectar",
        "onyx",
        "pebble",
        "quartz",
        "raven",
        "sierra",
        "tundra",
        "umber",
        "velvet",
        "willow",
        "xenon",
        "yarrow",
        "zephyr",
    ]
)
_WRONG = ("banana", "purple", "seventeen", "nowhere", "maybe", "zzz")


def _rng(*parts: object) -> random.Random:
    """A private generator seeded by a stable hash of ``parts`` (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def wrong_answer(target: str, rng: random.Random) -> str:
    """A plausible wrong answer: another number for a numeric target, else a word unrelated to it."""
    try:
        number = int(target.strip())
    except ValueError:
        number = None
    if number is not None:
        for _ in range(50):
            candidate = str(number + rng.choice([-1, 1]) * rng.randint(1, 97))
            if target.strip() not in candidate:
                return candidate
    for word in rng.sample(_WRONG, len(_WRONG)):
        if target.strip().lower() not in word and word not in target.lower():
            return word
    return "-"


class SimEngine:
    """Deterministic for a given seed: the same request and seed give the same text and timing draws."""

    name = "sim"

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def plan(self, request: GenerationRequest) -> tuple[list[str], str, int]:
        """The pieces of text to emit, the finish reason and the prompt token count."""
        last_user = request.messages[-1]["content"]
        prompt_text = (request.system_prompt or "") + "\n" + "\n".join(m["content"] for m in request.messages)
        prompt_tokens = max(1, len(prompt_text.split()))
        rng = _rng("answer", self.options.seed, request.seed, prompt_text)
        marker = ANSWER_MARKER.search(last_user)
        if marker is not None:
            target = marker.group(1)
            correct = rng.random() < self.options.correct_probability(dict(request.settings))
            words = (target if correct else wrong_answer(target, rng)).split(" ")
        else:
            words = [rng.choice(_WORDS) for _ in range(self.options.output_tokens)]
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]

        finish = "stop"
        max_tokens = request.settings.get("maxTokens")
        if isinstance(max_tokens, int) and len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        stops = request.settings.get("stopSequences") or []
        text = "".join(pieces)
        cut = min((text.find(s) for s in stops if s and s in text), default=-1)
        if cut >= 0:
            # Re-split the truncated text so streamed pieces add up to exactly the returned text.
            kept, total = [], 0
            for piece in pieces:
                if total + len(piece) >= cut:
                    if cut > total:
                        kept.append(piece[: cut - total])
                    break
                kept.append(piece)
                total += len(piece)
            pieces, finish = kept, "stop"
        return pieces, finish, prompt_tokens

    async def generate(self, request: GenerationRequest, on_text: TextSink | None = None) -> GenerationOutput:
        pieces, finish, prompt_tokens = self.plan(request)
        timing = _rng("latency", self.options.seed, request.seed, request.task_uuid, request.result_index)
        opts = self.options
        await anyio.lowlevel.checkpoint()  # even at zero latency, let cancellation and other tasks in
        if not opts.zero_latency:
            await anyio.sleep(max(0.0, opts.ttft_mean + timing.uniform(-opts.ttft_jitter, opts.ttft_jitter)))
        for i, piece in enumerate(pieces):
            if i and not opts.zero_latency:
                await anyio.sleep(timing.expovariate(opts.tokens_per_s))
            if on_text is not None and piece:
                on_text(piece)
        return GenerationOutput(
            text="".join(pieces),
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(pieces),
        )
