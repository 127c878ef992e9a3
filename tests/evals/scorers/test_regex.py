from __future__ import annotations

from typing import Any


def test_extract_then_compare(score: Any) -> None:
    params = {"pattern": r"Answer:\s*(\w+)"}
    assert score("regex", "Thinking... Answer: Blue", params, target="blue").passed is True
    wrong = score("regex", "Answer: red", params, target="blue")
    assert wrong.passed is False and "red" in wrong.explanation


def test_last_match_by_default_first_on_request(score: Any) -> None:
    text = "Answer: one. Corrected Answer: two"
    assert score("regex", text, {"pattern": r"Answer: (\w+)"}, target="two").passed is True
    assert score("regex", text, {"pattern": r"Answer: (\w+)", "which": "first"}, target="one").passed is True


def test_no_match_fails(score: Any) -> None:
    result = score("regex", "nothing", {"pattern": r"Answer: (\w+)"}, target="x")
    assert result.passed is False and "no match" in result.explanation


def test_format_check_without_compare(score: Any) -> None:
    params = {"pattern": r"^\d{4}-\d{2}-\d{2}$", "compare": False, "flags": "m"}
    assert score("regex", "2024-01-31", params).passed is True
    assert score("regex", "31/01/2024", params).passed is False


def test_named_group_and_flags(score: Any) -> None:
    params = {"pattern": r"final:\s*(?P<ans>\d+)", "group": "ans", "flags": "i"}
    assert score("regex", "FINAL: 12", params, target="12").passed is True


def test_case_insensitive_by_default_applies_to_the_pattern(score: Any) -> None:
    params = {"pattern": r"Answer:\s*(\w+)"}
    assert score("regex", "ANSWER: Blue", params, target="blue").passed is True
    strict = {**params, "case_sensitive": True}
    assert score("regex", "ANSWER: Blue", strict, target="Blue").passed is False
    assert score("regex", "Answer: Blue", strict, target="Blue").passed is True
