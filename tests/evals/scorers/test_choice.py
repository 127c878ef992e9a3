from __future__ import annotations

from typing import Any

import pytest

from evals.scorers.choice import extract_choice


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is (C).", "C"),
        ("Answer: b", "B"),
        ("B. Because the others are wrong", "B"),
        ("I think (D) fits best", "D"),
        ("Looking at A and C, a careful reading favours the answer is A", "A"),
        ("none of them", None),
        ("The answer is a tricky one. Answer: B", "B"),
        ("the answer is (c)", "C"),
    ],
)
def test_extract_choice(text: str, letter: str | None) -> None:
    assert extract_choice(text, "ABCD") == letter


def test_target_letter_index_and_choices_count(score: Any) -> None:
    assert score("choice", "Answer: C", target="C").passed is True
    assert score("choice", "Answer: C", target=2).passed is True  # 0-based index
    assert score("choice", "Answer: E", target="E", fields={"choices": list("abcde")}).passed is True
    wrong = score("choice", "Answer: A", target="B")
    assert wrong.passed is False and wrong.answer == "A"


def test_letter_outside_choices_is_not_extracted(score: Any) -> None:
    result = score("choice", "Answer: F", {"letters": "ABCD"}, target="A")
    assert result.passed is False


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A spider has 8 legs. (C)", "C"),  # "A" opening a sentence is the article
        ("A spider has 8 legs.", None),
        ("(A) is tempting but (B) is right", "B"),
        ("A is tempting but (B) is right", "B"),
        ("Answer: (B). (A) is wrong because ...", "B"),
        ("B. Because (A) is wrong", "B"),
        ("A is correct.", "A"),
        ("It must be A.", "A"),
    ],
)
def test_articles_and_the_last_parenthesised_letter(text: str, letter: str | None) -> None:
    assert extract_choice(text, "ABCD") == letter


def test_target_given_as_the_text_of_a_choice(score: Any) -> None:
    fields = {"choices": ["Lyon", "Paris", "Nice"]}
    assert score("choice", "Answer: B", target="Paris", fields=fields).passed is True
    wrong = score("choice", "Answer: A", target="paris", fields=fields)
    assert wrong.error is None and wrong.passed is False and "expected B" in wrong.explanation
