from __future__ import annotations

import pytest

from evals.scorers.think import strip_think


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain answer", "plain answer"),
        ("<think>reasoning</think>\nAnswer: 4", "Answer: 4"),
        ("<THINK>a</THINK>x<think>b</think>y", "xy"),
        ("Answer first <think>then cut off by maxTokens", "Answer first"),
        ("reasoning whose opening tag was in the prompt</think> 7", "7"),
        ("<think>only thinking, never answered", ""),
    ],
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text) == expected


def test_reasoning_field_is_never_the_scored_text(score: object) -> None:
    from .conftest import run_scorer

    result = run_scorer("includes", "no number here", target="42", reasoning="it is 42")
    assert result.passed is False


def test_indentation_of_a_code_continuation_survives() -> None:
    assert strip_think("    return 1\n") == "    return 1\n"
    assert strip_think("<think>plan</think>\n\n    return 1\n") == "    return 1"
