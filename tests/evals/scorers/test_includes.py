from __future__ import annotations

from typing import Any


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
