from __future__ import annotations

from typing import Any

import pytest


def test_substring_passes(score: Any) -> None:
    assert score("includes", "The capital is Paris.", target="paris").passed is True


def test_absent_fails_and_says_what_is_missing(score: Any) -> None:
    result = score("includes", "The capital is Lyon.", target="Paris")
    assert result.passed is False and "Paris" in result.explanation


def test_any_or_all_of_a_list(score: Any) -> None:
    assert score("includes", "red and blue", target=["green", "blue"]).passed is True
    assert score("includes", "red and blue", {"require_all": True}, target=["green", "blue"]).passed is False
    assert score("includes", "green and blue", {"require_all": True}, target=["green", "blue"]).passed is True


def test_case_sensitive(score: Any) -> None:
    assert score("includes", "paris", {"case_sensitive": True}, target="Paris").passed is False


def test_substring_by_default(score: Any) -> None:
    assert score("includes", "It's 15.", target=["5", "five"]).passed is True


@pytest.mark.parametrize(
    ("text", "target", "passed"),
    [
        ("It's 15.", ["5", "five"], False),
        ("It is 5.", ["5", "five"], True),
        ("Five.", ["5", "five"], True),
        ("18", "8", False),
        ("About 1.5 of them", "5", False),
        ("5,000 people", "5", False),
        ("Scold.", "cold", False),
        ("Cold, of course.", "cold", True),
        ("It costs $5.", "$5", True),
    ],
)
def test_whole_words_only(score: Any, text: str, target: Any, passed: bool) -> None:
    assert score("includes", text, {"word": True}, target=target).passed is passed
