from __future__ import annotations

from typing import Any

import pytest

from evals.errors import ConfigError
from evals.records import Usage
from evals.scorers import prepare_scorer
from evals.scorers.model_graded import DEFAULT_RUBRIC, ModelGraded, render

from .conftest import make_input


class FakeJudge:
    """Answers with a fixed text and records what it was asked."""

    model = "fake-judge"

    def __init__(self, reply: str, cost: float | None = 0.001) -> None:
        self.reply = reply
        self.cost = cost
        self.calls: list[tuple[list[dict[str, str]], dict[str, Any]]] = []

    def complete(self, messages: list[dict[str, str]], settings: dict[str, Any]) -> Any:
        self.calls.append((messages, settings))
        return self.reply, Usage(prompt_tokens=50, completion_tokens=5), self.cost


class AsyncJudge(FakeJudge):
    async def complete(self, messages: list[dict[str, str]], settings: dict[str, Any]) -> Any:  # type: ignore[override]
        return super().complete(messages, settings)


class BrokenJudge:
    model = "broken"

    def complete(self, messages: list[dict[str, str]], settings: dict[str, Any]) -> Any:
        raise ConnectionError("judge unreachable")


def test_render_keeps_other_braces() -> None:
    assert render("{input} -> {output} {json: 1}", {"input": "a", "output": "b"}) == "a -> b {json: 1}"


def test_grade_parsed_and_call_recorded() -> None:
    judge = FakeJudge("Correct and complete.\nGRADE: C")
    scorer = prepare_scorer("model_graded", {"criteria": "Names the capital."}, judge=judge)
    output = make_input(
        "Paris", target="Paris", request={"messages": [{"role": "user", "content": "Capital of France?"}]}
    )
    result = scorer.score(output)
    assert result.value == 1.0 and result.passed is True
    assert "GRADE: C" in result.explanation
    (call,) = result.judge_calls
    assert call.model == "fake-judge" and call.cost == 0.001 and call.prompt_tokens == 50
    messages, settings = judge.calls[0]
    prompt = messages[0]["content"]
    assert "Capital of France?" in prompt and "Names the capital." in prompt and "Paris" in prompt
    assert settings["temperature"] == 0.0


@pytest.mark.parametrize(("reply", "value", "passed"), [("GRADE: P", 0.5, False), ("grade: i", 0.0, False)])
def test_letter_grades(reply: str, value: float, passed: bool) -> None:
    result = prepare_scorer("model_graded", judge=FakeJudge(reply)).score(make_input("x", target="y"))
    assert (result.value, result.passed) == (value, passed)


def test_numeric_scale_and_threshold_with_async_judge() -> None:
    params = {"scale_max": 10, "pass_threshold": 0.7, "grade_pattern": r"SCORE:\s*(\d+)"}
    scorer = prepare_scorer("model_graded", params, judge=AsyncJudge("ok\nSCORE: 8"))
    result = scorer.score(make_input("x"))
    assert result.value == pytest.approx(0.8) and result.passed is True


def test_no_grade_is_a_scorer_error_with_the_call_kept() -> None:
    result = prepare_scorer("model_graded", judge=FakeJudge("I refuse to grade.")).score(make_input("x"))
    assert result.value is None and result.error == "the judge gave no grade"
    assert len(result.judge_calls) == 1


def test_failing_judge_is_a_scorer_error() -> None:
    result = prepare_scorer("model_graded", judge=BrokenJudge()).score(make_input("x"))
    assert result.value is None and "judge unreachable" in (result.error or "")
    assert result.judge_calls[0].error == "judge unreachable"


def test_no_judge_is_a_scorer_error() -> None:
    result = prepare_scorer("model_graded").score(make_input("x"))
    assert result.value is None and "no judge" in (result.error or "")


def test_bad_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        prepare_scorer("model_graded", {"grade_pattern": "GRADE: [A-Z]"})


def test_default_rubric_has_every_placeholder() -> None:
    for key in ("{input}", "{output}", "{target}", "{criteria}"):
        assert key in DEFAULT_RUBRIC
    assert ModelGraded(judge=None).parse_grade("GRADE: **C**") == 1.0
