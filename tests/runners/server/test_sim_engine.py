"""The sim engine on its own: answers, limits and stop sequences, without HTTP."""

from __future__ import annotations

import random

import pytest

from runners.server import SimOptions
from runners.server.engines.base import GenerationRequest
from runners.server.engines.sim import SimEngine, wrong_answer


def request(content: str = "hello there", seed: int = 1, **settings: object) -> GenerationRequest:
    return GenerationRequest(({"role": "user", "content": content},), None, settings, seed)


def test_max_tokens_caps_the_answer_with_finish_length() -> None:
    pieces, finish, _ = SimEngine(SimOptions(output_tokens=30)).plan(request(maxTokens=5))
    assert len(pieces) == 5 and finish == "length"


def test_stop_sequence_cuts_the_text_and_the_pieces_add_up() -> None:
    engine = SimEngine(SimOptions(output_tokens=30))
    full = "".join(engine.plan(request())[0])
    stop = full.split(" ")[3][1:3]  # two letters from inside the fourth word
    pieces, finish, _ = engine.plan(request(stopSequences=[stop]))
    assert finish == "stop" and "".join(pieces) == full[: full.index(stop)]


@pytest.mark.parametrize("target", ["42", "4", "Paris", "yes", "-7"])
def test_wrong_answers_never_contain_the_target(target: str) -> None:
    rng = random.Random(0)
    for _ in range(200):
        assert target not in wrong_answer(target, rng)


def test_marker_answer_is_exact_and_seeded() -> None:
    engine = SimEngine(SimOptions(base_accuracy=1.0, temperature_slope=0.0, top_p_slope=0.0))
    pieces, finish, _ = engine.plan(request("Capital? [[answer:New York]]", temperature=1.0))
    assert "".join(pieces) == "New York" and finish == "stop"
    never = SimEngine(SimOptions(base_accuracy=0.0, min_accuracy=0.0))
    assert "".join(never.plan(request("Capital? [[answer:New York]]"))[0]) != "New York"


@pytest.mark.anyio
async def test_generate_streams_the_planned_pieces_and_counts_them() -> None:
    engine = SimEngine(SimOptions(zero_latency=True, output_tokens=7))
    got: list[str] = []
    out = await engine.generate(request(seed=9), got.append)
    assert "".join(got) == out.text and out.completion_tokens == 7 == len(got)
    assert out == await engine.generate(request(seed=9))
    assert out.text != (await engine.generate(request(seed=10))).text
