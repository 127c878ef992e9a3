from __future__ import annotations

from typing import Any

import pytest

from evals.scorers.numeric import extract_number, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She has 3 apples, then 4 more, so 7.", "7"),
        ("Total: $1,234.50 spent", "$1,234.50"),
        ("#### 72", "72"),
        ("Step 1: 5 + 5 = 10\n#### 10\nExtra note 3", "10"),
        ("So the answer is 42, because 6 x 7.", "42"),
        ("Answer: -3", "-3"),
        ("\\boxed{3/4} was computed from 6/8", "3/4"),
        ("no numbers", None),
    ],
)
def test_extract_number(text: str, expected: str | None) -> None:
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    ("token", "value"), [("$1,234.50", 1234.5), ("−3", -3.0), ("3/4", 0.75), ("2e3", 2000.0), (".5", 0.5)]
)
def test_parse_number(token: str, value: float) -> None:
    assert parse_number(token) == value


def test_gsm_style_target_and_answer(score: Any) -> None:
    result = score("numeric", "Natalia sold 48 + 24 = 72 clips.\n#### 72", target="48/2 = 24 ... #### 72")
    assert result.passed is True and result.answer == "72"


def test_integer_target(score: Any) -> None:
    assert score("numeric", "The result is 1,000", target=1000).passed is True
    wrong = score("numeric", "The result is 999", target=1000)
    assert wrong.passed is False and "expected 1000" in wrong.explanation


def test_tolerances(score: Any) -> None:
    assert score("numeric", "about 3.14", {"tolerance": 0.01}, target=3.14159).passed is True
    assert score("numeric", "about 3.14", target=3.14159).passed is False
    assert score("numeric", "105", {"rel_tolerance": 0.05}, target=100).passed is True


def test_no_number_fails(score: Any) -> None:
    assert score("numeric", "I cannot say", target=3).passed is False


def test_custom_pattern(score: Any) -> None:
    params = {"pattern": r"RESULT=(\S+)"}
    assert score("numeric", "steps 1 2 3 RESULT=9 then 10", params, target=9).passed is True


def test_target_without_number_is_a_scorer_error(score: Any) -> None:
    result = score("numeric", "12", target="twelve")
    assert result.value is None and result.error


@pytest.mark.parametrize(
    "text",
    [
        "Answer: 40\nHmm, let me recheck.\nAnswer: 42",
        "The answer is 40? No wait. The answer is 42.",
        "#### 40 … #### 42",
        "\\boxed{40} is wrong, \\boxed{42} is right",
        "Answer: 42. I hope the answer is right.",  # a last marker without a number gives way
    ],
)
def test_the_last_answer_marker_wins(score: Any, text: str) -> None:
    result = score("numeric", text, target=42)
    assert result.passed is True, result.explanation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 12cm.", "12"),
        ("42nd", "42"),
        ("It is 12.", "12"),  # a full stop, not a decimal point
        ("Total: $1,234.50.", "$1,234.50"),
        ("1,2,3", "3"),
        ("The answer is 3.5kg", "3.5"),
    ],
)
def test_numbers_with_attached_units(text: str, expected: str) -> None:
    assert extract_number(text) == expected


def test_unit_suffix_scores(score: Any) -> None:
    assert score("numeric", "The answer is 12cm.", target=12).passed is True


def test_decimal_fractions_and_zero_denominators(score: Any) -> None:
    assert parse_number("1.5/2") == 0.75
    with pytest.raises(ValueError):
        parse_number("1/0")
    assert score("numeric", "Answer: 1.5/2", target=0.75).passed is True
    no_number = score("numeric", "1/0", target=1)
    assert no_number.error is None and no_number.passed is False
    assert "no number" in no_number.explanation
    assert extract_number("Answer: 1/0, so 5") == "5"


def test_a_huge_fraction_is_infinite_not_a_crash(score: Any) -> None:
    assert parse_number("1e400/2") == float("inf")
    result = score("numeric", "Answer: 1e400/2", target=1)
    assert result.error is None and result.passed is False
